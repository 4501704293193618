import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../src/runtime/fake-clock.js';
import { REPORTING_CONTROLLER, SeriesEventRecorder, type EventSink, type KubeEvent } from '../../src/runtime/events.js';

class MemorySink implements EventSink {
  created: KubeEvent[] = [];
  patches: Array<{ name: string; count: number }> = [];
  async create(ev: KubeEvent) { this.created.push(ev); }
  async patchSeries(_ns: string, name: string, s: { count: number }) { this.patches.push({ name, count: s.count }); }
}

const pod = { apiVersion: 'graft.dev/v1alpha1', kind: 'Adapter', metadata: { name: 'a1', namespace: 'ns1', uid: 'u-1', resourceVersion: '7' } };

describe('SeriesEventRecorder', () => {
  it('creates an events.k8s.io/v1 Event reported by graft.dev/operator', async () => {
    const sink = new MemorySink();
    const rec = new SeriesEventRecorder({ sink, instance: 'host_1', clock: new FakeClock() });
    rec.event(pod, 'Warning', 'DownloadFailed', 'Stage', 'S3 answered 403');
    await rec.flush();
    expect(sink.created).toHaveLength(1);
    const ev = sink.created[0];
    expect(ev).toMatchObject({
      apiVersion: 'events.k8s.io/v1', kind: 'Event', reportingController: REPORTING_CONTROLLER, reportingInstance: 'host_1',
      type: 'Warning', reason: 'DownloadFailed', action: 'Stage', note: 'S3 answered 403',
      regarding: { kind: 'Adapter', name: 'a1', namespace: 'ns1', uid: 'u-1' },
      metadata: { namespace: 'ns1' },
    });
    expect(ev.metadata.name).toMatch(/^a1\.[0-9a-f]+$/);
    expect(ev.eventTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
  });

  it('aggregates repeats into a series: count 2 at once, later counts once per heartbeat', async () => {
    const clock = new FakeClock();
    const sink = new MemorySink();
    const rec = new SeriesEventRecorder({ sink, instance: 'i', clock, seriesWindowMs: 6 * 60_000, heartbeatMs: 30 * 60_000 });
    for (let i = 0; i < 50; i++) { rec.event(pod, 'Normal', 'Loaded', 'Load', 'loaded on pod-0'); await clock.advance(10_000); }
    await rec.flush();
    expect(sink.created).toHaveLength(1);
    // 50 repeats over ~8 minutes: the series write (2) then the rest only at flush.
    expect(sink.patches.map((p) => p.count)).toEqual([2, 50]);
    rec.event(pod, 'Normal', 'Loaded', 'Load', 'loaded on pod-1'); // a different note is a different event
    await rec.flush();
    expect(sink.created).toHaveLength(2);
    await rec.stop();
  });

  it('writes a running series once per heartbeat and starts a new event after the series ends', async () => {
    const clock = new FakeClock();
    const sink = new MemorySink();
    const rec = new SeriesEventRecorder({ sink, instance: 'i', clock, seriesWindowMs: 6 * 60_000, heartbeatMs: 30 * 60_000 });
    // One repeat a minute for 40 minutes.
    for (let i = 0; i < 40; i++) { rec.event(pod, 'Warning', 'Unreachable', 'Probe', 'agent down'); await clock.advance(60_000); }
    expect(sink.created).toHaveLength(1);
    const counts = sink.patches.map((p) => p.count);
    expect(counts[0]).toBe(2);
    expect(counts.length).toBe(2); // one heartbeat write in 40 minutes
    expect(counts[1]).toBeGreaterThan(25);
    await clock.advance(12 * 60_000); // the series ends: final count written, entry dropped
    expect(sink.patches.at(-1)!.count).toBe(40);
    expect(rec.size).toBe(0);
    rec.event(pod, 'Warning', 'Unreachable', 'Probe', 'agent down');
    await rec.flush();
    expect(sink.created).toHaveLength(2);
    await rec.stop();
  });
});
