// A sync function run every interval, never twice at once (a pass that outlasts the interval
// skips the next tick); stop() waits for the pass in progress. The sandbox's kubelet stand-ins
// poll the API server this way.
export class Poller {
  private timer?: NodeJS.Timeout;
  private busy = false;
  private stopping = false;

  constructor(private readonly sync: () => Promise<void>, private readonly intervalMs: number, private readonly onError: (err: unknown) => void) {}

  get stopped(): boolean { return this.stopping; }

  start(): void {
    const tick = async () => {
      if (this.busy || this.stopping) return;
      this.busy = true;
      try { await this.sync(); } catch (err) { this.onError(err); }
      this.busy = false;
    };
    void tick();
    this.timer = setInterval(tick, this.intervalMs);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.timer) clearInterval(this.timer);
    while (this.busy) await new Promise((r) => setTimeout(r, 50));
  }
}
