// The agent's core: the adapters the operator wants, driven one step at a time towards Loaded,
// and a loop that compares them with what the engine holds (reloading after an engine restart).
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join, sep } from 'node:path';
import type { Logger } from '../util/log.js';
import { backoffDelay, type RetryPolicy } from '../storage/retry.js';
import type { AdapterCache, CacheEntry } from './cache.js';
import { CoalescedWriter } from './coalesced-writer.js';
import { EngineRejectedError, EngineUnavailableError, EngineUnreachableError, type EngineAdapter, type EngineClient } from './engines/types.js';
import type { AgentMetrics } from './metrics.js';
import { toAgentFailure } from './failure.js';
import { stageAdapter, type StagerDeps } from './stager.js';
import { AgentFailure, isPermanent, type AdapterSpec, type AdapterState, type AdapterStatus, type FailureReason } from './types.js';

interface AdapterRecord {
  name: string;
  spec: AdapterSpec;
  wanted: boolean;
  state: AdapterState;
  entry?: CacheEntry; // the staged folder for the current spec (or the previous one while restaging)
  error?: { reason: FailureReason; message: string };
  progress: { bytesDone: number; bytesTotal: number };
  attempts: number;
  retryAt?: number;
  generation: number;
  abort?: AbortController;
  updatedAt: string;
}

export interface ManagerOptions {
  engine: EngineClient;
  cache: AdapterCache;
  stager: Omit<StagerDeps, 'isProtected' | 'cache'>;
  metrics: AgentMetrics;
  log: Logger;
  reconcileIntervalMs: number;
  // Backoff for an adapter's transient failures (S3 errors, a full disk, engine 5xx); after
  // `maxAttempts` failed attempts in a row the adapter gives up with RetriesExhausted. An engine
  // that does not answer at all is waited for instead, without counting attempts.
  retry: RetryPolicy;
}

// An adapter's backoff between attempts: 1 s doubling to 60 s, so ten attempts span minutes.
export const ADAPTER_RETRY: RetryPolicy = { maxAttempts: 10, baseDelayMs: 1_000, maxDelayMs: 60_000 };

export class AdapterManager {
  private readonly records = new Map<string, AdapterRecord>();
  private readonly running = new Map<string, Promise<void>>();
  private readonly dirty = new Set<string>();
  // What the engine holds, as far as the agent knows: name → path. Refreshed by every reconcile,
  // and kept up to date by the agent's own loads and unloads.
  private engineView = new Map<string, string>();
  // The agent's own changes to the view while an engine list is in flight, numbered: a list that
  // was asked before a load finished must not drop that load from the view when it lands (the
  // reconcile loop would then load the adapter again, thinking the engine had lost it).
  private viewSeq = 0;
  private readonly viewChanges = new Map<string, { seq: number; path: string | undefined }>();
  private listsInFlight = 0;
  private engineOk = false;
  private engineError?: string;
  private timer?: NodeJS.Timeout;
  private reconciling?: Promise<void>;
  private readonly saver: CoalescedWriter;
  private stopped = false;

  constructor(private readonly o: ManagerOptions) {
    this.saver = new CoalescedWriter(
      () => {
        const wanted: Record<string, AdapterSpec> = {};
        for (const r of this.records.values()) if (r.wanted) wanted[r.name] = r.spec;
        return JSON.stringify(wanted);
      },
      async (text) => {
        const tmp = `${this.stateFile}.tmp`;
        await writeFile(tmp, text);
        await rename(tmp, this.stateFile);
      },
      (err) => this.o.log.error({ err }, 'cannot save the wanted adapters'),
    );
  }

  private get stateFile(): string { return join(this.o.cache.root, 'state', 'wanted.json'); }

  get engineReachable(): boolean { return this.engineOk; }
  // Why the engine cannot be used, while it cannot.
  get engineProblem(): string | undefined { return this.engineOk ? undefined : this.engineError; }

  states(): AdapterState[] { return [...this.records.values()].map((r) => r.state); }

  // Restores the wanted set written before a restart, then starts the reconcile loop.
  async start(): Promise<void> {
    await mkdir(join(this.o.cache.root, 'state'), { recursive: true });
    // The engine's view first: the restored adapters' runners start at once, and those the engine
    // still holds from the same folder then need no load call.
    await this.listEngine().catch((err: unknown) => { this.engineDown(err as Error); });
    try {
      const saved = JSON.parse(await readFile(this.stateFile, 'utf8')) as Record<string, AdapterSpec>;
      for (const [name, spec] of Object.entries(saved)) this.put(name, spec, false);
      this.o.log.info({ adapters: Object.keys(saved).length }, 'restored wanted adapters');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.o.log.warn({ err }, 'ignoring an unreadable wanted-adapters file');
    }
    await this.reconcile();
    this.schedule();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    for (const r of this.records.values()) r.abort?.abort(new Error('agent stopping'));
    await Promise.allSettled([...this.running.values(), this.reconciling ?? Promise.resolve()]);
    await this.saver.flush();
  }

  list(): AdapterStatus[] {
    return [...this.records.values()].sort((a, b) => a.name.localeCompare(b.name)).map((r) => this.status(r));
  }

  get(name: string): AdapterStatus | undefined {
    const r = this.records.get(name);
    return r && this.status(r);
  }

  // Desired state; the same spec again changes nothing (a permanent failure stays Failed).
  put(name: string, spec: AdapterSpec, persist = true): AdapterStatus {
    let r = this.records.get(name);
    const same = r && r.wanted && r.spec.source === spec.source && r.spec.digest === spec.digest;
    if (r && same) return this.status(r);
    if (!r) {
      r = { name, spec, wanted: true, state: 'Staging', progress: { bytesDone: 0, bytesTotal: 0 }, attempts: 0, generation: 0, updatedAt: now() };
      this.records.set(name, r);
    } else {
      r.abort?.abort(new Error('superseded by a newer PUT'));
      r.spec = spec;
      r.wanted = true;
      r.error = undefined;
      r.attempts = 0;
      r.retryAt = undefined;
      r.generation++;
      // A new goal: whatever the record showed for the previous spec (Failed, Unloading) no longer
      // holds. A revert to the version still staged goes straight to loading (without this, a
      // record Failed on v2 stayed Failed for good when v1 came back).
      if (!this.entryFits(r)) this.setState(r, 'Staging');
      else if (r.state !== 'Loaded') this.setState(r, 'Staged');
    }
    if (persist) this.persist();
    this.kick(name);
    return this.status(r);
  }

  // The adapter's status once its runner has nothing more to do (Loaded, Failed, or waiting for a
  // retry), or after `ms`, or when `signal` aborts, whichever comes first.
  async settled(name: string, ms: number, signal?: AbortSignal): Promise<AdapterStatus | undefined> {
    const run = this.running.get(name);
    if (run && ms > 0 && !signal?.aborted) {
      let timer: NodeJS.Timeout | undefined;
      let onAbort: (() => void) | undefined;
      await Promise.race([
        run.catch(() => undefined),
        new Promise<void>((resolve) => { timer = setTimeout(resolve, ms); }),
        new Promise<void>((resolve) => { onAbort = () => resolve(); signal?.addEventListener('abort', onAbort, { once: true }); }),
      ]);
      clearTimeout(timer);
      if (onAbort) signal?.removeEventListener('abort', onAbort);
    }
    return this.get(name);
  }

  // Starts unloading; the record disappears once the engine no longer holds the adapter.
  delete(name: string): AdapterStatus | undefined {
    const r = this.records.get(name);
    if (!r) return undefined;
    r.abort?.abort(new Error('deleted'));
    r.wanted = false;
    r.generation++;
    r.error = undefined;
    this.setState(r, 'Unloading');
    this.persist();
    this.kick(name);
    return this.status(r);
  }

  // Protected folders: the entry of every record, and every path the engine holds.
  isProtected = (e: CacheEntry): boolean => {
    for (const r of this.records.values()) if (r.entry?.dir === e.dir) return true;
    for (const p of this.engineView.values()) if (p === e.dir) return true;
    return false;
  };

  private entryFits(r: AdapterRecord): boolean {
    const e = r.entry;
    if (!e) return false;
    // Sources are stored as formatS3Uri(parseS3Uri(s)), which gives back the same text.
    return r.spec.digest ? e.digest === r.spec.digest : e.source === r.spec.source;
  }

  private status(r: AdapterRecord): AdapterStatus {
    return {
      name: r.name, source: r.spec.source, expectedDigest: r.spec.digest, state: r.state,
      digest: this.entryFits(r) ? r.entry?.digest : undefined,
      bytes: this.entryFits(r) ? r.entry?.bytes : undefined,
      rank: this.entryFits(r) ? r.entry?.rank : undefined,
      path: this.entryFits(r) ? r.entry?.dir : undefined,
      progress: { ...r.progress }, error: r.error ? { ...r.error } : undefined, attempts: r.attempts, updatedAt: r.updatedAt,
    };
  }

  private setState(r: AdapterRecord, s: AdapterState): void {
    // Debug: a load goes through four states, and the lines that matter (staged, loaded, failed)
    // are logged where they happen.
    if (r.state !== s) this.o.log.debug({ adapter: r.name, from: r.state, to: s }, 'adapter state');
    r.state = s;
    r.updatedAt = now();
  }

  private fail(r: AdapterRecord, err: unknown, what: string): void {
    let f = toAgentFailure(err, what);
    r.attempts++;
    if (!isPermanent(f.reason) && r.attempts >= this.o.retry.maxAttempts) {
      f = new AgentFailure('RetriesExhausted', `gave up after ${r.attempts} attempts; the last error was ${f.reason}: ${f.message}. Fix the cause, then change the adapter's spec (a new source or digest) to try again`, f);
    }
    r.error = { reason: f.reason, message: f.message };
    r.retryAt = isPermanent(f.reason) ? undefined : Date.now() + backoffDelay(r.attempts - 1, this.o.retry);
    this.setState(r, 'Failed');
    const cause = f.cause ?? f;
    const fields = { adapter: r.name, reason: f.reason, attempts: r.attempts, retryInMs: r.retryAt === undefined ? null : r.retryAt - Date.now(), err: cause };
    if (f.reason === 'Internal') this.o.log.error(fields, 'adapter failed on an unexpected error');
    else this.o.log.warn(fields, 'adapter failed');
  }

  // One runner per name; a kick while it runs makes it go round once more.
  private kick(name: string): void {
    if (this.stopped) return;
    if (this.running.has(name)) {
      this.dirty.add(name);
      return;
    }
    const run = (async () => {
      do {
        this.dirty.delete(name);
        const r = this.records.get(name);
        if (!r) break;
        try {
          await this.step(r);
        } catch (err) {
          this.o.log.error({ adapter: name, err }, 'unexpected error driving adapter');
        }
      } while (this.dirty.has(name) && !this.stopped);
    })().finally(() => this.running.delete(name));
    this.running.set(name, run);
  }

  private async step(r: AdapterRecord): Promise<void> {
    const gen = r.generation;
    if (!r.wanted) return this.unloadStep(r, gen);
    if (r.state === 'Failed' && (r.retryAt === undefined || r.retryAt > Date.now())) return;

    if (!this.entryFits(r)) {
      this.setState(r, 'Staging');
      r.progress = { bytesDone: 0, bytesTotal: 0 };
      r.error = undefined;
      const abort = new AbortController();
      r.abort = abort;
      let entry: CacheEntry;
      try {
        entry = await stageAdapter({ ...this.o.stager, cache: this.o.cache, isProtected: this.isProtected }, r.name, r.spec, {
          signal: abort.signal,
          onProgress: (done, total) => { r.progress = { bytesDone: done, bytesTotal: total }; },
        });
      } catch (err) {
        if (gen !== r.generation || abort.signal.aborted) return; // superseded: the next round restarts
        this.fail(r, err, 'staging');
        return;
      } finally {
        if (r.abort === abort) r.abort = undefined;
      }
      if (gen !== r.generation) return;
      r.entry = entry;
      r.progress = { bytesDone: entry.bytes, bytesTotal: entry.bytes };
      this.setState(r, 'Staged');
    }

    const loadedPath = this.engineView.get(r.name);
    if (r.state === 'Loaded' && loadedPath === r.entry!.dir) return;
    await this.loadStep(r, gen);
  }

  private async loadStep(r: AdapterRecord, gen: number): Promise<void> {
    const entry = r.entry!;
    this.setState(r, 'Loading');
    const engine = this.o.engine;
    const t0 = process.hrtime.bigint();
    let result = 'error';
    try {
      // What the engine holds comes from the view (start() fills it, every reconcile refreshes
      // it): a load is one engine call. A view saying the engine already holds this very folder is
      // checked with a fresh list before it is believed; a view that missed an adapter registered
      // under this name is corrected by the engine's "already loaded" answer below.
      let held = this.engineView.get(r.name);
      if (held === entry.dir) held = (await this.listEngine()).find((a) => a.name === r.name)?.path;
      if (held === entry.dir) {
        result = 'present';
      } else {
        let outcome = await engine.load(r.name, entry.dir, { replace: held !== undefined });
        if (outcome === 'already-loaded') {
          // Registered under this name meanwhile, or an engine that ignores load_inplace: compare
          // paths; the same folder is fine, another one is unloaded and replaced.
          const again = (await this.listEngine()).find((a) => a.name === r.name);
          if (again?.path !== entry.dir) {
            await engine.unload(r.name);
            outcome = await engine.load(r.name, entry.dir);
            if (outcome === 'already-loaded') throw new EngineRejectedError(400, `the engine still holds "${r.name}" after unloading it`);
          }
        }
        result = 'success';
        this.engineOk = true; // it answered, and took the key
        this.engineError = undefined;
      }
      this.setView(r.name, entry.dir);
      this.o.cache.touch(entry);
      if (gen !== r.generation) return;
      r.attempts = 0;
      r.error = undefined;
      this.setState(r, 'Loaded');
      this.o.log.info({ adapter: r.name, digest: entry.digest, engine: result === 'present' ? 'already held' : 'loaded' }, 'adapter loaded');
      await this.pruneOlderVersions(r);
    } catch (err) {
      if (err instanceof EngineUnavailableError) this.engineDown(err);
      if (gen !== r.generation) return;
      if (err instanceof EngineUnreachableError) {
        // The engine is (re)starting: wait for it. The reconcile loop loads Staged adapters as
        // soon as the engine answers again.
        r.error = { reason: 'EngineUnavailable', message: `${err.message}; waiting for the engine` };
        this.setState(r, 'Staged');
        return;
      }
      this.fail(r, err, 'loading');
      return;
    } finally {
      this.o.metrics.loadDuration.observe({ engine: engine.kind, operation: 'load', result }, Number(process.hrtime.bigint() - t0) / 1e9);
    }
  }

  private async unloadStep(r: AdapterRecord, gen: number): Promise<void> {
    const t0 = process.hrtime.bigint();
    let result = 'error';
    try {
      result = await this.o.engine.unload(r.name);
      this.setView(r.name, undefined);
    } catch (err) {
      // Keep Unloading; the reconcile loop tries again.
      if (err instanceof EngineUnavailableError) this.engineDown(err);
      r.error = { reason: err instanceof EngineUnavailableError ? 'EngineUnavailable' : 'EngineRejected', message: (err as Error).message };
      this.o.log.warn({ adapter: r.name, err }, 'unload failed; will retry');
      return;
    } finally {
      this.o.metrics.loadDuration.observe({ engine: this.o.engine.kind, operation: 'unload', result }, Number(process.hrtime.bigint() - t0) / 1e9);
    }
    if (gen === r.generation && !r.wanted) {
      this.records.delete(r.name);
      // Deleted, not just replaced: its staged folders go too (the engine no longer holds them).
      await this.o.cache.removeAdapter(r.name);
      this.o.log.info({ adapter: r.name }, 'adapter removed');
    }
  }

  // The engine's list, which becomes the view (with the agent's own changes made meanwhile).
  private async listEngine(): Promise<EngineAdapter[]> {
    const from = this.viewSeq;
    this.listsInFlight++;
    try {
      const list = await this.o.engine.list();
      const view = new Map(list.map((a) => [a.name, a.path]));
      for (const [name, c] of this.viewChanges) {
        if (c.seq <= from) continue;
        if (c.path === undefined) view.delete(name);
        else view.set(name, c.path);
      }
      this.engineView = view;
      this.engineOk = true;
      this.engineError = undefined;
      return list;
    } finally {
      if (--this.listsInFlight === 0) this.viewChanges.clear();
    }
  }

  private setView(name: string, path: string | undefined): void {
    if (path === undefined) this.engineView.delete(name);
    else this.engineView.set(name, path);
    if (this.listsInFlight > 0) this.viewChanges.set(name, { seq: ++this.viewSeq, path });
  }

  private engineDown(err: Error): void {
    this.engineOk = false;
    this.engineError = err.message;
  }

  // Once a version is Loaded, the other staged versions of its name go, unless something still
  // protects them (the engine holds the path, or another record points at it). With or without a
  // disk budget: nothing else would ever remove them.
  private async pruneOlderVersions(r: AdapterRecord): Promise<void> {
    const older = this.o.cache.versionsOf(r.name).filter((e) => e.dir !== r.entry?.dir && !this.isProtected(e));
    if (older.length === 0) return;
    // Removing a folder cannot be undone: ask the engine what it holds now rather than trust the
    // view (it may hold one of these folders under another name since the last reconcile).
    try {
      await this.listEngine();
    } catch (err) {
      this.o.log.warn({ adapter: r.name, err }, 'cannot list the engine; older staged versions stay until the next load');
      return;
    }
    for (const e of older) {
      if (this.isProtected(e)) continue;
      try {
        await this.o.cache.remove(e, `superseded by ${r.entry?.digest ?? 'a newer version'}`);
      } catch (err) {
        this.o.log.warn({ adapter: r.name, dir: e.dir, err }, 'cannot remove an older staged version');
      }
    }
  }

  // Compares the wanted adapters with the engine's list and sets things right.
  async reconcile(): Promise<void> {
    if (this.reconciling) return this.reconciling;
    this.reconciling = this.reconcileOnce().finally(() => { this.reconciling = undefined; });
    return this.reconciling;
  }

  private async reconcileOnce(): Promise<void> {
    let list: EngineAdapter[] | undefined;
    try {
      list = await this.listEngine();
    } catch (err) {
      if (this.engineOk) this.o.log.warn({ err }, 'engine not reachable');
      this.engineDown(err as Error);
    }
    for (const r of this.records.values()) {
      if (this.running.has(r.name)) continue;
      if (!r.wanted) { this.kick(r.name); continue; }
      if (r.state === 'Failed') {
        if (r.retryAt !== undefined && r.retryAt <= Date.now()) this.kick(r.name);
        continue;
      }
      if (!list) continue;
      if (r.state === 'Loaded' && this.engineView.get(r.name) !== r.entry?.dir) {
        this.o.log.warn({ adapter: r.name, engineHas: this.engineView.get(r.name) ?? null }, 'engine lost the adapter; loading it again');
        this.o.metrics.engineReloads.inc();
        this.setState(r, 'Staged');
        this.kick(r.name);
      } else if (r.state === 'Staged' || r.state === 'Staging' || r.state === 'Loading') {
        this.kick(r.name);
      }
    }
    // Adapters the engine holds from this agent's cache that nobody wants any more.
    if (list) {
      const root = this.o.cache.adaptersDir + sep;
      for (const a of list) {
        if (!a.path.startsWith(root) || this.records.has(a.name)) continue;
        this.o.log.info({ adapter: a.name }, 'unloading an adapter that is no longer wanted');
        try {
          await this.o.engine.unload(a.name);
          this.setView(a.name, undefined);
        } catch (err) {
          this.o.log.warn({ adapter: a.name, err }, 'unload failed');
        }
      }
    }
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      void this.reconcile().finally(() => this.schedule());
    }, this.o.reconcileIntervalMs);
    this.timer.unref();
  }

  // Saves the wanted set (coalesced: see CoalescedWriter).
  private persist(): void {
    this.saver.schedule();
  }

  async idle(): Promise<void> {
    while (this.running.size > 0) await Promise.allSettled([...this.running.values()]);
  }
}

function now(): string { return new Date().toISOString(); }
