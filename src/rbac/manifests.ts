// The operator's RBAC objects, rendered from src/rbac/rules.ts, and the YAML files `graft generate`
// writes under manifests/rbac/. Each rule's `why` becomes the comment above it, so the manifest a
// user applies says what each permission is for.
//
// Two install modes share the ServiceAccount and the own-namespace Role:
// - cluster-wide (the operator started without --namespaces): one ClusterRole bound by a
//   ClusterRoleBinding;
// - namespaced (`--namespaces a,b`): a Role and RoleBinding in each watched namespace, stamped
//   from namespaced.yaml by replacing WATCHED_NAMESPACE (docs/rbac.md shows how).
import { Document, isMap, isSeq } from 'yaml';
import { CLUSTER_RULES, OWN_NAMESPACE_DEFAULTS, WATCHED_NAMESPACE_RULES, ownNamespaceRules, type OwnNamespaceNames, type Rule } from './rules.js';

export const RBAC_API_VERSION = 'rbac.authorization.k8s.io/v1';
/** The placeholder namespaced.yaml carries where the watched namespace goes. */
export const WATCHED_NAMESPACE_PLACEHOLDER = 'WATCHED_NAMESPACE';

export type RbacNames = OwnNamespaceNames & {
  /** The operator's namespace: its ServiceAccount, Lease and master key live there. */
  operatorNamespace: string;
  serviceAccount: string;
  /** The ClusterRole, or the Role in each watched namespace. */
  roleName: string;
  /** The Role in the operator's own namespace (a different name: the operator may also watch its own namespace). */
  ownRoleName: string;
};

export const DEFAULT_RBAC_NAMES: RbacNames = {
  ...OWN_NAMESPACE_DEFAULTS,
  operatorNamespace: 'graft-system',
  serviceAccount: 'graft-operator',
  roleName: 'graft-operator',
  ownRoleName: 'graft-operator-own-namespace',
};

type Obj = Record<string, unknown>;
const LABELS = { 'app.kubernetes.io/name': 'graft', 'app.kubernetes.io/component': 'operator' };

/** A rule as the API takes it (without `why`). */
export function policyRule(r: Rule): Obj {
  return { apiGroups: r.apiGroups, resources: r.resources, ...(r.resourceNames ? { resourceNames: r.resourceNames } : {}), verbs: r.verbs };
}

function meta(name: string, namespace?: string): Obj {
  return { name, ...(namespace ? { namespace } : {}), labels: LABELS };
}

function subjects(n: RbacNames): Obj[] {
  return [{ kind: 'ServiceAccount', name: n.serviceAccount, namespace: n.operatorNamespace }];
}

/** The ServiceAccount and the Role and RoleBinding in the operator's own namespace (both modes). */
export function ownNamespaceObjects(n: RbacNames = DEFAULT_RBAC_NAMES): Array<{ obj: Obj; rules?: Rule[] }> {
  const rules = ownNamespaceRules(n);
  return [
    { obj: { apiVersion: 'v1', kind: 'ServiceAccount', metadata: meta(n.serviceAccount, n.operatorNamespace) } },
    { obj: { apiVersion: RBAC_API_VERSION, kind: 'Role', metadata: meta(n.ownRoleName, n.operatorNamespace), rules: rules.map(policyRule) }, rules },
    {
      obj: {
        apiVersion: RBAC_API_VERSION, kind: 'RoleBinding', metadata: meta(n.ownRoleName, n.operatorNamespace),
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: n.ownRoleName }, subjects: subjects(n),
      },
    },
  ];
}

/** The ClusterRole and ClusterRoleBinding for watching all namespaces. */
export function clusterWideObjects(n: RbacNames = DEFAULT_RBAC_NAMES): Array<{ obj: Obj; rules?: Rule[] }> {
  const rules = [...WATCHED_NAMESPACE_RULES, ...CLUSTER_RULES];
  return [
    { obj: { apiVersion: RBAC_API_VERSION, kind: 'ClusterRole', metadata: meta(n.roleName), rules: rules.map(policyRule) }, rules },
    {
      obj: {
        apiVersion: RBAC_API_VERSION, kind: 'ClusterRoleBinding', metadata: meta(n.roleName),
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: n.roleName }, subjects: subjects(n),
      },
    },
  ];
}

/** The Role and RoleBinding for one watched namespace. */
export function namespacedObjects(namespace: string, n: RbacNames = DEFAULT_RBAC_NAMES): Array<{ obj: Obj; rules?: Rule[] }> {
  const rules = [...WATCHED_NAMESPACE_RULES];
  return [
    { obj: { apiVersion: RBAC_API_VERSION, kind: 'Role', metadata: meta(n.roleName, namespace), rules: rules.map(policyRule) }, rules },
    {
      obj: {
        apiVersion: RBAC_API_VERSION, kind: 'RoleBinding', metadata: meta(n.roleName, namespace),
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: n.roleName }, subjects: subjects(n),
      },
    },
  ];
}

/** YAML documents, each rule preceded by its `why` as a comment. */
export function toYaml(header: string, docs: Array<{ obj: Obj; rules?: Rule[] }>): string {
  const out = docs.map(({ obj, rules }) => {
    const doc = new Document(obj);
    const seq = doc.get('rules', true);
    if (isSeq(seq)) {
      seq.items.forEach((item, i) => {
        (item as { commentBefore?: string }).commentBefore = ` ${rules![i]!.why}`;
        if (isMap(item)) for (const pair of item.items) if (isSeq(pair.value)) pair.value.flow = true;
      });
    }
    return doc.toString({ lineWidth: 0, flowCollectionPadding: false });
  });
  return header + out.join('---\n');
}

const HEADER = (what: string) => `# Generated by \`make generate\` from src/rbac/rules.ts. Do not edit.
${what.split('\n').map((l) => `# ${l}`.trimEnd()).join('\n')}
`;

// Every generated RBAC file: repo-relative path → content.
export function rbacFiles(): Map<string, string> {
  const n = DEFAULT_RBAC_NAMES;
  const files = new Map<string, string>();
  files.set('manifests/rbac/own-namespace.yaml', toYaml(HEADER(
    `The operator's ServiceAccount and its rights in its own namespace (${n.operatorNamespace}): the
leader-election Lease and the master key Secret. Needed in both install modes; apply
cluster-wide.yaml or namespaced.yaml (per watched namespace) beside it. docs/rbac.md.`), ownNamespaceObjects(n)));
  files.set('manifests/rbac/cluster-wide.yaml', toYaml(HEADER(
    `The operator watching all namespaces (started without --namespaces): its rights in every
namespace. Apply own-namespace.yaml beside it. docs/rbac.md.`), clusterWideObjects(n)));
  files.set('manifests/rbac/namespaced.yaml', toYaml(HEADER(
    `The operator's rights in one watched namespace (\`graft operator --namespaces a,b\`). Stamp it for
each namespace and apply own-namespace.yaml beside it:
  for ns in a b; do sed "s/${WATCHED_NAMESPACE_PLACEHOLDER}/$ns/g" manifests/rbac/namespaced.yaml; echo ---; done | kubectl apply -f -`),
  namespacedObjects(WATCHED_NAMESPACE_PLACEHOLDER, n)));
  return files;
}

/** The rules as the Markdown tables of docs/rbac.md (a unit test keeps the doc equal to this). */
export function rulesTables(n: RbacNames = DEFAULT_RBAC_NAMES): string {
  const code = (xs: string[]) => xs.map((x) => `\`${x}\``).join(', ');
  const table = (rules: readonly Rule[]) => [
    '| API group | resources | verbs | names | why |',
    '|---|---|---|---|---|',
    ...rules.map((r) => `| ${r.apiGroups.map((g) => (g ? `\`${g}\`` : 'core')).join(', ')} | ${code(r.resources)} | ${r.verbs.join(', ')} | ${r.resourceNames ? code(r.resourceNames) : 'any'} | ${r.why.replaceAll('|', '\\|')} |`),
  ].join('\n');
  return [
    `In each watched namespace (Role \`${n.roleName}\`, or ClusterRole \`${n.roleName}\` for all namespaces):`,
    '',
    table(WATCHED_NAMESPACE_RULES),
    '',
    `In the operator's own namespace (Role \`${n.ownRoleName}\`, both modes; names as the defaults of \`--leader-election-id\` and \`--master-key-secret\`):`,
    '',
    table(ownNamespaceRules(n)),
    '',
    CLUSTER_RULES.length ? `Cluster-scoped:\n\n${table(CLUSTER_RULES)}` : 'Cluster-scoped: none.',
    '',
  ].join('\n');
}
