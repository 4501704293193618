import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { readFile } from 'node:fs/promises';
import { graftCommand, PodRunner } from '../../src/sandbox/pod-runner.js';
import { rawRequest } from '../../src/sandbox/raw.js';
import { startControlPlane, type ControlPlane } from './control-plane.js';
import type { FakeNode } from '../../src/sandbox/nodes.js';
import { startOperator, type OperatorProc } from './operator.js';
import { toolPath } from './tools.js';
import { startVersityGw, type VersityGw } from './versitygw.js';

import { FIXTURES } from './fixtures-dir.js';

export { FIXTURES };
const repoRoot = join(import.meta.dirname, '..', '..');

// Everything `make demo` runs, for e2e tests: a control plane with KWOK nodes, an S3 server, the
// pod runner (agent + engine simulator per serving pod) and `graft operator`.
export type Sandbox = {
  cp: ControlPlane;
  gw: VersityGw;
  runner: PodRunner;
  operator: OperatorProc;
  upload(fixture: string, bucket: string, prefix: string, edit?: (file: string, bytes: Buffer) => Buffer): Promise<void>;
  restartOperator(): Promise<void>;
  stop(): Promise<void>;
};

export async function startSandbox(opts: { operatorArgs?: string[]; graft?: 'source' | 'compiled'; nodes?: FakeNode[]; s3Port?: number; s3SecretName?: string; operatorKubeconfig?: (cp: ControlPlane) => Promise<string> } = {}): Promise<Sandbox> {
  const from = opts.graft ?? 'source';
  const gw = await startVersityGw({ buckets: ['adapters'], port: opts.s3Port });
  const cp = await startControlPlane({ e2e: true, nodes: opts.nodes }).catch(async (err) => { await gw.stop(); throw err; });
  const workDir = await mkdtemp(join(tmpdir(), 'graft-pods-'));
  const runner = new PodRunner({ kubeConfig: cp.kubeConfig, simBinary: toolPath('llm-d-inference-sim'), graftCommand: graftCommand(repoRoot, from), workDir, pollMs: 300 });
  runner.start();
  const secret = await rawRequest(cp.kubeConfig, 'POST', '/api/v1/namespaces/default/secrets', {
    apiVersion: 'v1', kind: 'Secret', metadata: { name: opts.s3SecretName ?? 's3-creds' },
    stringData: { AWS_ACCESS_KEY_ID: gw.accessKey, AWS_SECRET_ACCESS_KEY: gw.secretKey },
  });
  if (secret.status !== 201) throw new Error(`creating s3-creds: ${secret.text}`);
  const args = ['--agent-image', 'ghcr.io/graft-dev/graft:e2e', '--sync-period', '30s', ...(opts.operatorArgs ?? ['--leader-elect=false'])];
  const operatorKubeconfig = opts.operatorKubeconfig ? await opts.operatorKubeconfig(cp) : cp.kubeconfigPath;
  let operator = await startOperator(operatorKubeconfig, args, {}, from);
  const sb: Sandbox = {
    cp, gw, runner, operator,
    async upload(fixture, bucket, prefix, edit) {
      const c = gw.client();
      try {
        for (const f of await readdir(join(FIXTURES, fixture))) {
          let body: Buffer = await readFile(join(FIXTURES, fixture, f));
          if (edit) body = edit(f, body);
          await c.send(new PutObjectCommand({ Bucket: bucket, Key: `${prefix}${f}`, Body: body }));
        }
      } finally { c.destroy(); }
    },
    async restartOperator() {
      await sb.operator.stop();
      operator = await startOperator(operatorKubeconfig, args, {}, from);
      sb.operator = operator;
    },
    async stop() {
      await sb.operator.stop().catch(() => {});
      await runner.stop();
      await cp.stop();
      await gw.stop();
      await rm(workDir, { recursive: true, force: true });
    },
  };
  return sb;
}

// The BaseModel the e2e tests and the demo serve adapters on: gpt2 (the fixtures' base model).
export function gpt2BaseModel(name: string, gw: VersityGw, spec: Record<string, unknown> = {}) {
  return {
    apiVersion: 'graft.dev/v1alpha1', kind: 'BaseModel', metadata: { name },
    spec: {
      model: { source: { uri: 'gpt2' } }, replicas: 3, adapters: { maxPerPod: 8, maxRank: 16 },
      storage: { s3: { endpoint: gw.endpoint, forcePathStyle: true, credentialsSecretRef: { name: 's3-creds' } } },
      ...spec,
    },
  };
}
