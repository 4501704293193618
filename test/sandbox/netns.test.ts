import { describe, expect, it } from 'vitest';
import { sandboxNetworkProblem, type Iface } from '../../src/sandbox/netns.js';

// The check the sandbox makes before it starts a pod or binds anything but loopback, on the
// interface list and route tables a namespace shows (as `ip -j addr show` and /proc/net give them).
const ROUTE4_HEAD = 'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT';
const route4 = (...lines: string[]) => [ROUTE4_HEAD, ...lines].join('\n');
const BRIDGE_ROUTE = 'graft0\t0000F40A\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0';
// What a fresh sandbox network shows: the kernel's own ::/0 reject entries on lo.
const ROUTE6 = [
  'fe800000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001   graft0',
  '00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo',
].join('\n');
const addr = (local: string, prefixlen: number, family = 'inet') => ({ local, prefixlen, family });
const iface = (ifname: string, ...addr_info: ReturnType<typeof addr>[]): Iface => ({ ifname, addr_info });
const lo = iface('lo', addr('127.0.0.1', 8), addr('::1', 128, 'inet6'));
const graft0 = iface('graft0', addr('10.244.0.1', 16), addr('fe80::1c76:b6ff:fe2c:d983', 64, 'inet6'));
const sandbox = [lo, graft0, iface('gv0123456789', addr('fe80::1', 64, 'inet6')), iface('dummy0')];

describe('sandboxNetworkProblem', () => {
  it('accepts lo, the bridge at 10.244.0.1/16, link-local addresses and no default route', () => {
    expect(sandboxNetworkProblem(sandbox, route4(BRIDGE_ROUTE), ROUTE6)).toBeUndefined();
  });

  it('refuses a namespace without the bridge, or with it at another address', () => {
    expect(sandboxNetworkProblem([lo], route4(), ROUTE6)).toBe('no graft0 bridge at 10.244.0.1/16');
    expect(sandboxNetworkProblem([lo, iface('graft0', addr('10.244.0.1', 24))], route4(), ROUTE6)).toBe('no graft0 bridge at 10.244.0.1/16');
    expect(sandboxNetworkProblem([lo, iface('graft0')], route4(), ROUTE6)).toBe('no graft0 bridge at 10.244.0.1/16');
  });

  it('refuses an address outside the sandbox ranges (the host\'s network)', () => {
    expect(sandboxNetworkProblem([...sandbox, iface('eth0', addr('192.168.1.20', 24))], route4(BRIDGE_ROUTE), ROUTE6))
      .toBe('the address 192.168.1.20 on eth0, outside the sandbox\'s ranges');
    expect(sandboxNetworkProblem([...sandbox, iface('eth0', addr('2001:db8::5', 64, 'inet6'))], route4(BRIDGE_ROUTE), ROUTE6))
      .toBe('the address 2001:db8::5 on eth0, outside the sandbox\'s ranges');
  });

  it('refuses a default route, IPv4 or IPv6', () => {
    expect(sandboxNetworkProblem(sandbox, route4(BRIDGE_ROUTE, 'graft0\t00000000\t0100F40A\t0003\t0\t0\t0\t00000000\t0\t0\t0'), ROUTE6)).toBe('a default route via graft0');
    const v6default = '00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe800000000000000000000000000001 00000400 00000001 00000000 00000003   graft0';
    expect(sandboxNetworkProblem(sandbox, route4(BRIDGE_ROUTE), `${ROUTE6}\n${v6default}`)).toBe('an IPv6 default route via graft0');
  });
});
