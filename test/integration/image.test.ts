import { execFile, spawn } from 'node:child_process';
import { builtinModules } from 'node:module';
import { chmodSync, chownSync, cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, posix } from 'node:path';
import { promisify } from 'node:util';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AGENT_UID } from '../../src/contracts/names.js';
import { VERSION } from '../../src/version.js';
import { startControlPlane, type ControlPlane } from '../support/control-plane.js';
import { freePort, waitFor } from '../support/ports.js';
import { contextFiles, execForm, parseCopy, parseDockerfile, type Stage } from '../install/docker-context.js';

// The image, built without a container engine (none runs here): each stage of the Dockerfile is
// played in a folder of its own: COPY from the build context (.dockerignore applied) or from an
// earlier stage, WORKDIR, and the RUN steps that matter (`npm ci` offline from the local npm cache,
// `tsc`). The final stage's /app is then made read-only and run as uid 65532 with only a TMPDIR
// writable, as the chart's pods run it: `graft version`, every subcommand's --help, a merge, and
// the operator against a real API server with `graft check` (the helm test) against it.
// Not checked (no engine): the base image itself, its layers, a real container runtime; the final
// stage's RUN (removing npm from the base, linking /usr/local/bin/graft) acts on the base image.
const exec = promisify(execFile);
const root = join(import.meta.dirname, '..', '..');
const asRoot = process.getuid?.() === 0;
const ids = asRoot ? { uid: AGENT_UID, gid: AGENT_UID } : {};

type Fs = { dir: string; workdir: string };

function hostPath(fs: Fs, p: string): string {
  return join(fs.dir, posix.resolve(fs.workdir, p));
}

async function playStage(stage: Stage, stages: Map<string, Fs>, dir: string, context: string[]): Promise<Fs> {
  const fs: Fs = { dir, workdir: '/' };
  mkdirSync(dir, { recursive: true });
  for (const ins of stage.instructions) {
    if (ins.op === 'WORKDIR') {
      fs.workdir = posix.resolve(fs.workdir, ins.args);
      mkdirSync(hostPath(fs, '.'), { recursive: true });
    } else if (ins.op === 'COPY') {
      const c = parseCopy(ins);
      const from = c.from ? stages.get(c.from) : undefined;
      if (c.from && !from) throw new Error(`COPY --from=${c.from}: no such stage`);
      for (const src of c.sources) {
        const dest = hostPath(fs, c.dest);
        const toDir = c.dest.endsWith('/') || c.sources.length > 1;
        if (from) {
          const s = join(from.dir, posix.resolve(from.workdir, src));
          cpSync(s, toDir ? join(dest, posix.basename(src)) : dest, { recursive: true, verbatimSymlinks: true });
        } else {
          const rel = src.replace(/^\.\//, '').replace(/\/$/, '');
          const files = context.filter((f) => f === rel || f.startsWith(`${rel}/`));
          if (!files.length) throw new Error(`COPY ${src} (Dockerfile line ${ins.line}): not in the build context`);
          for (const f of files) {
            const target = f === rel ? (toDir ? join(dest, posix.basename(f)) : dest) : join(dest, f.slice(rel.length + 1));
            mkdirSync(dirname(target), { recursive: true });
            cpSync(join(root, f), target);
          }
        }
      }
    } else if (ins.op === 'RUN') {
      const cwd = hostPath(fs, '.');
      if (/^npm ci\b/.test(ins.args)) {
        // As written, but offline: from the npm cache this machine already holds.
        const args = ins.args.split(/\s+/).slice(1);
        await exec('npm', [...args, '--offline', '--loglevel=error'], { cwd, maxBuffer: 16 << 20 });
      } else if (/^node_modules\/\.bin\/tsc\b/.test(ins.args)) {
        const [cmd, ...args] = ins.args.split(/\s+/);
        await exec(join(cwd, cmd!), args, { cwd, maxBuffer: 16 << 20 }).catch((err: { stdout?: string }) => {
          throw new Error(`tsc failed in the build stage:\n${err.stdout ?? ''}`);
        });
      } else if (!/^rm -rf \/usr\/local\/lib\/node_modules\b/.test(ins.args)) {
        // The one other RUN acts on the base image's own files (npm removed, graft linked onto PATH).
        throw new Error(`Dockerfile line ${ins.line}: RUN ${ins.args} is not simulated here; teach test/integration/image.test.ts what it does`);
      }
    }
  }
  return fs;
}

function run(app: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs = 60_000): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--enable-source-maps', join(app, 'bin', 'graft'), ...args], { cwd: '/', env, ...ids, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => { out += b; });
    child.stderr.on('data', (b: Buffer) => { out += b; });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (code) => { clearTimeout(timer); resolve({ code, out }); });
  });
}

/** Every path under dir with its size and mtime: to show a run wrote nothing there. */
function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      const s = lstatSync(p);
      out.set(p, `${s.size}:${s.mtimeMs}:${s.mode}`);
      if (e.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out;
}

function makeReadOnly(dir: string): void {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isSymbolicLink()) continue;
    if (e.isDirectory()) makeReadOnly(p);
    chmodSync(p, statSync(p).mode & ~0o222);
  }
  chmodSync(dir, statSync(dir).mode & ~0o222);
}

/** Bare module specifiers the compiled JavaScript under dir imports (static and dynamic), read from its syntax tree. */
function importedPackages(dir: string): Map<string, string> {
  const found = new Map<string, string>();
  const note = (spec: string, file: string) => {
    if (spec.startsWith('.') || spec.startsWith('/')) return;
    const pkg = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!;
    if (!found.has(pkg)) found.set(pkg, file);
  };
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) { walk(p); continue; }
      if (!e.name.endsWith('.js')) continue;
      const sf = ts.createSourceFile(p, readFileSync(p, 'utf8'), ts.ScriptTarget.ES2022, false, ts.ScriptKind.JS);
      const visit = (n: ts.Node): void => {
        if ((ts.isImportDeclaration(n) || ts.isExportDeclaration(n)) && n.moduleSpecifier && ts.isStringLiteral(n.moduleSpecifier)) note(n.moduleSpecifier.text, p);
        if (ts.isCallExpression(n) && n.expression.kind === ts.SyntaxKind.ImportKeyword) {
          const arg = n.arguments[0];
          // A computed specifier cannot be checked statically: name it so it gets a look.
          if (arg && ts.isStringLiteralLike(arg)) note(arg.text, p);
          else throw new Error(`${p}: import() of a computed specifier; check by hand that it resolves in the image`);
        }
        ts.forEachChild(n, visit);
      };
      visit(sf);
    }
  };
  walk(dir);
  return found;
}

describe('the image, built stage by stage without an engine', () => {
  let tmp: string;
  let app: string;
  let env: NodeJS.ProcessEnv;
  let writable: string;
  let before: Map<string, string>;
  let cp: ControlPlane | undefined;

  beforeAll(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'graft-image-'));
    chmodSync(tmp, 0o755);
    const { stages } = parseDockerfile(readFileSync(join(root, 'Dockerfile'), 'utf8'));
    const context = contextFiles(root);
    const played = new Map<string, Fs>();
    let final: Fs | undefined;
    for (const [i, stage] of stages.entries()) {
      const fs = await playStage(stage, played, join(tmp, stage.name ?? `stage${i}`), context);
      if (stage.name) played.set(stage.name, fs);
      final = fs;
    }
    const entry = execForm(stages.at(-1)!, 'ENTRYPOINT')!;
    app = join(final!.dir, dirname(dirname(entry.at(-1)!)));
    before = snapshot(app);
    makeReadOnly(app);
    // The pod's emptyDir at /tmp: the one writable place.
    writable = join(tmp, 'writable');
    mkdirSync(writable, { mode: 0o755 });
    if (asRoot) chownSync(writable, AGENT_UID, AGENT_UID);
    env = { PATH: '/usr/bin:/bin', NODE_ENV: 'production', HOME: writable, TMPDIR: writable, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' };
  }, 240_000);

  afterAll(async () => {
    await cp?.stop();
    if (tmp) {
      for (const [p] of snapshot(tmp)) { try { if (!lstatSync(p).isSymbolicLink()) chmodSync(p, 0o755); } catch { /* gone */ } }
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('ships no development packages, and every package the compiled code imports is a production dependency', () => {
    const pkg = JSON.parse(readFileSync(join(app, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    // Nothing the lockfile marks dev-only (tsx, vitest, typescript and what only they need).
    const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> };
    const devOnly = Object.entries(lock.packages).filter(([p, e]) => p && e.dev).map(([p]) => p);
    expect(devOnly).toEqual(expect.arrayContaining(['node_modules/tsx', 'node_modules/vitest', 'node_modules/typescript']));
    for (const p of devOnly) expect(existsSync(join(app, p)), `${p} is dev-only`).toBe(false);
    const builtins = new Set(builtinModules);
    const imported = importedPackages(join(app, 'dist'));
    expect(imported.size).toBeGreaterThan(3);
    for (const [name, file] of imported) {
      if (name.startsWith('node:') || builtins.has(name)) continue;
      expect(Object.keys(pkg.dependencies), `${file} imports ${name}`).toContain(name);
      expect(existsSync(join(app, 'node_modules', name, 'package.json')), `${name} is not installed by npm ci --omit=dev`).toBe(true);
    }
    expect(existsSync(join(app, 'dist', 'cli', 'main.js'))).toBe(true);
    expect(existsSync(join(app, 'src'))).toBe(false);
  });

  it(`runs as uid ${AGENT_UID} from a read-only /app: version and every subcommand's --help`, async () => {
    const v = await run(app, ['version'], env);
    expect(v, v.out).toMatchObject({ code: 0 });
    expect(v.out).toContain(`graft ${VERSION} `);
    const help = await run(app, ['--help'], env);
    for (const c of ['operator', 'agent', 'merge', 'check']) expect(help.out).toMatch(new RegExp(`^  ${c} `, 'm'));
    for (const c of [['agent', '--help'], ['operator', '--help'], ['merge', '--help'], ['check', '--help']]) {
      const r = await run(app, c, env);
      expect(r.code, `graft ${c.join(' ')}: ${r.out}`).toBe(0);
      expect(r.out).toMatch(/^usage: graft /m);
    }
  });

  it('merges two adapters with its worker threads (dist/merge/worker.js) and writes only where told', async () => {
    const work = join(writable, 'merge');
    mkdirSync(work);
    cpSync(join(root, 'test', 'fixtures', 'peft', 'gpt2-causal-tigrinya'), join(work, 'a'), { recursive: true });
    cpSync(join(root, 'test', 'fixtures', 'peft', 'gpt2-causal-tigrinya'), join(work, 'b'), { recursive: true });
    if (asRoot) for (const [p] of snapshot(work)) chownSync(p, AGENT_UID, AGENT_UID);
    if (asRoot) chownSync(work, AGENT_UID, AGENT_UID);
    const r = await run(app, ['merge', '--method', 'svd', '--rank', '4', '--workers', '2', '--out', join(work, 'out'), join(work, 'a'), join(work, 'b')], env, 120_000);
    expect(r.code, r.out).toBe(0);
    expect(existsSync(join(work, 'out', 'adapter_model.safetensors'))).toBe(true);
    expect(JSON.parse(readFileSync(join(work, 'out', 'adapter_config.json'), 'utf8')).r).toBe(4);
  });

  it('runs the operator against a real API server, and graft check (the helm test) passes against it', async () => {
    cp = await startControlPlane();
    const kubeconfig = join(writable, 'kubeconfig');
    writeFileSync(kubeconfig, readFileSync(cp.kubeconfigPath));
    if (asRoot) chownSync(kubeconfig, AGENT_UID, AGENT_UID);
    const [metrics, probes] = [await freePort(), await freePort()];
    const child = spawn(process.execPath, ['--enable-source-maps', join(app, 'bin', 'graft'), 'operator', '--kubeconfig', kubeconfig,
      '--leader-election-namespace', 'default', `--metrics-bind-address=127.0.0.1:${metrics}`, `--health-probe-bind-address=127.0.0.1:${probes}`],
    { cwd: '/', env, ...ids, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => { out += b; });
    child.stderr.on('data', (b: Buffer) => { out += b; });
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    const t0 = Date.now();
    try {
      const readyz = `http://127.0.0.1:${probes}/readyz`;
      await waitFor('operator /readyz', async () => (await fetch(readyz)).status === 200, 60_000, 250).catch((err: Error) => { throw new Error(`${err.message}\n${out.slice(-3000)}`); });
      process.stdout.write(`[image] graft operator from the image layout: /readyz 200 after ${Date.now() - t0} ms\n`);
      const ok = await run(app, ['check', '--crds', `--ready-url=${readyz}`, '--timeout=30s', '--kubeconfig', kubeconfig], env);
      expect(ok.code, ok.out).toBe(0);
      expect(ok.out).toMatch(/^ok {3}CRDs served \(graft\.dev\/v1alpha1\): basemodels, adapters, adaptersets$/m);
      expect(ok.out).toMatch(/^ok {3}operator ready/m);
      // And it fails, naming what, when the operator cannot be reached.
      const bad = await run(app, ['check', `--ready-url=http://127.0.0.1:${await freePort()}/readyz`, '--timeout=2s'], env);
      expect(bad.code).toBe(1);
      expect(bad.out).toMatch(/^FAIL operator ready/m);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited, out.slice(-3000)).toBe(0);
    expect(out).toMatch(/graft operator starting/);
  });

  it('wrote nothing under /app: every run above worked from a read-only tree', () => {
    const after = snapshot(app);
    // Permission bits were cleared on purpose after the first snapshot; compare size and mtime.
    const strip = (m: Map<string, string>) => new Map([...m].map(([k, v]) => [k, v.split(':').slice(0, 2).join(':')]));
    expect(strip(after)).toEqual(strip(before));
  });
});
