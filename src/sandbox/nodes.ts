import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';

export type FakeNode = { name: string; podCIDR: string; gpus: number; labels?: Record<string, string> };

// Fake GPU nodes that KWOK manages (the annotation selects them). Their pod CIDRs are 10.244.N.0/24
// (N ≥ 1) in the sandbox network (netns.ts): the pod runners give each pod a network namespace at
// the address KWOK hands out.
export async function createFakeNodes(kc: KubeConfig, nodes: FakeNode[]): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  for (const n of nodes) {
    const m = /^10\.244\.(\d{1,3})\.0\/24$/.exec(n.podCIDR);
    if (!m || Number(m[1]) < 1 || Number(m[1]) > 255) throw new Error(`fake node ${n.name}: podCIDR ${n.podCIDR} must be 10.244.N.0/24 with N from 1 to 255 (the sandbox network's pod range; 10.244.0.0/24 holds its bridge)`);
  }
  for (const n of nodes) {
    const capacity = { cpu: '64', memory: '512Gi', pods: '110', 'nvidia.com/gpu': String(n.gpus) };
    await core.createNode({
      body: {
        metadata: {
          name: n.name,
          annotations: { 'kwok.x-k8s.io/node': 'fake', 'node.alpha.kubernetes.io/ttl': '0' },
          labels: { 'kubernetes.io/hostname': n.name, 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64', type: 'kwok', 'nvidia.com/gpu.present': 'true', ...n.labels },
        },
        spec: { podCIDR: n.podCIDR, podCIDRs: [n.podCIDR] },
        status: { capacity, allocatable: capacity },
      },
    });
  }
}
