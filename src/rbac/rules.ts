// The one list of Kubernetes permissions the operator uses, each with the reason it needs it.
// Everything that grants the operator rights is rendered from here: manifests/rbac/ (by
// `graft generate`, which fails `--check` on drift), the Helm chart, docs/rbac.md's table. A call
// the controllers make that is not listed here fails with 403 in test/integration/rbac.test.ts.
//
// Three scopes:
// - WATCHED_NAMESPACE_RULES: granted in every namespace the operator watches (a Role and
//   RoleBinding per namespace with `--namespaces a,b`, or one ClusterRole bound cluster-wide when
//   it watches all namespaces);
// - ownNamespaceRules(): granted in the operator's own namespace only (always a Role): the
//   leader-election Lease and the master key Secret, both by name where RBAC allows it;
// - CLUSTER_RULES: cluster-scoped resources. None: the operator reads no CRDs, nodes or
//   namespaces at run time (API discovery is open to every authenticated user).
//
// Secrets in watched namespaces: `create` only. The per-BaseModel Secrets are derived from the
// master key (src/security/keys.ts), so the operator never reads a Secret there, not even its own.
//
// Stable API (the chart renders from it): the Rule type, the three exports above and
// OWN_NAMESPACE_DEFAULTS. Add rules; do not rename fields.
import { DEFAULT_MASTER_KEY_SECRET } from '../security/master-key.js';

export type Rule = {
  /** '' is the core group. */
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  /** Limits the verbs to these object names. RBAC cannot limit `create`, `list` or `watch` this way. */
  resourceNames?: string[];
  /** Why the operator needs it: which code makes the call. */
  why: string;
};

export const WATCHED_NAMESPACE_RULES: readonly Rule[] = [
  {
    apiGroups: ['graft.dev'], resources: ['basemodels'], verbs: ['list', 'watch'],
    why: 'the informer cache both controllers read BaseModels from',
  },
  {
    apiGroups: ['graft.dev'], resources: ['adapters'], verbs: ['list', 'watch', 'patch'],
    why: 'the Adapter cache; patch adds and removes the graft.dev/unload finalizer (a JSON patch with a test op)',
  },
  {
    apiGroups: ['graft.dev'], resources: ['basemodels/status', 'adapters/status'], verbs: ['patch'],
    why: 'status, written as a merge patch (field manager graft) only when it changed',
  },
  {
    apiGroups: ['apps'], resources: ['deployments'], verbs: ['get', 'list', 'watch', 'create', 'patch'],
    why: "each BaseModel's serving Deployment: cached by the label app.kubernetes.io/managed-by=graft; get reads a name missing from the cache once, to refuse taking over someone else's object (OwnershipConflict); written by server-side apply (a patch; create when it does not exist yet)",
  },
  {
    apiGroups: ['apps'], resources: ['replicasets'], verbs: ['list', 'watch'],
    why: "which pods the BaseModel's Deployment owns (pod -> ReplicaSet -> Deployment); cached by the label graft.dev/basemodel",
  },
  {
    apiGroups: [''], resources: ['services'], verbs: ['get', 'list', 'watch', 'create', 'patch'],
    why: "each BaseModel's engine Service: as for Deployments (cached by label, get for a name missing from the cache, server-side apply)",
  },
  {
    apiGroups: [''], resources: ['pods'], verbs: ['list', 'watch'],
    why: 'serving pods, for status and placement: their addresses and readiness; cached by the label graft.dev/basemodel. The AdapterSet controller also lists its merge Jobs\' pods (not cached) to read their termination message',
  },
  {
    apiGroups: [''], resources: ['secrets'], verbs: ['create'],
    why: 'the agent token, engine key and agent TLS Secrets of each BaseModel, created once and never read back (their contents are derived from the master key)',
  },
  {
    apiGroups: ['networking.k8s.io'], resources: ['networkpolicies'], verbs: ['get', 'list', 'watch', 'create', 'patch', 'delete'],
    why: "each BaseModel's NetworkPolicy admitting only the operator to the agent port: as for Deployments, and deleted when spec.security.networkPolicy is turned off",
  },
  {
    apiGroups: ['graft.dev'], resources: ['adaptersets'], verbs: ['list', 'watch'],
    why: 'the AdapterSet controller\'s informer cache (src/controllers/adapterset.ts)',
  },
  {
    apiGroups: ['graft.dev'], resources: ['adaptersets/status'], verbs: ['patch'],
    why: 'AdapterSet status (decisions, modules, versions), written as a merge patch only when it changed',
  },
  {
    apiGroups: ['graft.dev'], resources: ['adapters'], verbs: ['create'],
    why: 'the AdapterSet controller serves each module as a child Adapter, written by server-side apply; an apply that makes the object needs create as well as patch',
  },
  {
    apiGroups: ['batch'], resources: ['jobs'], verbs: ['list', 'watch', 'create', 'delete'],
    why: "each AdapterSet step runs as a merge Job (src/controllers/adapterset/job.ts): cached by the label app.kubernetes.io/managed-by=graft, created per task, deleted to retry a failed one",
  },
  {
    apiGroups: [''], resources: ['services'], verbs: ['delete'],
    why: "routing removes an Adapter's Service (only its own, by uid) as soon as the Adapter is being deleted: its unload finalizer may keep the Adapter, and so garbage collection of the Service, for minutes",
  },
  {
    apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['get', 'list', 'watch', 'create', 'patch', 'delete'],
    why: "routing's one EndpointSlice per Adapter (the ready pods where its current version is Loaded): cached by the label app.kubernetes.io/managed-by=graft, get for a name missing from the cache (OwnershipConflict), server-side apply, deleted with the Service while the Adapter is being deleted or to change its address type",
  },
  {
    apiGroups: ['gateway.networking.k8s.io'], resources: ['httproutes'], verbs: ['get', 'list', 'watch', 'create', 'patch', 'delete'],
    why: "the HTTPRoutes of a BaseModel that names a Gateway (spec.routing.gateway): cached by the label app.kubernetes.io/managed-by=graft (their status is the BaseModel's condition Routed), get for a name missing from the cache, server-side apply, deleted when no longer wanted. Unused where the Gateway API is not installed",
  },
  {
    apiGroups: ['events.k8s.io'], resources: ['events'], verbs: ['create', 'patch'],
    why: 'events on BaseModels and Adapters; patch updates the series count of a repeated event',
  },
];

export type OwnNamespaceNames = {
  /** The leader-election Lease (--leader-election-id). */
  leaseName: string;
  /** The master key Secret (--master-key-secret). */
  masterKeySecret: string;
};

export const OWN_NAMESPACE_DEFAULTS: OwnNamespaceNames = { leaseName: 'graft-operator', masterKeySecret: DEFAULT_MASTER_KEY_SECRET };

/** Rules in the operator's own namespace, for the Lease and master key names the operator is started with. */
export function ownNamespaceRules(names: OwnNamespaceNames = OWN_NAMESPACE_DEFAULTS): Rule[] {
  return [
    {
      apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'update'], resourceNames: [names.leaseName],
      why: 'leader election: read and renew the Lease, by name',
    },
    {
      apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create'],
      why: 'leader election: make the Lease on first start (RBAC cannot limit create to a name: the name is in the body, not the URL)',
    },
    {
      apiGroups: [''], resources: ['secrets'], verbs: ['get'], resourceNames: [names.masterKeySecret],
      why: 'the master key every per-BaseModel secret is derived from: read by name, no other Secret',
    },
    {
      apiGroups: [''], resources: ['secrets'], verbs: ['create'],
      why: 'make the master key on first start (RBAC cannot limit create to a name; the operator cannot read back any other Secret it creates here)',
    },
  ];
}

export const OWN_NAMESPACE_RULES: readonly Rule[] = ownNamespaceRules();

export const CLUSTER_RULES: readonly Rule[] = [];
