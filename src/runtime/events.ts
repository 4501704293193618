import type { Logger } from 'pino';
import { realClock, type Clock, type TimerHandle } from './clock.js';
import type { KubeClient } from './kube-client.js';
import { microTime } from './lease-store.js';
import { EventKind, type KubeObject } from './object.js';
import { silentLogger } from '../util/log.js';

// An events.k8s.io/v1 event recorder in the manner of client-go's tools/events: the first
// occurrence creates an Event; a repeat (same object, type, reason, action, note) within six
// minutes turns it into a series (count 2, written at once); further repeats only count up in
// memory and are written every 30 minutes, so a hot loop cannot flood the API server.

export const REPORTING_CONTROLLER = 'graft.dev/operator';

export type EventType = 'Normal' | 'Warning';

export interface EventRecorder {
  /** Records an event about `regarding`. Never throws; write failures are logged. */
  event(regarding: KubeObject, type: EventType, reason: string, action: string, note: string, related?: KubeObject): void;
}

export interface EventSink {
  create(event: KubeEvent): Promise<void>;
  patchSeries(namespace: string, name: string, series: { count: number; lastObservedTime: string }): Promise<void>;
}

export interface ObjectRef { apiVersion?: string; kind?: string; name?: string; namespace?: string; uid?: string; resourceVersion?: string }

export interface KubeEvent extends KubeObject {
  metadata: { name: string; namespace: string };
  eventTime: string;
  reportingController: string;
  reportingInstance: string;
  action: string;
  reason: string;
  note: string;
  type: EventType;
  regarding: ObjectRef;
  related?: ObjectRef;
  series?: { count: number; lastObservedTime: string };
}

export class KubeEventSink implements EventSink {
  constructor(private readonly client: KubeClient) {}
  async create(event: KubeEvent): Promise<void> {
    await this.client.create(EventKind, event);
  }
  async patchSeries(namespace: string, name: string, series: { count: number; lastObservedTime: string }): Promise<void> {
    await this.client.patch(EventKind, namespace, name, 'merge', { series });
  }
}

interface Entry {
  namespace: string;
  name: string;
  count: number;
  written: number;
  writtenAt: number;
  lastObserved: number;
  created: Promise<boolean>;
}

export interface RecorderOptions {
  sink: EventSink;
  /** reportingInstance: this process (its leader election identity). */
  instance: string;
  clock?: Clock;
  logger?: Logger;
  seriesWindowMs?: number;
  heartbeatMs?: number;
}

export class SeriesEventRecorder implements EventRecorder {
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly windowMs: number;
  private readonly heartbeatMs: number;
  private readonly cache = new Map<string, Entry>();
  private readonly pending = new Set<Promise<unknown>>();
  private timer: TimerHandle | undefined;
  private seq = 0;

  constructor(private readonly opts: RecorderOptions) {
    this.clock = opts.clock ?? realClock;
    this.log = opts.logger ?? silentLogger;
    this.windowMs = opts.seriesWindowMs ?? 6 * 60_000;
    this.heartbeatMs = opts.heartbeatMs ?? 30 * 60_000;
    this.instance = opts.instance.slice(0, 128);
  }

  private readonly instance: string;

  event(regarding: KubeObject, type: EventType, reason: string, action: string, note: string, related?: KubeObject): void {
    const now = this.clock.now();
    const ref = refOf(regarding);
    const key = JSON.stringify([ref.uid, ref.kind, ref.namespace, ref.name, type, reason, action, note, related?.metadata?.uid]);
    const hit = this.cache.get(key);
    if (hit && now - hit.lastObserved < this.windowMs) {
      hit.count++;
      hit.lastObserved = now;
      if (hit.written < 2) this.writeSeries(hit); // becoming a series is written at once
      this.arm();
      return;
    }
    const namespace = ref.namespace || 'default';
    const name = `${(ref.name ?? 'unknown').slice(0, 200)}.${(BigInt(now) * 1_000_000n + BigInt(this.seq++ % 1_000_000)).toString(16)}`;
    const ev: KubeEvent = {
      apiVersion: 'events.k8s.io/v1', kind: 'Event',
      metadata: { name, namespace },
      eventTime: microTime(now),
      reportingController: REPORTING_CONTROLLER,
      reportingInstance: this.instance,
      action: action.slice(0, 128), reason: reason.slice(0, 128), note: truncate(note, 1024), type,
      regarding: ref,
    };
    if (related) ev.related = refOf(related);
    const entry: Entry = { namespace, name, count: 1, written: 1, writtenAt: now, lastObserved: now, created: Promise.resolve(false) };
    entry.created = this.track(this.opts.sink.create(ev).then(() => true, (err: unknown) => {
      this.log.warn({ err, reason, regarding: `${ref.kind}/${ref.namespace}/${ref.name}` }, 'could not record event');
      return false;
    }));
    this.cache.set(key, entry);
    this.arm();
  }

  /** Writes the series counts not yet written and waits for every write in flight. */
  async flush(): Promise<void> {
    for (const e of this.cache.values()) if (e.count > e.written) this.writeSeries(e);
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }

  async stop(): Promise<void> {
    this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    await this.flush();
  }

  /** Series known in memory (for tests and debugging). */
  get size(): number { return this.cache.size; }

  private writeSeries(e: Entry): void {
    const count = e.count;
    const lastObservedTime = microTime(e.lastObserved);
    e.written = count;
    e.writtenAt = this.clock.now();
    this.track(e.created.then(async (ok) => {
      if (!ok) return;
      try {
        await this.opts.sink.patchSeries(e.namespace, e.name, { count, lastObservedTime });
      } catch (err) {
        this.log.warn({ err, event: `${e.namespace}/${e.name}` }, 'could not update event series');
      }
    }));
  }

  // One timer, every series window: a series that has ended gets its final count written and is
  // dropped; a running one gets its count written once per heartbeat.
  private arm(): void {
    if (this.timer) return;
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      const now = this.clock.now();
      for (const [k, e] of this.cache) {
        const ended = now - e.lastObserved >= this.windowMs;
        if (e.count > e.written && (ended || now - e.writtenAt >= this.heartbeatMs)) this.writeSeries(e);
        if (ended) this.cache.delete(k);
      }
      if (this.cache.size > 0) this.arm();
    }, this.windowMs);
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
    return p;
  }
}

function refOf(o: KubeObject): ObjectRef {
  const m = o.metadata ?? {};
  const ref: ObjectRef = { apiVersion: o.apiVersion, kind: o.kind, name: m.name, namespace: m.namespace, uid: m.uid, resourceVersion: m.resourceVersion };
  for (const k of Object.keys(ref) as (keyof ObjectRef)[]) if (ref[k] === undefined) delete ref[k];
  return ref;
}

function truncate(s: string, max: number): string {
  return Buffer.byteLength(s) <= max ? s : `${Buffer.from(s).subarray(0, max - 3).toString().replace(/\uFFFD$/, '')}...`;
}

/** A recorder that drops everything: for tests and tools that need none. */
export const nullRecorder: EventRecorder = { event() {} };
