import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AGENT_UID } from '../../src/contracts/names.js';
import { contextFiles, execForm, isExcluded, parseCopy, parseDockerfile, parseDockerignore } from './docker-context.js';

// The Dockerfile and its build context, checked without a container engine (none runs here). What
// this cannot check (that the base image exists and behaves as node:20 slim does, the layers, a
// real run under a container runtime) is listed in docs/install.md.
const root = join(import.meta.dirname, '..', '..');
const dockerfile = parseDockerfile(readFileSync(join(root, 'Dockerfile'), 'utf8'));
const final = dockerfile.stages.at(-1)!;
const helpers = readFileSync(join(root, 'charts', 'graft', 'templates', '_helpers.tpl'), 'utf8');

describe('Dockerfile', () => {
  it('builds on one base pinned by an exact node 20 tag, in every stage', () => {
    const bases = new Set(dockerfile.stages.map((s) => s.from));
    expect(bases.size).toBe(1);
    const [base] = [...bases];
    // An exact version (20.x.y), never a floating tag like node:20 or latest.
    expect(base).toMatch(/^(docker\.io\/library\/)?node:20\.\d+\.\d+-(bookworm|bullseye)-slim(@sha256:[a-f0-9]{64})?$/);
    // The same Node as development and CI use, so what is tested is what ships.
    expect(base).toContain(`node:${process.versions.node}-`);
  });

  it('runs as the numeric user 65532, the uid of the chart\'s pods and of the agent (AGENT_UID)', () => {
    const users = final.instructions.filter((i) => i.op === 'USER').map((i) => i.args);
    expect(users).toEqual([`${AGENT_UID}:${AGENT_UID}`]);
    // The chart's pod and container securityContext (the one _helpers.tpl both Deployment and test Pod use).
    const runAs = [...helpers.matchAll(/^\s*(runAsUser|runAsGroup|fsGroup):\s*(\d+)\s*$/gm)].map((m) => [m[1], Number(m[2])]);
    expect(runAs.length).toBeGreaterThanOrEqual(4);
    for (const [field, uid] of runAs) expect({ field, uid }).toEqual({ field, uid: AGENT_UID });
    expect(AGENT_UID).toBe(65532);
  });

  it('has graft as its entrypoint, in exec form, through node', () => {
    const entry = execForm(final, 'ENTRYPOINT')!;
    expect(entry[0]).toMatch(/(^|\/)node$/);
    expect(entry.at(-1)).toBe('/app/bin/graft');
    expect(final.instructions.find((i) => i.op === 'WORKDIR')?.args).toBe('/app');
  });

  it('ships only dist/, production node_modules, package.json and bin/ in the final stage', () => {
    const copies = final.instructions.filter((i) => i.op === 'COPY' || i.op === 'ADD').map((i) => ({ op: i.op, ...parseCopy(i) }));
    expect(copies.every((c) => c.op === 'COPY')).toBe(true);
    const named = Object.fromEntries(dockerfile.stages.filter((s) => s.name).map((s) => [s.name!, s]));
    const shipped = copies.map((c) => `${c.from ?? 'context'}:${c.sources.join(',')}`).sort();
    expect(shipped).toEqual(['build:/src/dist', 'context:bin', 'context:package.json', 'prod-deps:/src/node_modules']);
    // The node_modules that ship come from `npm ci --omit=dev`: no tsx, vitest or typescript.
    const prodRuns = named['prod-deps']!.instructions.filter((i) => i.op === 'RUN').map((i) => i.args);
    expect(prodRuns).toEqual([expect.stringMatching(/^npm ci --omit=dev\b/)]);
    // And dist/ from tsc with the build config (src only).
    expect(named.build!.instructions.filter((i) => i.op === 'RUN').map((i) => i.args)).toContain('node_modules/.bin/tsc -p tsconfig.build.json');
  });

  it('writes nothing outside /tmp at run time: HOME and TMPDIR point there', () => {
    const env = final.instructions.filter((i) => i.op === 'ENV').map((i) => i.args).join(' ');
    expect(env).toMatch(/\bHOME=\/tmp\b/);
    expect(env).toMatch(/\bTMPDIR=\/tmp\b/);
    expect(env).toMatch(/\bNODE_ENV=production\b/);
  });
});

describe('build context (.dockerignore)', () => {
  const files = contextFiles(root);

  it('holds every path the Dockerfile COPYs from the context', () => {
    for (const stage of dockerfile.stages) {
      for (const ins of stage.instructions.filter((i) => i.op === 'COPY')) {
        const c = parseCopy(ins);
        if (c.from) continue;
        for (const src of c.sources) {
          const p = src.replace(/^\.\//, '').replace(/\/$/, '');
          expect(files.some((f) => f === p || f.startsWith(`${p}/`)), `COPY ${src} (line ${ins.line}) has nothing in the build context`).toBe(true);
        }
      }
    }
    // What the compile and the entrypoint need, by name.
    for (const f of ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'bin/graft', 'src/cli/main.ts', 'src/version.ts']) {
      expect(files).toContain(f);
    }
    // Every source file tsc compiles (tsconfig.build.json: src/) is in the context.
    const srcCount = files.filter((f) => f.startsWith('src/') && f.endsWith('.ts')).length;
    expect(srcCount).toBeGreaterThan(50);
  });

  it('leaves out node_modules, dist, .git, tests, fixtures and local state', () => {
    for (const prefix of ['node_modules/', 'dist/', '.git/', 'test/', '.tmp/', '.sandbox/', 'bench/', 'charts/']) {
      expect(files.filter((f) => f.startsWith(prefix))).toEqual([]);
    }
  });

  it('follows Docker\'s matching rules', () => {
    const p = parseDockerignore('*\n!src/\n!bin\nsrc/**/*.test.ts\n**/secret*\n');
    expect(isExcluded(p, 'README.md')).toBe(true);
    expect(isExcluded(p, 'src/a/b.ts')).toBe(false);
    expect(isExcluded(p, 'src/a/b.test.ts')).toBe(true);
    expect(isExcluded(p, 'bin/graft')).toBe(false);
    expect(isExcluded(p, 'src/x/secret.key')).toBe(true);
    expect(isExcluded(parseDockerignore('node_modules\n'), 'node_modules/zod/package.json')).toBe(true);
    expect(isExcluded(parseDockerignore('/dist/\n'), 'dist/cli/main.js')).toBe(true);
    expect(isExcluded(parseDockerignore('*.md\n!README.md\n'), 'README.md')).toBe(false);
  });
});
