import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { KWOK_STAGES } from './kwok-stages.js';
import { makePki, type Pki } from './pki.js';
import { Proc } from './proc.js';
import { freePort, waitFor } from './wait.js';
import { installCrds } from './crds.js';
import { createFakeNodes, type FakeNode } from './nodes.js';
import { serviceHost } from './netns.js';

export type Binaries = {
  etcd: string; kubeApiserver: string; kubeControllerManager?: string; kubeScheduler?: string; kwok?: string;
};

export type ControlPlaneOptions = {
  binaries: Binaries;
  // Also run kube-controller-manager, kube-scheduler and KWOK with fake GPU nodes.
  e2e?: boolean;
  crds?: boolean;
  nodes?: FakeNode[];
  dir?: string;
  verbose?: boolean;
};

// A real Kubernetes control plane: etcd and kube-apiserver, and for e2e the controller manager, the
// scheduler and KWOK playing the kubelet of fake nodes whose pod CIDRs lie in the sandbox network's
// 10.244.0.0/16 (netns.ts). The API server serves at the bridge's 10.244.0.1 inside the sandbox
// network (where pods reach it too), on loopback outside it; everything else stays on loopback.
// Every process it starts is stopped by stop(), and killed if the test process dies.
export class ControlPlane {
  kubeconfigPath = '';
  kubeConfig = new KubeConfig();
  server = '';
  dir = '';
  nodes: FakeNode[] = [];
  private pki!: Pki;
  private ownDir = false;
  private etcd?: Proc;
  private apiserver?: Proc;
  private others: Proc[] = [];

  // The control plane's process ids by name (etcd, kube-apiserver, …), for benchmarks that read
  // their CPU time.
  pids(): Record<string, number | undefined> {
    const out: Record<string, number | undefined> = {};
    for (const p of [this.etcd, this.apiserver, ...this.others]) if (p) out[p.name] = p.child.pid;
    return out;
  }
  private apiserverArgs: string[] = [];

  constructor(readonly opts: ControlPlaneOptions) {}

  async start(): Promise<this> {
    this.ownDir = !this.opts.dir;
    this.dir = this.opts.dir ?? (await mkdtemp(join(tmpdir(), 'graft-cp-')));
    await mkdir(join(this.dir, 'pki'), { recursive: true });
    this.pki = makePki(join(this.dir, 'pki'));
    try {
      await this.startEtcd();
      await this.startApiServerFirst();
      await this.writeKubeconfig();
      if (this.opts.crds !== false) await installCrds(this.kubeConfig);
      if (this.opts.e2e) await this.startE2e();
    } catch (err) {
      const logs = [this.etcd, this.apiserver, ...this.others].filter(Boolean).map((p) => `--- ${p!.name}\n${p!.output.slice(-4000)}`).join('\n');
      await this.stop();
      throw new Error(`control plane failed to start: ${(err as Error).message}\n${logs}`);
    }
    return this;
  }

  private async startEtcd(): Promise<void> {
    const client = await freePort(), peer = await freePort();
    this.etcd = new Proc('etcd', this.opts.binaries.etcd, [
      `--data-dir=${join(this.dir, 'etcd')}`,
      `--listen-client-urls=http://127.0.0.1:${client}`, `--advertise-client-urls=http://127.0.0.1:${client}`,
      `--listen-peer-urls=http://127.0.0.1:${peer}`, `--initial-advertise-peer-urls=http://127.0.0.1:${peer}`,
      `--initial-cluster=default=http://127.0.0.1:${peer}`, '--unsafe-no-fsync=true', '--log-level=warn',
      '--quota-backend-bytes=8589934592',
    ], { verbose: this.opts.verbose });
    await waitFor('etcd', async () => (await fetch(`http://127.0.0.1:${client}/health`)).ok, 30_000);
    this.apiserverArgs.push(`--etcd-servers=http://127.0.0.1:${client}`);
  }

  private async startApiServerFirst(): Promise<void> {
    const host = serviceHost();
    const port = await freePort(host);
    this.server = `https://${host}:${port}`;
    const p = this.pki;
    this.apiserverArgs.push(
      `--secure-port=${port}`, `--bind-address=${host}`, `--advertise-address=${host}`,
      `--cert-dir=${join(this.dir, 'pki')}`, `--tls-cert-file=${p.servingCert}`, `--tls-private-key-file=${p.servingKey}`,
      // A ClusterIP per Service: every Adapter has one (routing), so a /24 would run out at ~250.
      `--client-ca-file=${p.caCert}`, '--service-cluster-ip-range=10.0.0.0/16', '--authorization-mode=RBAC',
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${p.saPub}`, `--service-account-signing-key-file=${p.saKey}`,
      '--allow-privileged=true', '--endpoint-reconciler-type=none', '--enable-priority-and-fairness=false',
      '--disable-admission-plugins=ServiceAccount', '--event-ttl=1h', '--v=0',
    );
    await this.startApiServer();
  }

  async startApiServer(): Promise<void> {
    this.apiserver = new Proc('kube-apiserver', this.opts.binaries.kubeApiserver, this.apiserverArgs, { verbose: this.opts.verbose });
    const ca = await readFile(this.pki.caCert);
    const cert = await readFile(this.pki.adminCert), key = await readFile(this.pki.adminKey);
    const { Agent } = await import('node:https');
    const agent = new Agent({ ca, cert, key });
    const https = await import('node:https');
    await waitFor('kube-apiserver /readyz', () => new Promise<boolean>((resolve) => {
      if (!this.apiserver!.running) throw new Error(`kube-apiserver exited:\n${this.apiserver!.output.slice(-3000)}`);
      const req = https.get(`${this.server}/readyz`, { agent }, (res) => { res.resume(); resolve(res.statusCode === 200); });
      req.on('error', () => resolve(false));
    }), 90_000, 250);
  }

  async stopApiServer(): Promise<void> {
    await this.apiserver?.stop(10_000);
  }

  async restartApiServer(): Promise<void> {
    await this.stopApiServer();
    await this.startApiServer();
  }

  private async writeKubeconfig(): Promise<void> {
    const b64 = async (f: string) => (await readFile(f)).toString('base64');
    const yaml = [
      'apiVersion: v1', 'kind: Config', 'current-context: graft-sandbox',
      'clusters:', '- name: graft-sandbox', '  cluster:', `    server: ${this.server}`, `    certificate-authority-data: ${await b64(this.pki.caCert)}`,
      'users:', '- name: graft-admin', '  user:', `    client-certificate-data: ${await b64(this.pki.adminCert)}`, `    client-key-data: ${await b64(this.pki.adminKey)}`,
      'contexts:', '- name: graft-sandbox', '  context:', '    cluster: graft-sandbox', '    user: graft-admin', '    namespace: default', '',
    ].join('\n');
    this.kubeconfigPath = join(this.dir, 'kubeconfig');
    await writeFile(this.kubeconfigPath, yaml, { mode: 0o600 });
    this.kubeConfig = new KubeConfig();
    this.kubeConfig.loadFromFile(this.kubeconfigPath);
  }

  private async startE2e(): Promise<void> {
    const b = this.opts.binaries;
    if (!b.kubeControllerManager || !b.kubeScheduler || !b.kwok) throw new Error('e2e needs kube-controller-manager, kube-scheduler and kwok binaries');
    const kc = `--kubeconfig=${this.kubeconfigPath}`;
    this.others.push(new Proc('kube-controller-manager', b.kubeControllerManager, [
      kc, '--leader-elect=false', '--bind-address=127.0.0.1', `--secure-port=${await freePort()}`,
      `--service-account-private-key-file=${this.pki.saKey}`, `--root-ca-file=${this.pki.caCert}`,
      '--use-service-account-credentials=false', '--controllers=*,-nodeipam,-service-lb-controller,-cloud-node-lifecycle',
      '--node-monitor-grace-period=60s', '--concurrent-deployment-syncs=10', '--concurrent-replicaset-syncs=10',
      '--kube-api-qps=200', '--kube-api-burst=400', '--v=0',
    ], { verbose: this.opts.verbose }));
    this.others.push(new Proc('kube-scheduler', b.kubeScheduler, [
      kc, '--leader-elect=false', '--bind-address=127.0.0.1', `--secure-port=${await freePort()}`,
      `--authentication-kubeconfig=${this.kubeconfigPath}`, `--authorization-kubeconfig=${this.kubeconfigPath}`,
      '--kube-api-qps=200', '--kube-api-burst=400', '--v=0',
    ], { verbose: this.opts.verbose }));
    const kwokConfig = join(this.dir, 'kwok.yaml');
    await writeFile(kwokConfig, KWOK_STAGES);
    this.others.push(new Proc('kwok', b.kwok, [
      kc, `--config=${kwokConfig}`, '--manage-all-nodes=false',
      '--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake', '--node-ip=127.0.0.1',
      `--server-address=127.0.0.1:${await freePort()}`, '--node-lease-duration-seconds=40',
    ], { verbose: this.opts.verbose }));
    this.nodes = this.opts.nodes ?? [
      { name: 'gpu-node-1', podCIDR: '10.244.1.0/24', gpus: 8 },
      { name: 'gpu-node-2', podCIDR: '10.244.2.0/24', gpus: 8 },
    ];
    await createFakeNodes(this.kubeConfig, this.nodes);
  }

  async stop(): Promise<void> {
    for (const p of this.others.reverse()) await p.stop(5_000);
    this.others = [];
    await this.apiserver?.stop(10_000);
    await this.etcd?.stop(5_000);
    if (this.ownDir && !process.env.GRAFT_KEEP_SANDBOX) await rm(this.dir, { recursive: true, force: true });
  }
}

export async function startControlPlane(opts: ControlPlaneOptions): Promise<ControlPlane> {
  return new ControlPlane(opts).start();
}
