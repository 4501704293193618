import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';

export type FakeNode = { name: string; podCIDR: string; gpus: number; labels?: Record<string, string> };

// Fake GPU nodes that KWOK manages (the annotation selects them). Their pod CIDR lies in 127.0.0.0/8,
// so each pod's address is a loopback address the pod runner can bind.
export async function createFakeNodes(kc: KubeConfig, nodes: FakeNode[]): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
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
