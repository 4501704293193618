// The sandbox network (hack/netns.sh): the test runner, the control plane and S3 run in a network
// namespace of their own with lo and a bridge graft0 at 10.244.0.1/16, and no route out; each pod
// gets a namespace of its own hanging on that bridge (pod-netns.ts). Before the sandbox starts a
// pod, or binds anything but loopback, it checks that it really is in there: the variable
// hack/netns.sh exports, the bridge's address, no default route, and no address outside lo and
// 10.244.0.0/16, so that nothing it binds is ever on the host's real network.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

export const SANDBOX_BRIDGE = 'graft0';
export const SANDBOX_GATEWAY = '10.244.0.1';
export const SANDBOX_PREFIX = 16;
export const NETNS_ENV = 'GRAFT_NETNS';

export type SandboxNetwork = { bridge: string; gateway: string; prefix: number };

const FIX = 'run it under hack/netns.sh, e.g. `hack/netns.sh npx vitest run --project integration test/integration/<file>.test.ts`, '
  + 'or through make (`make test`, `make test-integration`, `make demo`, `make sandbox`, `make bench-scale`), which do';

export class NotInSandboxNetwork extends Error {
  constructor(why: string) {
    super(`the sandbox's pods need the sandbox network (${why}): ${FIX}`);
    this.name = 'NotInSandboxNetwork';
  }
}

// An interface as `ip -j addr show` lists it (every one, up or down; os.networkInterfaces() leaves
// out those without carrier, as the bridge is while no pod runs).
export type Iface = { ifname: string; addr_info?: Array<{ family: string; local: string; prefixlen: number }> };

// What makes a namespace not the sandbox's, as a sentence; undefined when it is. Pure: the
// interfaces, and /proc/net/route and /proc/net/ipv6_route.
export function sandboxNetworkProblem(ifaces: Iface[], route4: string, route6: string): string | undefined {
  const bridge = ifaces.find((i) => i.ifname === SANDBOX_BRIDGE)?.addr_info ?? [];
  if (!bridge.some((a) => a.local === SANDBOX_GATEWAY && a.prefixlen === SANDBOX_PREFIX)) return `no ${SANDBOX_BRIDGE} bridge at ${SANDBOX_GATEWAY}/${SANDBOX_PREFIX}`;
  for (const i of ifaces) {
    for (const a of i.addr_info ?? []) {
      if (!sandboxAddress(a.local)) return `the address ${a.local} on ${i.ifname}, outside the sandbox's ranges`;
    }
  }
  // /proc/net/route: Iface Destination Gateway Flags RefCnt Use Metric Mask …, hex.
  for (const line of route4.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length >= 8 && f[1] === '00000000' && f[7] === '00000000') return `a default route via ${f[0]}`;
  }
  // /proc/net/ipv6_route: dest prefix src prefix next-hop metric refcnt use flags iface. The kernel's
  // own ::/0 "unreachable" entry on lo has RTF_REJECT (0x0200) set.
  for (const line of route6.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length >= 10 && /^0{32}$/.test(f[0]!) && f[1] === '00' && (parseInt(f[8]!, 16) & 0x0200) === 0) return `an IPv6 default route via ${f[9]}`;
  }
  return undefined;
}

// Loopback, the sandbox's 10.244.0.0/16, or IPv6 link-local (every interface has one).
function sandboxAddress(a: string): boolean {
  return /^127\./.test(a) || a === '::1' || /^10\.244\./.test(a) || /^fe[89ab][0-9a-f]:/i.test(a);
}

// The sandbox network this process runs in; throws NotInSandboxNetwork, naming the fix, when it
// runs anywhere else.
export function sandboxNetwork(): SandboxNetwork {
  if (process.env[NETNS_ENV] !== SANDBOX_BRIDGE) throw new NotInSandboxNetwork(`${NETNS_ENV} is not ${SANDBOX_BRIDGE}`);
  const ifaces = JSON.parse(execFileSync('ip', ['-j', 'addr', 'show'], { encoding: 'utf8' })) as Iface[];
  const problem = sandboxNetworkProblem(ifaces, readFileSync('/proc/net/route', 'utf8'), readFileSync('/proc/net/ipv6_route', 'utf8'));
  if (problem) throw new NotInSandboxNetwork(`${NETNS_ENV} is set, but this network namespace has ${problem}`);
  return { bridge: SANDBOX_BRIDGE, gateway: SANDBOX_GATEWAY, prefix: SANDBOX_PREFIX };
}

// Where the sandbox's own services (the API server, S3) listen and are reached: the bridge's
// address inside the sandbox network, where the pods reach them too; loopback outside it (a
// control plane or S3 server without pods). GRAFT_NETNS set in a namespace that fails the checks
// throws rather than fall back.
export function serviceHost(): string {
  return process.env[NETNS_ENV] ? sandboxNetwork().gateway : '127.0.0.1';
}
