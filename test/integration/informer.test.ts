import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startControlPlane, type ControlPlane } from '../support/control-plane.js';
import { waitFor } from '../support/ports.js';
import { Backoff } from '../../src/runtime/backoff.js';
import { FakeClock } from '../../src/runtime/fake-clock.js';
import { Informer } from '../../src/runtime/informer.js';
import { KubeClient } from '../../src/runtime/kube-client.js';
import { OperatorMetrics } from '../../src/runtime/metrics.js';
import { kind, type KubeObject } from '../../src/runtime/object.js';

// The informer wrapper against a real kube-apiserver: it survives the API server going away
// (client-node's own ListWatch would stop for good on the connection error), resumes from its
// last resourceVersion, and sees what changed while it was disconnected. Its backoff and resync
// timers run on a fake clock, so the test decides exactly when it reconnects.

const ConfigMapKind = kind('v1', 'ConfigMap', 'configmaps');
const SecretKind = kind('v1', 'Secret', 'secrets');
const NamespaceKind = kind('v1', 'Namespace', 'namespaces', false);
const NS = 'informer-test';

let cp: ControlPlane;
let admin: KubeClient;

beforeAll(async () => {
  cp = await startControlPlane({ crds: false });
  admin = new KubeClient(cp.kubeConfig);
  await admin.create(NamespaceKind, { metadata: { name: NS } });
});

afterAll(async () => {
  await cp?.stop();
});

const cm = (name: string, data: Record<string, string>): KubeObject => ({ metadata: { name, namespace: NS }, data });

function record(inf: Informer) {
  const events: string[] = [];
  inf.on('add', (o) => events.push(`add ${o.metadata!.name}`));
  inf.on('update', (o) => events.push(`update ${o.metadata!.name}`));
  inf.on('delete', (o) => events.push(`delete ${o.metadata!.name}`));
  return events;
}

describe('Informer against a real API server', () => {
  it('resumes after the API server restarts and sees changes made while it was away', async () => {
    for (const n of ['keep', 'modify', 'remove']) await admin.create(ConfigMapKind, cm(n, { v: '1' }));

    const clock = new FakeClock();
    const metrics = new OperatorMetrics();
    const client = new KubeClient(cp.kubeConfig, (m, h, c) => metrics.request(m, h, c));
    const inf = new Informer({ client, kind: ConfigMapKind, namespace: NS, clock, backoff: new Backoff(1000, 1000, 2, 0), resyncMs: 60_000 });
    const events = record(inf);
    inf.start();
    await inf.waitForSync();
    expect(inf.list().map((o) => o.metadata!.name).sort()).toEqual(['keep', 'modify', 'remove']);
    expect(events.sort()).toEqual(['add keep', 'add modify', 'add remove']);
    events.length = 0;

    // Live changes arrive over the watch.
    await admin.patch(ConfigMapKind, NS, 'keep', 'merge', { data: { v: '2' } });
    await waitFor('live update', () => inf.get(NS, 'keep')?.data !== undefined && (inf.get(NS, 'keep')!.data as Record<string, string>).v === '2', 10_000);

    // The API server goes away: the watch ends, the reconnect fails, the wrapper schedules a restart.
    await cp.stopApiServer();
    await waitFor('the informer to notice the outage', () => inf.restarts >= 1, 20_000);
    // While it is down, each restart fails and is scheduled again.
    const before = inf.restarts;
    await clock.advance(1000);
    await waitFor('a failed retry', () => inf.restarts > before, 10_000);
    expect(inf.hasSynced()).toBe(true); // the cache stays readable meanwhile
    expect(inf.get(NS, 'remove')).toBeDefined();

    await cp.startApiServer();
    // Changes while the informer is still disconnected (its restart timer has not fired).
    await admin.patch(ConfigMapKind, NS, 'modify', 'merge', { data: { v: '2' } });
    await admin.delete(ConfigMapKind, NS, 'remove');
    await admin.create(ConfigMapKind, cm('created', { v: '1' }));
    expect(inf.get(NS, 'created')).toBeUndefined();

    await clock.advance(1000); // the restart fires: resume the watch from the last resourceVersion
    await waitFor('the informer to catch up', () =>
      inf.get(NS, 'created') !== undefined && inf.get(NS, 'remove') === undefined && (inf.get(NS, 'modify')?.data as Record<string, string>).v === '2', 20_000);
    expect(events).toEqual(expect.arrayContaining(['update keep', 'update modify', 'delete remove', 'add created']));
    expect(inf.list().map((o) => o.metadata!.name).sort()).toEqual(['created', 'keep', 'modify']);

    // And it keeps watching afterwards.
    await admin.patch(ConfigMapKind, NS, 'created', 'merge', { data: { v: '9' } });
    await waitFor('a change after the restart', () => (inf.get(NS, 'created')?.data as Record<string, string>).v === '9', 10_000);

    // Resync re-delivers every cached object to the update handlers.
    events.length = 0;
    await clock.advance(60_000);
    expect(events.filter((e) => e.startsWith('update')).sort()).toEqual(['update created', 'update keep', 'update modify']);

    // Every request was counted, the failed ones as '<error>'.
    const counted = (await metrics.restRequests.get()).values;
    const gets = counted.filter((v) => v.labels.method === 'GET');
    expect(gets.some((v) => v.labels.code === '200')).toBe(true);
    expect(gets.some((v) => v.labels.code === '<error>')).toBe(true);
    await inf.stop();
  });

  it('syncs once the API server comes up when it was down at start', async () => {
    await admin.create(SecretKind, { metadata: { name: 's1', namespace: NS }, stringData: { k: 'v' } });
    await cp.stopApiServer();
    const clock = new FakeClock();
    const inf = new Informer({ client: new KubeClient(cp.kubeConfig), kind: SecretKind, namespace: NS, clock, backoff: new Backoff(1000, 1000, 2, 0) });
    inf.start();
    await waitFor('the first list to fail', () => inf.restarts >= 1, 20_000);
    expect(inf.hasSynced()).toBe(false);
    await cp.startApiServer();
    await clock.advance(1000);
    await inf.waitForSync();
    expect(inf.get(NS, 's1')).toBeDefined();
    await inf.stop();
  });
});
