import { describe, expect, it } from 'vitest';
import { endpointFromSlices, resolveServiceUrls } from '../../src/sandbox/pod-network.js';

// Service URLs of GraftPods' pods, to a ready endpoint from the Service's EndpointSlices (what
// kube-proxy would route a ClusterIP connection to).
type Obj = Record<string, any>;

const svc: Obj = { spec: { selector: { app: 'graft' }, ports: [{ name: 'metrics', port: 8080, targetPort: 'metrics' }, { name: 'health', port: 8081, targetPort: 'health' }, { name: 'n', port: 80, targetPort: 8080 }] } };
const ep = (ip: string, conditions: Obj = { ready: true, serving: true, terminating: false }): Obj => ({ addresses: [ip], conditions });
const slice = (endpoints: Obj[], ports: Obj[] = [{ name: 'metrics', port: 8080 }, { name: 'health', port: 9081 }, { name: 'n', port: 8080 }], addressType = 'IPv4'): Obj => ({ addressType, endpoints, ports });

describe('endpointFromSlices', () => {
  it('picks a ready, not terminating endpoint and the slice port named as the Service port', () => {
    const slices = [
      slice([ep('10.244.1.9', { ready: false }), ep('10.244.1.2', { ready: false, terminating: true })]),
      slice([ep('fd00::1')], undefined, 'IPv6'),
      slice([ep('10.244.2.4')]),
    ];
    expect(endpointFromSlices(svc, slices, 8081)).toEqual({ address: '10.244.2.4', port: 9081 });
    expect(endpointFromSlices(svc, slices, 80)).toEqual({ address: '10.244.2.4', port: 8080 });
    expect(endpointFromSlices(svc, slices, 1234)).toBeUndefined();
    expect(endpointFromSlices(svc, slices.slice(0, 2), 8081)).toBeUndefined();
    expect(endpointFromSlices(undefined, slices, 8081)).toBeUndefined();
    expect(endpointFromSlices(svc, [slice([ep('10.244.2.4')], [{ name: 'other', port: 1 }])], 8081)).toBeUndefined();
  });

  it('takes an endpoint without conditions as ready, and unnamed ports for a one-port Service', () => {
    const one: Obj = { spec: { ports: [{ port: 80, targetPort: 8080 }] } };
    expect(endpointFromSlices(one, [{ addressType: 'IPv4', endpoints: [{ addresses: ['10.244.3.7'] }], ports: [{ port: 8080 }] }], 80)).toEqual({ address: '10.244.3.7', port: 8080 });
    expect(endpointFromSlices(one, [{ addressType: 'IPv4', endpoints: [], ports: [{ port: 8080 }] }], 80)).toBeUndefined();
  });
});

describe('resolveServiceUrls', () => {
  it('rewrites NAME.NS.svc[.cluster.local] URLs, with the scheme\'s port by default, and names the ones without an endpoint', async () => {
    const asked: string[] = [];
    const out = await resolveServiceUrls([
      'check', '--ready-url=http://graft-metrics.graft-system.svc:8081/readyz', 'https://api.team-a.svc.cluster.local/x',
      'http://gone.ns.svc:1/', 'http://example.com:8081/', 'graft-metrics.graft-system.svc:8081',
    ], async (ns, name, port) => {
      asked.push(`${ns}/${name}:${port}`);
      return name === 'gone' ? undefined : { address: '10.244.1.4', port: port + 1 };
    });
    expect(out.args).toEqual(['check', '--ready-url=http://10.244.1.4:8082/readyz', 'https://10.244.1.4:444/x', 'http://gone.ns.svc:1/', 'http://example.com:8081/', 'graft-metrics.graft-system.svc:8081']);
    expect(out.unresolved).toEqual(['ns/gone:1']);
    expect(asked).toEqual(['graft-system/graft-metrics:8081', 'team-a/api:443', 'ns/gone:1']);
  });
});
