import { ControlPlane, type ControlPlaneOptions } from '../../src/sandbox/control-plane.js';
import { toolPath } from './tools.js';

export type { ControlPlane };

// Starts a real control plane for a test file, with the pinned binaries (built when missing).
export async function startControlPlane(opts: Omit<ControlPlaneOptions, 'binaries'> = {}): Promise<ControlPlane> {
  const binaries: ControlPlaneOptions['binaries'] = { etcd: toolPath('etcd'), kubeApiserver: toolPath('kube-apiserver') };
  if (opts.e2e) {
    binaries.kubeControllerManager = toolPath('kube-controller-manager');
    binaries.kubeScheduler = toolPath('kube-scheduler');
    binaries.kwok = toolPath('kwok');
  }
  return new ControlPlane({ ...opts, binaries }).start();
}
