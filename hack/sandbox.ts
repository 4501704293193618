// `make sandbox` / `make sandbox-down`: the e2e control plane (etcd, kube-apiserver, controller
// manager, scheduler, KWOK with fake GPU nodes, Graft's CRDs) in the background, inside a sandbox
// network of its own (hack/netns.sh): reach it with `hack/netns.sh --enter <pid> kubectl …`, which
// `up` prints.
//   tsx hack/sandbox.ts up      start it (no-op when running); writes .sandbox/kubeconfig
//   tsx hack/sandbox.ts down    stop it
//   tsx hack/sandbox.ts serve   run it in the foreground until SIGTERM (what `up` starts, under
//                               hack/netns.sh)
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { startControlPlane } from '../test/support/control-plane.js';
import { sandboxNetwork } from '../src/sandbox/netns.js';
import { waitFor } from '../src/sandbox/wait.js';
import { toolPath } from '../test/support/tools.js';

const dir = resolve(process.env.GRAFT_SANDBOX_DIR ?? '.sandbox');
const pidFile = join(dir, 'pid');
const readyFile = join(dir, 'ready');
const kubeconfig = join(dir, 'kubeconfig');
const netnsSh = resolve(import.meta.dirname, 'netns.sh');
// What reaches the sandbox's network namespace from outside (serve's pid is the target).
const enter = (pid: number) => `${netnsSh} --enter ${pid}`;

function alive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch { return false; }
}
function runningPid(): number | null {
  if (!existsSync(pidFile)) return null;
  const pid = Number(readFileSync(pidFile, 'utf8'));
  return pid && alive(pid) ? pid : null;
}

async function up(): Promise<void> {
  const pid = runningPid();
  if (pid) { console.log(`sandbox already running (pid ${pid}); use it with:\n  ${enter(pid)} ${toolPath('kubectl')} --kubeconfig ${kubeconfig} get nodes`); return; }
  mkdirSync(dir, { recursive: true });
  rmSync(readyFile, { force: true });
  rmSync(pidFile, { force: true });
  const log = openSync(join(dir, 'sandbox.log'), 'w');
  // serve runs in a sandbox network of its own, and writes its pid (the one to enter) when ready.
  const child = spawn(netnsSh, [process.execPath, ...process.execArgv, new URL(import.meta.url).pathname, 'serve'], {
    detached: true, stdio: ['ignore', log, log], env: process.env,
  });
  child.unref();
  await waitFor('the sandbox to start (see .sandbox/sandbox.log)', () => {
    if (!alive(child.pid!)) throw new Error(`the sandbox exited; its log:\n${readFileSync(join(dir, 'sandbox.log'), 'utf8').slice(-3000)}`);
    return existsSync(readyFile);
  }, 180_000, 250);
  const serving = runningPid()!;
  console.log(`sandbox running (pid ${serving}) in a network namespace of its own. Use it with:\n`
    + `  ${enter(serving)} ${toolPath('kubectl')} --kubeconfig ${kubeconfig} get nodes\n`
    + `  ${enter(serving)} bash    (a shell in there; then: export KUBECONFIG=${kubeconfig})\nStop it with: make sandbox-down`);
}

async function down(): Promise<void> {
  const pid = runningPid();
  if (!pid) { console.log('sandbox not running'); return; }
  process.kill(pid, 'SIGTERM');
  await waitFor('the sandbox to stop', () => !alive(pid), 60_000, 200).catch(() => process.kill(pid, 'SIGKILL'));
  rmSync(pidFile, { force: true });
  console.log('sandbox stopped');
}

async function serve(): Promise<void> {
  sandboxNetwork(); // hack/netns.sh, as `up` starts it
  const cpDir = join(dir, 'cp');
  rmSync(cpDir, { recursive: true, force: true });
  mkdirSync(cpDir, { recursive: true });
  const cp = await startControlPlane({ e2e: true, crds: true, dir: cpDir });
  copyFileSync(cp.kubeconfigPath, kubeconfig);
  writeFileSync(pidFile, String(process.pid));
  writeFileSync(readyFile, new Date().toISOString());
  console.log(`control plane ready at ${cp.server}`);
  const stop = async () => {
    rmSync(readyFile, { force: true });
    await cp.stop();
    rmSync(cpDir, { recursive: true, force: true });
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

const cmd = process.argv[2];
const run = { up, down, serve }[cmd as 'up' | 'down' | 'serve'];
if (!run) { console.error('usage: tsx hack/sandbox.ts up|down|serve'); process.exit(2); }
run().catch((err) => { console.error(err instanceof Error ? err.message : err); process.exit(1); });
