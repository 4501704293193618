// Saves a value that changes in bursts (the wanted set, on every PUT and DELETE): at most one write
// in flight and one pending, and the pending one renders the value when it starts, so it is always
// the latest. A burst of a hundred PUTs costs two writes instead of a hundred, each of a hundred
// entries. `write` must replace the saved copy atomically (a temporary file, then rename): a crash
// at any moment leaves the previous copy or the new one.
export class CoalescedWriter {
  private dirty = false;
  private running: Promise<void> | undefined;

  constructor(
    private readonly render: () => string,
    private readonly write: (text: string) => Promise<void>,
    private readonly onError: (err: unknown) => void,
  ) {}

  // The value changed: it will be written, after the write in flight if there is one.
  schedule(): void {
    this.dirty = true;
    if (!this.running) this.running = this.loop();
  }

  // Resolves once everything scheduled so far is written (or has failed and been reported).
  async flush(): Promise<void> {
    while (this.running) await this.running;
  }

  private async loop(): Promise<void> {
    // First a turn of the microtask queue: `running` is set before anything below can clear it,
    // and changes made in the same turn go into the first write.
    await null;
    try {
      while (this.dirty) {
        this.dirty = false;
        try {
          await this.write(this.render());
        } catch (err) {
          this.onError(err);
        }
      }
    } finally {
      // Cleared here, synchronously after the last look at `dirty`: a schedule() from now on
      // starts a new loop.
      this.running = undefined;
    }
  }
}
