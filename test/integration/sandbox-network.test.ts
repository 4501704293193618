import { execFile, spawn } from 'node:child_process';
import { readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../src/sandbox/wait.js';
import { gpt2BaseModel, bmPath, kube, NS, podPath, podsOf, startSandbox, waitPods, type Obj, type Sandbox } from '../support/sandbox.js';
import { toolPath } from '../support/tools.js';

// The sandbox network (hack/netns.sh, src/sandbox/netns.ts, src/sandbox/pod-netns.ts): no route
// out of it, pods in namespaces of their own at their 10.244.N.x addresses that reach each other and
// the services at 10.244.0.1, namespaces and veths removed with their pods, and EndpointSlices
// filled by the real controller manager. TEST-NET-1 (192.0.2.1) stands for "anything outside":
// even a mistake there reaches nothing.
const run = promisify(execFile);
const root = join(import.meta.dirname, '..', '..');
const netnsSh = join(root, 'hack', 'netns.sh');
const OUTSIDE = '192.0.2.1';
// A connect's outcome, printed by a node process wherever it runs.
const connectScript = (host: string, port: number) => `const s = require('node:net').connect(${port}, '${host}');
s.on('connect', () => { console.log('CONNECTED'); process.exit(0); });
s.on('error', (e) => { console.log(e.code); process.exit(0); });
setTimeout(() => { console.log('TIMEOUT'); process.exit(0); }, 5000);`;
const fetchScript = (url: string) => `fetch('${url}').then((r) => console.log('HTTP', r.status), (e) => console.log('ERR', e.cause?.code ?? e.message));`;
const envWithout = (name: string) => Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== name)) as NodeJS.ProcessEnv;

async function netnsInodes(): Promise<Set<string>> {
  return new Set((await netnsProcs()).values());
}

// Each live process's network namespace (its `net:[inode]` link), by pid.
async function netnsProcs(): Promise<Map<number, string>> {
  const out = new Map<number, string>();
  for (const pid of (await readdir('/proc')).filter((d) => /^\d+$/.test(d))) {
    const ns = await readlink(`/proc/${pid}/ns/net`).catch(() => undefined);
    if (ns) out.set(Number(pid), ns);
  }
  return out;
}

describe('hack/netns.sh', () => {
  it('makes a namespace with lo and graft0 at 10.244.0.1/16 only, and no route out', async () => {
    // GRAFT_NETNS unset: a fresh namespace inside this one (a nested call with it set just runs).
    const fresh = async (...cmd: string[]) => (await run(netnsSh, cmd, { env: envWithout('GRAFT_NETNS') })).stdout.trim().split('\n').map((l) => l.trim()).filter(Boolean);
    expect(await fresh('sh', '-c', 'echo "$GRAFT_NETNS"')).toEqual(['graft0']);
    expect((await fresh('ip', '-o', '-4', 'addr', 'show')).map((l) => l.split(/\s+/).slice(1, 4).join(' '))).toEqual(['lo inet 127.0.0.1/8', 'graft0 inet 10.244.0.1/16']);
    expect(await fresh('ip', '-4', 'route', 'show')).toEqual(['10.244.0.0/16 dev graft0 proto kernel scope link src 10.244.0.1']);
    expect(await fresh('ip', '-6', 'route', 'show', 'default')).toEqual([]);
    expect(await fresh(process.execPath, '-e', connectScript(OUTSIDE, 80))).toEqual(['ENETUNREACH']);
  });

  it('called inside one already, runs the command there', async () => {
    const { stdout } = await run(netnsSh, ['readlink', '/proc/self/ns/net']);
    expect(stdout.trim()).toBe(await readlink('/proc/self/ns/net'));
  });

  it.runIf(process.getuid?.() === 0)('works for a user who is not root (in a user namespace of its own)', async () => {
    const { stdout } = await run('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', netnsSh, 'sh', '-c', 'echo "netns=$GRAFT_NETNS"; ip -o -4 addr show dev graft0; ip -4 route show default'], { env: envWithout('GRAFT_NETNS') });
    expect(stdout).toContain('netns=graft0');
    expect(stdout).toMatch(/graft0\s+inet 10\.244\.0\.1\/16/);
    expect(stdout).not.toContain('default');
  });
});

describe('the sandbox network check', () => {
  const check = `import('${join(root, 'src', 'sandbox', 'netns.ts')}').then((m) => { try { m.sandboxNetwork(); console.log('OK'); } catch (e) { console.log(e.message); } })`;

  it('refuses to run pods outside hack/netns.sh, naming the fix', async () => {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', '-e', check], { env: envWithout('GRAFT_NETNS'), cwd: root });
    expect(stdout).toContain('GRAFT_NETNS is not graft0');
    expect(stdout).toContain('hack/netns.sh');
    expect(stdout).toContain('make test');
  });

  it('refuses a namespace that has the bridge but also a default route', async () => {
    const setup = 'ip link set lo up; ip link add graft0 type bridge; ip addr add 10.244.0.1/16 dev graft0; ip link set graft0 up;'
      + ' ip link add out0 type veth peer name out1; ip link set out0 up; ip link set out1 up; ip route add default dev out0; exec "$@"';
    const { stdout } = await run('unshare', ['--net', '--', 'sh', '-ec', setup, 'sh', process.execPath, '--import', 'tsx', '-e', check], { cwd: root });
    expect(stdout).toContain('GRAFT_NETNS is set, but this network namespace has a default route via out0');
  });

  it('has no route out of the test runner\'s namespace: a connect outside fails at once', async () => {
    const t0 = Date.now();
    const { stdout } = await run(process.execPath, ['-e', connectScript(OUTSIDE, 80)]);
    expect(stdout.trim()).toBe('ENETUNREACH');
    expect(Date.now() - t0).toBeLessThan(5000); // the script's own timeout: no waiting for an answer
  });
});

describe('a pod namespace whose owner dies', () => {
  it('goes with it, veth and processes included, when the test process is killed (SIGKILL)', async () => {
    const script = `const { sandboxNetwork } = await import('${join(root, 'src', 'sandbox', 'netns.ts')}');
const { PodNetns } = await import('${join(root, 'src', 'sandbox', 'pod-netns.ts')}');
const { Proc } = await import('${join(root, 'src', 'sandbox', 'proc.ts')}');
const ns = await PodNetns.create(sandboxNetwork(), 'default/doomed', 'doomed-uid', '10.244.250.9');
const [cmd, args] = ns.wrap('sleep', ['600']);
const p = new Proc('doomed', cmd, args);
console.log('READY', ns.hostVeth, ns.inode, p.child.pid);
setInterval(() => {}, 1000);`;
    const owner = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    owner.stdout.on('data', (b: Buffer) => { out += b.toString(); });
    await waitFor('the owner to set the namespace up', () => out.includes('READY'), 30_000, 50);
    const [, veth, inode, pid] = /READY (\S+) (\S+) (\d+)/.exec(out)!;
    expect((await run('ip', ['-o', 'link', 'show', 'master', 'graft0'])).stdout).toContain(`${veth}@`);
    expect(await netnsInodes()).toContain(inode);
    owner.kill('SIGKILL');
    await waitFor('the pod\'s process to die with its owner', async () => !(await readlink(`/proc/${pid}/ns/net`).catch(() => undefined)), 10_000, 50);
    await waitFor('no process left in the namespace', async () => !(await netnsInodes()).has(inode!), 10_000, 50);
    await waitFor(`the veth ${veth} to go`, async () => !(await run('ip', ['-o', 'link', 'show', 'master', 'graft0'])).stdout.includes(`${veth}@`), 10_000, 50);
  });
});

describe('sandbox pods in namespaces of their own', () => {
  let sb: Sandbox;
  const BM = 'net';
  const inPod = async (key: string, script: string) => {
    const rp = sb.runner.pods.get(key)!;
    const [cmd, args] = rp.netns.wrap(process.execPath, ['-e', script]);
    return (await run(cmd, args)).stdout.trim();
  };

  beforeAll(async () => {
    // Three nodes: two replicas on two different ones, and room for a replacement.
    sb = await startSandbox({ nodes: [11, 12, 13].map((n, i) => ({ name: `gpu-node-${i + 1}`, podCIDR: `10.244.${n}.0/24`, gpus: 8 })) });
    const spread = { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchLabels: { 'graft.dev/basemodel': BM } }, topologyKey: 'kubernetes.io/hostname' }] } };
    await kube(sb).post(bmPath(), gpt2BaseModel(BM, sb.gw, { replicas: 2, affinity: spread }));
    await waitPods(sb, BM, 2);
  });
  afterAll(async () => {
    await sb?.stop();
  });

  it('gives each pod its node\'s 10.244.N.x address, the engine on its spec port 8000 and the agent on 8095', async () => {
    const pods = podsOf(sb, BM).map((name) => sb.runner.pods.get(`${NS}/${name}`)!);
    const nodes = new Map(sb.cp.nodes.map((n) => [n.name, n.podCIDR]));
    const nodeOf = async (name: string) => (await kube(sb).get(podPath(name)))!.spec.nodeName as string;
    const placed = await Promise.all(pods.map(async (rp) => ({ rp, node: await nodeOf(rp.key.split('/')[1]!) })));
    expect(new Set(placed.map((p) => p.node)).size).toBe(2);
    expect(sb.cp.nodes.map((n) => n.podCIDR)).toEqual(['10.244.11.0/24', '10.244.12.0/24', '10.244.13.0/24']);
    for (const { rp, node } of placed) {
      expect(rp.ip.split('.').slice(0, 3).join('.')).toBe(nodes.get(node)!.split('.').slice(0, 3).join('.'));
      expect(rp.enginePort).toBe(8000);
      expect(rp.engineUrl).toBe(`http://${rp.ip}:8000`);
      expect(rp.agentUrl).toBe(`https://${rp.ip}:8095`);
      expect((await fetch(`${rp.engineUrl}/v1/models`)).status).toBe(200);
      // Inside, eth0 holds the pod's address and the default route goes to the bridge.
      const [cmd, args] = rp.netns.wrap('ip', ['-o', '-4', 'addr', 'show', 'dev', 'eth0']);
      expect((await run(cmd, args)).stdout).toContain(`inet ${rp.ip}/16`);
      const [rc, rargs] = rp.netns.wrap('ip', ['-4', 'route', 'show', 'default']);
      expect((await run(rc, rargs)).stdout.trim()).toBe('default via 10.244.0.1 dev eth0');
    }
  });

  it('lets pods on different nodes reach each other and the services at 10.244.0.1, and nothing outside', async () => {
    const [a, b] = podsOf(sb, BM).map((name) => sb.runner.pods.get(`${NS}/${name}`)!);
    expect(await inPod(a!.key, fetchScript(`${b!.engineUrl}/v1/models`))).toBe('HTTP 200');
    expect(await inPod(b!.key, fetchScript(`${a!.engineUrl}/v1/models`))).toBe('HTTP 200');
    // The pod's own engine at 127.0.0.1:8000, as its agent calls it.
    expect(await inPod(a!.key, fetchScript('http://127.0.0.1:8000/v1/models'))).toBe('HTTP 200');
    // S3 at the bridge's address answers (403: no signature), as does the API server.
    expect(sb.gw.endpoint).toMatch(/^http:\/\/10\.244\.0\.1:\d+$/);
    expect(await inPod(a!.key, fetchScript(`${sb.gw.endpoint}/`))).toBe('HTTP 403');
    expect(sb.cp.server).toMatch(/^https:\/\/10\.244\.0\.1:\d+$/);
    expect(await inPod(a!.key, connectScript('10.244.0.1', Number(new URL(sb.cp.server).port)))).toBe('CONNECTED');
    // Another pod's loopback is its own.
    expect(await inPod(a!.key, connectScript('127.0.0.1', 1))).toBe('ECONNREFUSED');
    expect(await inPod(a!.key, connectScript(OUTSIDE, 80))).toBe('ENETUNREACH');
  });

  it('fills the BaseModel Service\'s EndpointSlice with the pods\' addresses and the engine port, with no loopback refusals', async () => {
    const ips = podsOf(sb, BM).map((name) => sb.runner.pods.get(`${NS}/${name}`)!.ip).sort();
    let slices: Obj[] = [];
    await waitFor('the Service\'s EndpointSlice to list both pods, ready', async () => {
      const { stdout } = await run(toolPath('kubectl'), ['--kubeconfig', sb.cp.kubeconfigPath, 'get', 'endpointslices', '-n', NS, '-l', `kubernetes.io/service-name=${BM}`, '-o', 'json']);
      slices = (JSON.parse(stdout) as Obj).items as Obj[];
      const ready = slices.flatMap((s) => (s.endpoints ?? []) as Obj[]).filter((e) => e.conditions?.ready).flatMap((e) => e.addresses as string[]).sort();
      return JSON.stringify(ready) === JSON.stringify(ips);
    }, 60_000, 500).catch((err: Error) => { throw new Error(`${err.message}\nslices: ${JSON.stringify(slices)}`); });
    expect(slices.flatMap((s) => s.ports)).toEqual([{ name: 'http', port: 8000, protocol: 'TCP' }]);
    const events = ((await kube(sb).get(`/api/v1/namespaces/${NS}/events`))!.items as Obj[]).map((e) => `${e.reason}: ${e.message}`);
    expect(events.filter((e) => /loopback/.test(e))).toEqual([]);
  });

  it('removes a pod\'s namespace and veth when the pod is deleted', async () => {
    const name = podsOf(sb, BM)[0]!;
    const rp = sb.runner.pods.get(`${NS}/${name}`)!;
    const { hostVeth, inode } = rp.netns;
    expect((await run('ip', ['-o', 'link', 'show', 'master', 'graft0'])).stdout).toContain(`${hostVeth}@`);
    expect(await netnsInodes()).toContain(inode);
    await kube(sb).del(podPath(name));
    await waitFor(`the veth ${hostVeth} to go`, async () => !(await run('ip', ['-o', 'link', 'show', 'master', 'graft0'])).stdout.includes(`${hostVeth}@`), 60_000, 100);
    // The kernel hands a freed namespace's inode number to the next namespace made, and the
    // replacement pod makes one at once: a process in `inode` is left over only when it is none of
    // the running pods' own.
    const ours = () => new Set([...sb.runner.pods.values()].flatMap((p) => [p.netns.holderPid, p.agent.child.pid, p.engine.child.pid]));
    let left: number[] = [];
    await waitFor('no process left in the pod\'s namespace', async () => {
      const own = ours();
      left = [...(await netnsProcs())].filter(([pid, ns]) => ns === inode && !own.has(pid)).map(([pid]) => pid);
      return left.length === 0;
    }, 10_000, 100).catch((err: Error) => { throw new Error(`${err.message}; left: ${left.join(', ')}`); });
    for (const pid of [rp.netns.holderPid, rp.agent.child.pid, rp.engine.child.pid]) expect(await readlink(`/proc/${pid}/ns/net`).catch(() => 'gone')).toBe('gone');
    expect(rp.agent.running || rp.engine.running).toBe(false);
    // The Deployment's replacement gets a namespace of its own.
    await waitPods(sb, BM, 2);
    expect(podsOf(sb, BM)).not.toContain(name);
  });
});
