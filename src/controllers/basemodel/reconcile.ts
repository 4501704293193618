import type { V1Deployment, V1Pod } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { BaseModel, BaseModelSpec, type BaseModelStatus } from '../../api/basemodel.js';
import { applyOwned } from '../../runtime/apply.js';
import type { StatusWriter } from '../../runtime/status-writer.js';
import type { Clock } from '../../runtime/clock.js';
import { findCondition, setStandardConditions, STALLED, type Condition, type Health } from '../../runtime/conditions.js';
import { apiStatus, isConflict } from '../../runtime/errors.js';
import type { EventRecorder } from '../../runtime/events.js';
import type { Cache } from '../../runtime/informer.js';
import type { KubeClient } from '../../runtime/kube-client.js';
import type { KubeObject } from '../../runtime/object.js';
import { SecretKind } from '../kinds.js';
import { desiredService, newTokenSecret } from './children.js';
import { desiredDeployment } from './deployment.js';
import { deploymentName, LABEL_BASEMODEL, serviceName, tokenSecretName } from '../../contracts/names.js';
import { observe } from './status.js';

export type BaseModelDeps = {
  client: KubeClient;
  basemodels: Cache<KubeObject>;
  deployments: Cache<KubeObject>;
  services: Cache<KubeObject>;
  secrets: Cache<KubeObject>;
  pods: Cache<KubeObject>;
  events: EventRecorder;
  clock: Clock;
  agentImage: string;
  status: StatusWriter;
};

// One level-triggered pass over one BaseModel: make its token Secret, Service and Deployment match
// the spec (writing only what differs), then write status from what Kubernetes reports.
export async function reconcileBaseModel(deps: BaseModelDeps, namespace: string, name: string, log: Logger): Promise<void> {
  const raw = deps.basemodels.get(namespace, name);
  // Gone or going: the children go with it through their owner references.
  if (!raw || raw.metadata?.deletionTimestamp) return;

  const parsed = BaseModelSpec.safeParse(raw.spec);
  if (!parsed.success) {
    const message = parsed.error.issues.map((i) => `spec.${i.path.join('.')}: ${i.message}`).join('; ');
    await writeStatus(deps, raw, { ...statusOf(deps, raw), observedGeneration: raw.metadata?.generation }, { state: 'Stalled', reason: 'InvalidSpec', message }, log);
    return;
  }
  const bm = { ...(raw as unknown as BaseModel), spec: parsed.data };

  await ensureTokenSecret(deps, bm, log);

  const svc = desiredService(bm) as unknown as KubeObject;
  const svcOutcome = await applyOwned(deps.client, svc, undefined, deps.services.get(namespace, serviceName(name)));
  if (svcOutcome !== 'unchanged') {
    log.info({ service: serviceName(name), outcome: svcOutcome }, 'applied Service');
    deps.events.event(raw, 'Normal', svcOutcome === 'created' ? 'Created' : 'Updated', 'Apply', `${svcOutcome} Service ${serviceName(name)}`);
  }

  const dep = desiredDeployment(bm, { agentImage: deps.agentImage }) as unknown as KubeObject;
  const liveDep = deps.deployments.get(namespace, deploymentName(name));
  let deployment = liveDep as V1Deployment | undefined;
  try {
    const outcome = await applyOwned(deps.client, dep, undefined, liveDep);
    if (outcome !== 'unchanged') {
      log.info({ deployment: deploymentName(name), outcome }, 'applied Deployment');
      deps.events.event(raw, 'Normal', outcome === 'created' ? 'Created' : 'Updated', 'Apply',
        outcome === 'created' ? `created Deployment ${deploymentName(name)}` : `updated Deployment ${deploymentName(name)} to match the spec`);
    }
  } catch (err) {
    // The API server refused what the spec asks for (an invalid image reference, a quantity…):
    // nothing will change until the spec does.
    if (apiStatus(err) === 422) {
      await writeStatus(deps, raw, { ...statusOf(deps, raw), observedGeneration: raw.metadata?.generation }, { state: 'Stalled', reason: 'InvalidSpec', message: (err as Error).message }, log);
      return;
    }
    throw err;
  }

  const pods = deps.pods.list(namespace).filter((p) => p.metadata?.labels?.[LABEL_BASEMODEL] === name) as unknown as V1Pod[];
  const seen = observe(bm, deployment, pods);
  const status: BaseModelStatus = {
    observedGeneration: raw.metadata?.generation,
    replicas: seen.replicas,
    readyReplicas: seen.readyReplicas,
    endpoints: seen.endpoints,
  };
  await writeStatus(deps, raw, status, seen.health, log);
}

function statusOf(deps: BaseModelDeps, raw: KubeObject): BaseModelStatus {
  return (deps.status.current(raw) ?? {}) as BaseModelStatus;
}

async function writeStatus(deps: BaseModelDeps, raw: KubeObject, status: BaseModelStatus, health: Health, log: Logger): Promise<void> {
  const before = statusOf(deps, raw).conditions as Condition[] | undefined;
  const conditions = setStandardConditions(before, health, raw.metadata?.generation, deps.clock.now());
  const next = { ...status, conditions };
  const wrote = await deps.status.write(raw, next as Record<string, unknown>);
  if (!wrote) return;
  log.debug({ health }, 'status written');
  const wasStalled = findCondition(before, STALLED);
  if (health.state === 'Stalled' && (wasStalled?.status !== 'True' || wasStalled.reason !== health.reason)) {
    deps.events.event(raw, 'Warning', health.reason, 'Reconcile', health.message);
    log.warn({ reason: health.reason }, health.message);
  }
}

// The agent token is made once; an existing Secret is never rewritten, so the token never
// rotates by accident (delete the Secret to rotate it: a new one is made and pods pick it up).
async function ensureTokenSecret(deps: BaseModelDeps, bm: BaseModel, log: Logger): Promise<void> {
  const ns = bm.metadata.namespace!, name = tokenSecretName(bm.metadata.name!);
  if (deps.secrets.get(ns, name)) return;
  try {
    await deps.client.create(SecretKind, newTokenSecret(bm) as unknown as KubeObject);
    log.info({ secret: name }, 'created agent token Secret');
    deps.events.event(bm as unknown as KubeObject, 'Normal', 'Created', 'Apply', `created Secret ${name} with the agent token`);
  } catch (err) {
    if (!isConflict(err)) throw err; // 409: it exists and the cache has not seen it yet
  }
}
