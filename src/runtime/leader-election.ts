import type { Logger } from 'pino';
import { realClock, type Clock, type TimerHandle } from './clock.js';
import { microTime, type LeaseRecord, type LeaseStore, type StoredLease } from './lease-store.js';
import { silentLogger } from '../util/log.js';

// Lease-based leader election with client-go's rules, tightened where safety asks for it:
// - a candidate takes the lease when it has no holder, or when the record has not changed for the
//   record's lease duration as measured on the candidate's own clock (not the holder's timestamps,
//   so clock skew between machines does not matter);
// - the leader renews every retry period, and stops leading when it has not renewed within the
//   renew deadline of its last successful renewal (started at attempt start, the earliest time a
//   candidate could have seen that renewal), so it stops well before any candidate may take over
//   (lease duration > renew deadline);
// - it also stops at once when a read shows another holder;
// - release() writes an empty holder, so a candidate takes over at its next try.
// Every write carries the resourceVersion last read, so two candidates never win the same lease.

export interface LeaderElectionOptions {
  store: LeaseStore;
  identity: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  clock?: Clock;
  logger?: Logger;
  random?: () => number;
  /** Called when this process becomes leader. */
  onStartedLeading: () => void;
  /** Called when it stops leading (lost or released). Must stop everything that writes. */
  onStoppedLeading: () => void;
  /** Called when a different holder is observed. */
  onNewLeader?: (identity: string) => void;
}

type State = 'idle' | 'candidate' | 'leader' | 'stopped';

export class LeaderElector {
  readonly identity: string;
  readonly leaseDurationMs: number;
  readonly renewDeadlineMs: number;
  readonly retryPeriodMs: number;
  private readonly store: LeaseStore;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly random: () => number;
  private state: State = 'idle';
  private observed: StoredLease | undefined;
  private observedAt = 0;
  private lastRenewAt = 0;
  private tickTimer: TimerHandle | undefined;
  private deadlineTimer: TimerHandle | undefined;
  private inFlight: Promise<void> | undefined;
  private inFlightAbort: AbortController | undefined;
  private lastLeader = '';

  constructor(private readonly opts: LeaderElectionOptions) {
    this.store = opts.store;
    this.identity = opts.identity;
    this.leaseDurationMs = opts.leaseDurationMs ?? 15_000;
    this.renewDeadlineMs = opts.renewDeadlineMs ?? 10_000;
    this.retryPeriodMs = opts.retryPeriodMs ?? 2_000;
    if (!(this.leaseDurationMs > this.renewDeadlineMs)) throw new Error('leader election: lease duration must be greater than the renew deadline');
    if (!(this.renewDeadlineMs > this.retryPeriodMs)) throw new Error('leader election: renew deadline must be greater than the retry period');
    if (!opts.identity) throw new Error('leader election: identity must not be empty');
    this.clock = opts.clock ?? realClock;
    this.log = (opts.logger ?? silentLogger).child({ lease: opts.store.description, identity: opts.identity });
    this.random = opts.random ?? Math.random;
  }

  isLeader(): boolean { return this.state === 'leader'; }

  /**
   * Whether this process may still write as leader, by the clock, now: a leader whose renew
   * deadline has passed stops leading here and then, synchronously, instead of waiting for its
   * deadline timer. After a pause (SIGSTOP, a long GC, a suspended VM) the event loop may run
   * pending I/O callbacks before that timer, and a reconcile resumed by them must not write.
   */
  holdsLease(): boolean {
    if (this.state !== 'leader') return false;
    if (this.clock.now() >= this.lastRenewAt + this.renewDeadlineMs) {
      this.lose(`could not renew within the renew deadline (${this.renewDeadlineMs} ms)`);
      return false;
    }
    return true;
  }

  /** Starts campaigning; returns at once. */
  start(): void {
    if (this.state !== 'idle') return;
    this.state = 'candidate';
    this.log.info('leader election: campaigning');
    this.schedule(0);
  }

  /**
   * Stops campaigning or leading. A leader writes an empty holder so that another candidate takes
   * over at its next try (unless `write` is false: then the lease simply expires). Call it only
   * after everything this process does as leader has stopped.
   */
  async release(opts: { write?: boolean } = {}): Promise<void> {
    if (this.state === 'stopped') return;
    const wasLeader = this.state === 'leader';
    this.state = 'stopped';
    this.clock.clearTimeout(this.tickTimer);
    this.clock.clearTimeout(this.deadlineTimer);
    await this.inFlight?.catch(() => {});
    if (wasLeader) {
      this.opts.onStoppedLeading();
      const o = this.observed;
      if (o && o.record.holderIdentity === this.identity && opts.write !== false) {
        const now = this.clock.now();
        const record: LeaseRecord = { holderIdentity: '', leaseDurationSeconds: 1, acquireTime: microTime(now), renewTime: microTime(now), leaseTransitions: o.record.leaseTransitions };
        try {
          await this.store.update(record, o.resourceVersion, AbortSignal.timeout(this.renewDeadlineMs));
          this.log.info('leader election: released the lease');
        } catch (err) {
          this.log.warn({ err }, 'leader election: could not release the lease; it will expire');
        }
      }
    }
  }

  private schedule(ms: number): void {
    if (this.state === 'stopped') return;
    this.clock.clearTimeout(this.tickTimer);
    this.tickTimer = this.clock.setTimeout(() => { this.tickTimer = undefined; this.tick(); }, ms);
  }

  private tick(): void {
    if (this.state === 'stopped' || this.inFlight) return;
    const startedAt = this.clock.now();
    const abort = new AbortController();
    this.inFlightAbort = abort;
    // A request never outlives the time this attempt could still matter.
    const budget = this.state === 'leader' ? this.lastRenewAt + this.renewDeadlineMs - startedAt : this.renewDeadlineMs;
    const timeout = this.clock.setTimeout(() => abort.abort(new Error('leader election request timed out')), Math.max(1, budget));
    this.inFlight = this.tryAcquireOrRenew(startedAt, abort.signal)
      .catch((err: unknown) => {
        this.log.debug({ err }, 'leader election: attempt failed');
        return false;
      })
      .then((ok) => {
        this.clock.clearTimeout(timeout);
        this.inFlight = undefined;
        this.inFlightAbort = undefined;
        this.afterAttempt(ok, startedAt);
      });
  }

  private afterAttempt(ok: boolean, startedAt: number): void {
    if (this.state === 'stopped') return;
    if (ok) {
      this.lastRenewAt = startedAt;
      if (this.state === 'candidate') {
        if (this.clock.now() >= startedAt + this.renewDeadlineMs) {
          // Won, but so late that the lease may already look expired to others.
          this.schedule(this.retryPeriodMs);
          return;
        }
        this.state = 'leader';
        this.log.info('leader election: became leader');
        this.opts.onStartedLeading();
      }
      this.armDeadline();
      this.schedule(this.retryPeriodMs);
      return;
    }
    if (this.state === 'leader' && this.observed && this.observed.record.holderIdentity && this.observed.record.holderIdentity !== this.identity) {
      this.lose(`the lease is held by ${this.observed.record.holderIdentity}`);
      return;
    }
    this.schedule(this.state === 'leader' ? this.retryPeriodMs : this.jittered());
  }

  private armDeadline(): void {
    this.clock.clearTimeout(this.deadlineTimer);
    const due = this.lastRenewAt + this.renewDeadlineMs - this.clock.now();
    this.deadlineTimer = this.clock.setTimeout(() => {
      this.deadlineTimer = undefined;
      if (this.state === 'leader') this.lose(`could not renew within the renew deadline (${this.renewDeadlineMs} ms)`);
    }, Math.max(0, due));
  }

  private lose(why: string): void {
    this.log.warn({ why }, 'leader election: lost the lease; stopping controllers');
    this.state = 'candidate';
    this.clock.clearTimeout(this.deadlineTimer);
    this.inFlightAbort?.abort(new Error('leadership lost'));
    this.opts.onStoppedLeading();
    this.schedule(this.jittered());
  }

  private jittered(): number {
    return Math.round(this.retryPeriodMs * (1 + 0.2 * this.random()));
  }

  private observe(lease: StoredLease, at: number): void {
    const o = this.observed;
    if (!o || o.resourceVersion !== lease.resourceVersion || !sameRecord(o.record, lease.record)) {
      this.observed = lease;
      this.observedAt = at;
      const holder = lease.record.holderIdentity;
      if (holder && holder !== this.lastLeader) {
        this.lastLeader = holder;
        if (holder !== this.identity) this.log.info({ leader: holder }, 'leader election: new leader observed');
        this.opts.onNewLeader?.(holder);
      }
    }
  }

  private async tryAcquireOrRenew(startedAt: number, signal: AbortSignal): Promise<boolean> {
    const fresh = (o: StoredLease | undefined): LeaseRecord => ({
      holderIdentity: this.identity,
      leaseDurationSeconds: Math.ceil(this.leaseDurationMs / 1000),
      acquireTime: o?.record.holderIdentity === this.identity && o.record.acquireTime ? o.record.acquireTime : microTime(startedAt),
      renewTime: microTime(startedAt),
      leaseTransitions: o ? (o.record.holderIdentity === this.identity ? o.record.leaseTransitions : o.record.leaseTransitions + 1) : 0,
    });

    // A leader first tries to renew on the record it last wrote: one request instead of two.
    if (this.state === 'leader' && this.observed?.record.holderIdentity === this.identity) {
      try {
        const updated = await this.store.update(fresh(this.observed), this.observed.resourceVersion, signal);
        this.observe(updated, this.clock.now());
        return true;
      } catch (err) {
        if (signal.aborted) throw err;
        // Fall through: read the lease to see why.
      }
    }

    const current = await this.store.get(signal);
    const now = this.clock.now();
    if (!current) {
      const created = await this.store.create(fresh(undefined), signal);
      this.observe(created, now);
      return true;
    }
    this.observe(current, now);
    const holder = current.record.holderIdentity;
    if (holder && holder !== this.identity && this.observedAt + current.record.leaseDurationSeconds * 1000 > now) {
      return false;
    }
    if (this.state === 'stopped') return false;
    const updated = await this.store.update(fresh(current), current.resourceVersion, signal);
    this.observe(updated, this.clock.now());
    return true;
  }
}

function sameRecord(a: LeaseRecord, b: LeaseRecord): boolean {
  return a.holderIdentity === b.holderIdentity && a.leaseDurationSeconds === b.leaseDurationSeconds
    && a.acquireTime === b.acquireTime && a.renewTime === b.renewTime && a.leaseTransitions === b.leaseTransitions;
}
