import { spawn, type ChildProcess } from 'node:child_process';

// A child process started by a test: its output is kept (last 256 KiB) for failure messages, and
// every process still running is killed when the test process exits, even after a failure.
export class Proc {
  readonly child: ChildProcess;
  private out = '';
  readonly exited: Promise<number | null>;

  constructor(readonly name: string, readonly cmd: string, readonly args: string[], readonly opts: { env?: NodeJS.ProcessEnv; cwd?: string; verbose?: boolean } = {}) {
    this.child = spawn(cmd, args, { env: { ...process.env, ...opts.env }, cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'], detached: false });
    const keep = (b: Buffer) => {
      this.out += b.toString();
      if (this.out.length > 262_144) this.out = this.out.slice(-262_144);
      if (opts.verbose || process.env.GRAFT_TEST_VERBOSE) process.stderr.write(`[${name}] ${b}`);
    };
    this.child.stdout!.on('data', keep);
    this.child.stderr!.on('data', keep);
    this.exited = new Promise((resolve) => this.child.on('exit', (code) => resolve(code)));
    live.add(this);
    void this.exited.then(() => live.delete(this));
  }

  get output(): string { return this.out; }
  get running(): boolean { return this.child.exitCode === null && this.child.signalCode === null; }

  // SIGTERM, then SIGKILL after `graceMs`.
  async stop(graceMs = 5_000): Promise<void> {
    if (!this.running) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  async kill(): Promise<void> {
    if (!this.running) return;
    this.child.kill('SIGKILL');
    await this.exited;
  }
}

const live = new Set<Proc>();
process.on('exit', () => { for (const p of live) p.child.kill('SIGKILL'); });
