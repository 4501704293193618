import type { V1Deployment, V1Pod } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { BaseModel, BaseModelSpec, type BaseModelStatus, type GatewayParentRef } from '../../api/basemodel.js';
import { applyOwned } from '../../runtime/apply.js';
import type { StatusWriter } from '../../runtime/status-writer.js';
import type { Clock } from '../../runtime/clock.js';
import { findCondition, removeCondition, setCondition, setStandardConditions, STALLED, type Condition, type Health } from '../../runtime/conditions.js';
import { ROUTED, routedCondition } from '../routing/route-status.js';
import type { ReconcileResult } from '../../runtime/controller.js';
import { apiStatus, isConflict } from '../../runtime/errors.js';
import type { EventRecorder } from '../../runtime/events.js';
import type { Cache } from '../../runtime/informer.js';
import type { KubeClient } from '../../runtime/kube-client.js';
import type { Kind, KubeObject } from '../../runtime/object.js';
import { controllerOf } from '../../runtime/owner.js';
import type { KeyRing } from '../../security/keys.js';
import { DeploymentKind, NetworkPolicyKind, SecretKind, ServiceKind } from '../kinds.js';
import { desiredService } from './children.js';
import { desiredDeployment } from './deployment.js';
import { desiredNetworkPolicy, type OperatorIdentity } from './network-policy.js';
import { foreignObject, hostPathAllowed, ownershipMessage } from './ownership.js';
import { SecretLedger } from './secret-ledger.js';
import { desiredSecrets } from './secrets.js';
import { networkPolicyName } from '../../contracts/names.js';
import { observe } from './status.js';
import { isOwnPod } from '../owned-pods.js';

export type BaseModelDeps = {
  client: KubeClient;
  basemodels: Cache<KubeObject>;
  deployments: Cache<KubeObject>;
  services: Cache<KubeObject>;
  networkPolicies: Cache<KubeObject>;
  pods: Cache<KubeObject>;
  replicaSets: Cache<KubeObject>;
  events: EventRecorder;
  clock: Clock;
  agentImage: string;
  status: StatusWriter;
  keyRing: KeyRing;
  allowedHostPaths: readonly string[];
  operator: OperatorIdentity;
  secrets: SecretLedger;
  // The HTTPRoutes routing writes for BaseModels that name a Gateway (their status becomes the
  // condition Routed); absent: no Routed condition.
  routes?: Cache<KubeObject>;
};

// A conflicting object is not in the caches (they hold only Graft's objects), so nothing requeues
// the BaseModel when its owner removes it: look again this often.
export const CONFLICT_RECHECK_MS = 60_000;

type Child = { kind: Kind; desired: KubeObject; cache: Cache<KubeObject> };

// One level-triggered pass over one BaseModel: refuse what it may not do (a hostPath outside the
// allowlist, a child's name taken by an object it does not own), make its Secrets when due, make
// its Service, Deployment and NetworkPolicy match the spec (writing only what differs), then
// write status from what Kubernetes reports. `signal` aborts when this process stops leading:
// every request of the pass carries it.
export async function reconcileBaseModel(
  deps: BaseModelDeps, namespace: string, name: string, log: Logger, signal?: AbortSignal,
): Promise<ReconcileResult | void> {
  const key = `${namespace}/${name}`;
  const raw = deps.basemodels.get(namespace, name);
  // Gone or going: the children go with it through their owner references.
  if (!raw || raw.metadata?.deletionTimestamp) {
    deps.secrets.forget(key);
    return;
  }
  const client = signal ? deps.client.withSignal(signal) : deps.client;
  const stalled = (reason: string, message: string) =>
    writeStatus(deps, raw, { ...statusOf(deps, raw), observedGeneration: raw.metadata?.generation }, { state: 'Stalled', reason, message }, log, signal);

  const parsed = BaseModelSpec.safeParse(raw.spec);
  if (!parsed.success) {
    return stalled('InvalidSpec', parsed.error.issues.map((i) => `spec.${i.path.join('.')}: ${i.message}`).join('; '));
  }
  const bm = { ...(raw as unknown as BaseModel), spec: parsed.data };
  const uid = raw.metadata!.uid!;

  const cacheSpec = bm.spec.storage.cache;
  if (cacheSpec.medium === 'hostPath' && !hostPathAllowed(cacheSpec.path!, deps.allowedHostPaths)) {
    const allowed = deps.allowedHostPaths.length ? deps.allowedHostPaths.join(',') : 'none';
    return stalled('HostPathNotAllowed', `spec.storage.cache.path: ${cacheSpec.path} is not inside a node folder the operator allows for hostPath caches `
      + `(its --allowed-host-paths flag: ${allowed}): ask the operator's admin to allow it, or use medium emptyDir or pvc`);
  }

  const children: Child[] = [
    { kind: ServiceKind, desired: desiredService(bm) as unknown as KubeObject, cache: deps.services },
    { kind: DeploymentKind, desired: desiredDeployment(bm, { agentImage: deps.agentImage }) as unknown as KubeObject, cache: deps.deployments },
  ];
  if (bm.spec.security.networkPolicy) {
    children.push({ kind: NetworkPolicyKind, desired: desiredNetworkPolicy(bm, deps.operator), cache: deps.networkPolicies });
  }
  // The caches hold only objects with Graft's labels; a name missing there may still be taken by
  // someone else's object, so read it once before applying over it (only then: a steady state
  // finds every child in its cache and sends nothing).
  const live = await Promise.all(children.map((c) => {
    const n = c.desired.metadata!.name!;
    return c.cache.get(namespace, n) ?? client.get<KubeObject>(c.kind, namespace, n);
  }));
  const conflicts = children.map((c, i) => foreignObject(live[i], c.kind.kind, uid)).filter((m): m is string => !!m);
  if (conflicts.length) {
    await stalled('OwnershipConflict', ownershipMessage(conflicts));
    return { requeueAfter: CONFLICT_RECHECK_MS };
  }

  const before = statusOf(deps, raw).conditions as Condition[] | undefined;
  if (deps.secrets.due(key, uid, before, deps.clock.now())) {
    await ensureSecrets(deps, client, bm, raw, log);
    deps.secrets.markEnsured(key, uid, deps.clock.now());
  }

  let deployment: V1Deployment | undefined;
  let deploymentChanged = false;
  for (const [i, c] of children.entries()) {
    const childName = c.desired.metadata!.name!;
    let outcome;
    try {
      outcome = await applyOwned(client, c.desired, undefined, live[i]);
      if (outcome !== 'unchanged') {
        log.info({ kind: c.kind.kind, name: childName, outcome }, `applied ${c.kind.kind}`);
        deps.events.event(raw, 'Normal', outcome === 'created' ? 'Created' : 'Updated', 'Apply',
          outcome === 'created' ? `created ${c.kind.kind} ${childName}` : `updated ${c.kind.kind} ${childName} to match the spec`);
      }
    } catch (err) {
      // The API server refused what the spec asks for (an invalid image reference, a quantity…):
      // nothing will change until the spec does.
      if (apiStatus(err) === 422) return stalled('InvalidSpec', (err as Error).message);
      throw err;
    }
    if (c.kind === DeploymentKind) {
      deployment = live[i] as V1Deployment | undefined;
      deploymentChanged = outcome === 'updated';
    }
  }
  if (!bm.spec.security.networkPolicy) await removeNetworkPolicy(deps, client, raw, log);

  // Only the pods of its own Deployment's ReplicaSets: a pod that merely carries the label is
  // not counted as an endpoint or as stuck.
  const owners = { replicaSet: (n: string) => deps.replicaSets.get(namespace, n), deployment: (n: string) => deps.deployments.get(namespace, n) };
  const pods = deps.pods.list(namespace).filter((p) => isOwnPod(p, { name, uid: raw.metadata?.uid }, owners)) as unknown as V1Pod[];
  const seen = observe(bm, deployment, pods);
  // The cached Deployment predates the change just applied: its status says nothing about it yet.
  if (deploymentChanged) seen.health = { state: 'Reconciling', reason: 'RollingOut', message: 'applied a change to the Deployment; waiting for the Deployment controller' };
  const status: BaseModelStatus = {
    observedGeneration: raw.metadata?.generation,
    replicas: seen.replicas,
    readyReplicas: seen.readyReplicas,
    selector: seen.selector,
    endpoints: seen.endpoints,
  };
  await writeStatus(deps, raw, status, seen.health, log, signal);
}

function statusOf(deps: BaseModelDeps, raw: KubeObject): BaseModelStatus {
  return (deps.status.current(raw) ?? {}) as BaseModelStatus;
}

async function writeStatus(deps: BaseModelDeps, raw: KubeObject, status: BaseModelStatus, health: Health, log: Logger, signal?: AbortSignal): Promise<void> {
  const before = statusOf(deps, raw).conditions as Condition[] | undefined;
  let conditions = setStandardConditions(before, health, raw.metadata?.generation, deps.clock.now());
  // Routed: what the Gateway says of the routes routing wrote (routing/route-status.ts).
  const gateway = (raw.spec as { routing?: { gateway?: GatewayParentRef } } | undefined)?.routing?.gateway;
  const routed = deps.routes && routedCondition(raw, gateway, deps.routes.served?.() ?? true, deps.routes.list(raw.metadata?.namespace));
  conditions = routed ? setCondition(conditions, { ...routed, observedGeneration: raw.metadata?.generation }, deps.clock.now()) : removeCondition(conditions, ROUTED);
  const next = { ...status, conditions };
  const wrote = await deps.status.write(raw, next as Record<string, unknown>, signal);
  if (!wrote) return;
  log.debug({ health }, 'status written');
  const wasRouted = findCondition(before, ROUTED);
  if (routed?.status === 'False' && (wasRouted?.status !== 'False' || wasRouted.reason !== routed.reason)) {
    deps.events.event(raw, 'Warning', routed.reason, 'Route', routed.message);
  }
  const wasStalled = findCondition(before, STALLED);
  if (health.state === 'Stalled' && (wasStalled?.status !== 'True' || wasStalled.reason !== health.reason)) {
    deps.events.event(raw, 'Warning', health.reason, 'Reconcile', health.message);
    log.warn({ reason: health.reason }, health.message);
  }
}

// Creates the Secrets the pods mount; one that exists (409) is left as it is, never rewritten.
// Its content is derived, so an existing Graft Secret already holds the right bytes; a foreign
// Secret of that name (unreadable to the operator) makes the agents refuse the operator's token,
// which the Adapters' status shows.
async function ensureSecrets(deps: BaseModelDeps, client: KubeClient, bm: BaseModel, raw: KubeObject, log: Logger): Promise<void> {
  for (const secret of desiredSecrets(bm, deps.keyRing)) {
    const secretName = secret.metadata!.name!;
    try {
      await client.create(SecretKind, secret as unknown as KubeObject);
      log.info({ secret: secretName }, 'created Secret');
      deps.events.event(raw, 'Normal', 'Created', 'Apply', `created Secret ${secretName}`);
    } catch (err) {
      if (!isConflict(err)) throw err;
    }
  }
}

// security.networkPolicy turned off: remove the policy Graft made (only its own, by uid).
async function removeNetworkPolicy(deps: BaseModelDeps, client: KubeClient, raw: KubeObject, log: Logger): Promise<void> {
  const npName = networkPolicyName(raw.metadata!.name!);
  const np = deps.networkPolicies.get(raw.metadata!.namespace, npName);
  if (!np || controllerOf(np)?.uid !== raw.metadata!.uid) return;
  if (await client.delete(NetworkPolicyKind, raw.metadata!.namespace, npName, { preconditionUid: np.metadata!.uid })) {
    log.info({ networkPolicy: npName }, 'deleted NetworkPolicy');
    deps.events.event(raw, 'Normal', 'Deleted', 'Delete', `deleted NetworkPolicy ${npName} (spec.security.networkPolicy is false)`);
  }
}
