// What a benchmark reads about a process it started: resident memory and CPU seconds, from /proc.
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';

export function procStats(pid: number): { rssMb: number; peakMb: number; cpuS: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  const ticks = Number(stat[11]) + Number(stat[12]); // utime + stime
  return { rssMb: kb('VmRSS') / 1024, peakMb: kb('VmHWM') / 1024, cpuS: ticks / 100 };
}

// CPU seconds of several processes together (a process that is gone counts 0).
export function cpuSeconds(pids: Iterable<number | undefined>): number {
  let s = 0;
  for (const pid of pids) {
    if (pid === undefined) continue;
    try { s += procStats(pid).cpuS; } catch { /* exited */ }
  }
  return s;
}

// The machine's load average, printed beside every figure (the machine is shared).
export const loadAverage = () => loadavg().map((l) => l.toFixed(2)).join(' ');

// CPU seconds of the sandbox's kube-apiserver and etcd together: the cost of the writes a
// controller makes lands there, not in the controller.
export function controlPlaneCpuS(sb: { cp: { pids(): Record<string, number | undefined> } }): number {
  const p = sb.cp.pids();
  return cpuSeconds([p['kube-apiserver'], p.etcd]);
}
