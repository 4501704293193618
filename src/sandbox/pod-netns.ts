// A sandbox pod's own network namespace, as a container runtime makes one: held by a process of
// its own (`unshare --net sleep`, the stand-in for the pause container), with lo up and a veth pair:
// the pod's end is eth0 at the pod's IP/16 with a default route via the bridge's address, the other
// end hangs on the sandbox bridge (netns.ts). The pod's processes run inside it (wrap()), so they
// bind their spec's ports on their own addresses, reach their own 127.0.0.1, and pods, the test
// runner and the services at 10.244.0.1 reach each other over the bridge, as in a cluster.
//
// No leaks: destroy() stops the holder and deletes the veth (the kernel frees the namespace when
// its last process is gone). The holder and every process wrap() starts get SIGKILL when the
// process that started them dies (setpriv --pdeathsig), so a test process that is killed leaves
// neither processes nor namespaces nor veths behind.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readlink } from 'node:fs/promises';
import { promisify } from 'node:util';
import { Proc } from './proc.js';
import type { SandboxNetwork } from './netns.js';
import { waitFor } from './wait.js';

const run = promisify(execFile);

// The host end's name: 15 characters at most (IFNAMSIZ), unique per pod uid.
export function vethName(podUid: string): string {
  return `gv${createHash('sha256').update(podUid).digest('hex').slice(0, 10)}`;
}

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

export class PodNetns {
  private constructor(readonly key: string, readonly ip: string, readonly hostVeth: string, private readonly holder: Proc, readonly inode: string) {}

  // The namespace's path, for nsenter.
  get path(): string {
    return `/proc/${this.holderPid}/ns/net`;
  }

  // The process that holds the namespace (the pause container's stand-in).
  get holderPid(): number {
    return this.holder.child.pid!;
  }

  static async create(net: SandboxNetwork, key: string, podUid: string, ip: string): Promise<PodNetns> {
    const m = IPV4.exec(ip);
    if (!m || m.slice(1).some((o) => Number(o) > 255) || !ip.startsWith(net.gateway.split('.').slice(0, 2).join('.') + '.') || ip === net.gateway) {
      throw new Error(`pod ${key}: its IP ${ip} is not a pod address of the sandbox network (${net.gateway}/${net.prefix}); the fake nodes' pod CIDRs must be 10.244.N.0/24`);
    }
    const hostVeth = vethName(podUid);
    // A leftover of the same pod (an earlier start that failed half-way) goes first.
    await run('ip', ['link', 'del', hostVeth]).catch(() => {});
    const holder = new Proc(`netns ${key}`, 'setpriv', ['--pdeathsig', 'KILL', '--', 'unshare', '--net', '--', 'sleep', 'infinity']);
    try {
      const own = await readlink('/proc/self/ns/net');
      let inode = '';
      await waitFor(`the network namespace of ${key}`, async () => {
        if (!holder.running) throw new Error(`unshare exited: ${holder.output.slice(-1000)}`);
        inode = await readlink(`/proc/${holder.child.pid}/ns/net`);
        return inode !== own;
      }, 10_000, 5);
      const ns = new PodNetns(key, ip, hostVeth, holder, inode);
      await run('ip', ['link', 'add', hostVeth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', String(holder.child.pid)]);
      await run('ip', ['link', 'set', hostVeth, 'master', net.bridge, 'up']);
      await run('nsenter', [`--net=${ns.path}`, '--', 'sh', '-ec',
        'ip link set lo up; ip addr add "$1" dev eth0; ip link set eth0 up; ip route add default via "$2"', 'sh', `${ip}/${net.prefix}`, net.gateway]);
      return ns;
    } catch (err) {
      await holder.kill();
      await run('ip', ['link', 'del', hostVeth]).catch(() => {});
      throw new Error(`pod ${key}: could not set up its network namespace: ${(err as Error).message}`, { cause: err });
    }
  }

  // The command line that runs cmd inside this namespace, killed when this process dies.
  wrap(cmd: string, args: string[]): [string, string[]] {
    return ['nsenter', [`--net=${this.path}`, '--', 'setpriv', '--pdeathsig', 'KILL', '--', cmd, ...args]];
  }

  // Stop the pod's processes first; this removes the namespace's holder and the veth pair.
  async destroy(): Promise<void> {
    await this.holder.kill();
    // Deleting one end deletes both, at once (the kernel frees an unused namespace a little later).
    await run('ip', ['link', 'del', this.hostVeth]).catch(() => {});
  }
}
