import { Observable, RequestContext, ResponseContext, HttpMethod, type HttpLibrary } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { parseOperatorFlags } from '../../src/cli/operator.js';
import { CliError } from '../../src/cli/errors.js';
import { parseDuration } from '../../src/runtime/duration.js';
import { OperatorHttpServer, parseBindAddress } from '../../src/runtime/http-server.js';
import { OperatorMetrics } from '../../src/runtime/metrics.js';
import { countingHttpLibrary, resourceOf } from '../../src/runtime/request-counting.js';

describe('flags', () => {
  it('parses bind addresses as controller-runtime does', () => {
    expect(parseBindAddress('--x', ':8080')).toEqual({ host: '0.0.0.0', port: 8080 });
    expect(parseBindAddress('--x', '127.0.0.1:0')).toEqual({ host: '127.0.0.1', port: 0 });
    expect(parseBindAddress('--x', '[::1]:9443')).toEqual({ host: '::1', port: 9443 });
    expect(parseBindAddress('--x', '0')).toBeUndefined();
    expect(() => parseBindAddress('--metrics-bind-address', '8080')).toThrow(/--metrics-bind-address: "8080" is not an address/);
    expect(() => parseBindAddress('--x', ':99999')).toThrow(/not an address/);
  });

  it('parses Go durations', () => {
    expect(parseDuration('--d', '15s')).toBe(15_000);
    expect(parseDuration('--d', '1h30m')).toBe(5_400_000);
    expect(parseDuration('--d', '500ms')).toBe(500);
    expect(parseDuration('--d', '1.5s')).toBe(1_500);
    expect(parseDuration('--d', '0')).toBe(0);
    expect(() => parseDuration('--sync-period', '10')).toThrow(/--sync-period: "10" is not a duration/);
    expect(() => parseDuration('--d', '5x')).toThrow(/not a duration/);
  });

  it('has the documented defaults', () => {
    const f = parseOperatorFlags([]);
    expect(f).toMatchObject({
      leaderElect: true, leaderElectionId: 'graft-operator', leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000,
      metrics: { host: '0.0.0.0', port: 8080 }, probes: { host: '0.0.0.0', port: 8081 }, namespaces: undefined,
    });
  });

  it('accepts --leader-elect=false, --no-leader-elect and the test addresses', () => {
    expect(parseOperatorFlags(['--leader-elect=false']).leaderElect).toBe(false);
    expect(parseOperatorFlags(['--no-leader-elect']).leaderElect).toBe(false);
    const f = parseOperatorFlags(['--metrics-bind-address', '127.0.0.1:18080', '--health-probe-bind-address=127.0.0.1:18081', '--namespace', 'team-a']);
    expect(f.metrics).toEqual({ host: '127.0.0.1', port: 18080 });
    expect(f.probes).toEqual({ host: '127.0.0.1', port: 18081 });
    expect(f.namespaces).toEqual(['team-a']);
  });

  it('takes a list of namespaces, --namespace as an alias, and each once', () => {
    expect(parseOperatorFlags(['--namespaces', 'team-a,team-b']).namespaces).toEqual(['team-a', 'team-b']);
    expect(parseOperatorFlags(['--namespaces=team-a, team-b,', '--namespace', 'team-c', '--namespaces', 'team-a']).namespaces).toEqual(['team-a', 'team-b', 'team-c']);
    expect(parseOperatorFlags(['--namespaces', ',']).namespaces).toBeUndefined();
  });

  it('refuses bad input with the flag named', () => {
    const bad: Array<[string[], RegExp]> = [
      [['--log-level', 'loud'], /--log-level/],
      [['--leader-election-id', 'Not_A_Name'], /--leader-election-id/],
      [['--leader-election-renew-deadline', '20s'], /lease-duration must be longer/],
      [['--leader-election-retry-period', '10s'], /renew-deadline must be longer/],
      [['--bogus'], /bogus/],
      [['--namespaces', 'team-a,Team_B'], /--namespaces: "Team_B" is not a namespace name/],
      [['--namespace', 'a'.repeat(64)], /--namespaces: "a{64}" is not a namespace name/],
    ];
    for (const [args, re] of bad) {
      let err: unknown;
      try { parseOperatorFlags(args); } catch (e) { err = e; }
      expect(err, args.join(' ')).toBeInstanceOf(CliError);
      expect((err as Error).message).toMatch(re);
    }
  });
});

describe('request counting', () => {
  it('names the resource a request addresses', () => {
    expect(resourceOf('https://h:6443/api/v1/namespaces/ns/configmaps/x')).toBe('configmaps');
    expect(resourceOf('https://h:6443/api/v1/namespaces/ns/configmaps?watch=true')).toBe('configmaps');
    expect(resourceOf('https://h:6443/apis/coordination.k8s.io/v1/namespaces/ns/leases/graft')).toBe('leases');
    expect(resourceOf('https://h:6443/apis/graft.dev/v1alpha1/namespaces/ns/adapters/a/status')).toBe('adapters/status');
    expect(resourceOf('https://h:6443/api/v1/namespaces/ns')).toBe('namespaces');
    expect(resourceOf('https://h:6443/api/v1/nodes/n1')).toBe('nodes');
    expect(resourceOf('https://h:6443/apis/apps/v1')).toBe('discovery');
  });

  it('counts every request through the wrapped HTTP layer, by method, host and code', async () => {
    const metrics = new OperatorMetrics();
    const answers = [200, 404, 'fail'] as const;
    let i = 0;
    const inner: HttpLibrary = {
      send() {
        const a = answers[i++];
        if (a === 'fail') return new Observable(Promise.reject(new Error('ECONNREFUSED')));
        return new Observable(Promise.resolve(new ResponseContext(a, {}, { text: async () => '{}', binary: async () => Buffer.alloc(0) })));
      },
    };
    const lib = countingHttpLibrary(inner, (m, u, c) => metrics.request(m, u, c));
    const url = 'https://127.0.0.1:6443/api/v1/namespaces/d/configmaps/x';
    await lib.send(new RequestContext(url, HttpMethod.GET)).toPromise();
    await lib.send(new RequestContext(url, HttpMethod.PATCH)).toPromise();
    await expect(lib.send(new RequestContext(url, HttpMethod.PUT)).toPromise()).rejects.toThrow(/ECONNREFUSED/);
    const text = await metrics.registry.metrics();
    expect(text).toContain('rest_client_requests_total{code="200",method="GET",host="127.0.0.1:6443"} 1');
    expect(text).toContain('rest_client_requests_total{code="404",method="PATCH",host="127.0.0.1:6443"} 1');
    expect(text).toContain('rest_client_requests_total{code="<error>",method="PUT",host="127.0.0.1:6443"} 1');
    expect(text).toContain('graft_kube_requests_total{code="404",method="PATCH",resource="configmaps"} 1');
  });
});

describe('OperatorHttpServer', () => {
  it('serves /healthz, /readyz by the readiness function, and /metrics on separate ports', async () => {
    const metrics = new OperatorMetrics();
    metrics.leaderStatus.labels('graft-operator').set(1);
    let ready = { ready: false, reason: 'informer caches not synced' };
    const srv = new OperatorHttpServer({ metrics: { host: '127.0.0.1', port: 0 }, probes: { host: '127.0.0.1', port: 0 }, registry: metrics.registry, readiness: () => ready });
    await srv.start();
    try {
      const probes = `http://127.0.0.1:${srv.probesAddress!.port}`;
      const m = `http://127.0.0.1:${srv.metricsAddress!.port}`;
      expect(srv.probesAddress!.port).not.toBe(srv.metricsAddress!.port);
      expect((await fetch(`${probes}/healthz`)).status).toBe(200);
      const notReady = await fetch(`${probes}/readyz`);
      expect(notReady.status).toBe(503);
      expect(await notReady.text()).toContain('informer caches not synced');
      ready = { ready: true, reason: '' };
      expect((await fetch(`${probes}/readyz`)).status).toBe(200);
      const body = await (await fetch(`${m}/metrics`)).text();
      expect(body).toContain('leader_election_master_status{name="graft-operator"} 1');
      expect((await fetch(`${probes}/metrics`)).status).toBe(404);
    } finally {
      await srv.close();
    }
  });
});
