import { describe, expect, it } from 'vitest';
import { bindToPodIP, endpointFrom, resolveServiceUrls } from '../../src/sandbox/pod-network.js';

// The pod network stand-in of GraftPods: bind addresses on the pod's own address, Service URLs to
// a Ready pod of the Service, as the EndpointSlice controller would pick it.
type Obj = Record<string, any>;

describe('bindToPodIP', () => {
  it('puts ":PORT", "0.0.0.0:PORT" and "[::]:PORT" on the pod address and leaves the rest', () => {
    expect(bindToPodIP(['operator', '--metrics-bind-address=:8080', '--health-probe-bind-address=0.0.0.0:8081', '-x=[::]:9', ':7', '--sync-period=30s', '--addr=10.1.2.3:80', '--a=host:80'], '127.9.1.3'))
      .toEqual(['operator', '--metrics-bind-address=127.9.1.3:8080', '--health-probe-bind-address=127.9.1.3:8081', '-x=127.9.1.3:9', '127.9.1.3:7', '--sync-period=30s', '--addr=10.1.2.3:80', '--a=host:80']);
  });
});

const pod = (name: string, ip: string, opts: { ready?: boolean; deleting?: boolean; labels?: Obj } = {}): Obj => ({
  metadata: { name, labels: opts.labels ?? { app: 'graft' }, ...(opts.deleting ? { deletionTimestamp: '2026-01-01T00:00:00Z' } : {}) },
  spec: { containers: [{ name: 'operator', ports: [{ name: 'metrics', containerPort: 8080 }, { name: 'health', containerPort: 9081 }] }] },
  status: { podIP: ip, conditions: [{ type: 'Ready', status: opts.ready === false ? 'False' : 'True' }] },
});
const svc: Obj = { spec: { selector: { app: 'graft' }, ports: [{ name: 'metrics', port: 8080, targetPort: 'metrics' }, { name: 'health', port: 8081, targetPort: 'health' }, { name: 'n', port: 80, targetPort: 8080 }] } };

describe('endpointFrom', () => {
  it('picks a Ready, not deleting, selected pod and resolves a named or numbered targetPort', () => {
    const pods = [pod('other', '127.0.0.9', { labels: { app: 'x' } }), pod('old', '127.0.0.2', { deleting: true }), pod('starting', '127.0.0.3', { ready: false }), pod('ok', '127.0.0.4')];
    expect(endpointFrom(svc, pods, 8081)).toEqual({ address: '127.0.0.4', port: 9081 });
    expect(endpointFrom(svc, pods, 80)).toEqual({ address: '127.0.0.4', port: 8080 });
    expect(endpointFrom(svc, pods, 1234)).toBeUndefined();
    expect(endpointFrom(svc, pods.slice(0, 3), 8081)).toBeUndefined();
    expect(endpointFrom(undefined, pods, 8081)).toBeUndefined();
  });
});

describe('resolveServiceUrls', () => {
  it('rewrites NAME.NS.svc[.cluster.local] URLs, with the scheme\'s port by default, and keeps unresolved ones', async () => {
    const asked: string[] = [];
    const out = await resolveServiceUrls([
      'check', '--ready-url=http://graft-metrics.graft-system.svc:8081/readyz', 'https://api.team-a.svc.cluster.local/x',
      'http://gone.ns.svc:1/', 'http://example.com:8081/', 'graft-metrics.graft-system.svc:8081',
    ], async (ns, name, port) => {
      asked.push(`${ns}/${name}:${port}`);
      return name === 'gone' ? undefined : { address: '127.0.0.4', port: port + 1 };
    });
    expect(out).toEqual(['check', '--ready-url=http://127.0.0.4:8082/readyz', 'https://127.0.0.4:444/x', 'http://gone.ns.svc:1/', 'http://example.com:8081/', 'graft-metrics.graft-system.svc:8081']);
    expect(asked).toEqual(['graft-system/graft-metrics:8081', 'team-a/api:443', 'ns/gone:1']);
  });
});
