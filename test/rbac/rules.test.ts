import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import {
  clusterWideObjects, DEFAULT_RBAC_NAMES, namespacedObjects, ownNamespaceObjects, rbacFiles, rulesTables, WATCHED_NAMESPACE_PLACEHOLDER,
} from '../../src/rbac/manifests.js';
import { CLUSTER_RULES, OWN_NAMESPACE_RULES, WATCHED_NAMESPACE_RULES, ownNamespaceRules, type Rule } from '../../src/rbac/rules.js';

const repoRoot = join(import.meta.dirname, '..', '..');
const parse = (text: string) => parseAllDocuments(text).map((d) => d.toJS());
const granted = (rules: readonly Rule[], group: string, resource: string) =>
  new Set(rules.filter((r) => r.apiGroups.includes(group) && r.resources.includes(resource)).flatMap((r) => r.verbs));

describe('RBAC rules', () => {
  it('give every rule a reason, and never a resourceNames RBAC cannot enforce', () => {
    for (const r of [...WATCHED_NAMESPACE_RULES, ...OWN_NAMESPACE_RULES, ...CLUSTER_RULES]) {
      expect(r.why.length, JSON.stringify(r)).toBeGreaterThan(20);
      expect(r.verbs.length * r.resources.length * r.apiGroups.length, r.why).toBeGreaterThan(0); // the API server refuses an empty rule
      expect(r.verbs).not.toContain('*');
      expect(r.resources).not.toContain('*');
      // create, list, watch and deletecollection name no object in the URL: resourceNames would deny them.
      if (r.resourceNames) expect(r.verbs.filter((v) => ['create', 'list', 'watch', 'deletecollection'].includes(v)), r.why).toEqual([]);
    }
  });

  it('let the operator only create Secrets where it watches, and read only the master key by name at home', () => {
    expect([...granted(WATCHED_NAMESPACE_RULES, '', 'secrets')]).toEqual(['create']);
    const home = ownNamespaceRules({ leaseName: 'my-lease', masterKeySecret: 'my-key' });
    const secretRules = home.filter((r) => r.resources.includes('secrets'));
    expect(secretRules.map((r) => [r.verbs, r.resourceNames])).toEqual([[['get'], ['my-key']], [['create'], undefined]]);
    const leaseRules = home.filter((r) => r.resources.includes('leases'));
    expect(leaseRules.map((r) => [r.verbs, r.resourceNames])).toEqual([[['get', 'update'], ['my-lease']], [['create'], undefined]]);
    expect(CLUSTER_RULES).toEqual([]);
  });
});

describe('RBAC manifests', () => {
  it('are committed as generated (graft generate --check compares the same files)', () => {
    for (const [path, content] of rbacFiles()) expect(readFileSync(join(repoRoot, path), 'utf8'), path).toBe(content);
  });

  it('namespaced.yaml stamped as docs/rbac.md says is the Role and RoleBinding for that namespace', () => {
    const text = readFileSync(join(repoRoot, 'manifests/rbac/namespaced.yaml'), 'utf8');
    expect(parse(text.replaceAll(WATCHED_NAMESPACE_PLACEHOLDER, 'team-a'))).toEqual(namespacedObjects('team-a').map((d) => d.obj));
    expect(text).toContain(`# ${WATCHED_NAMESPACE_RULES[0]!.why}`); // each rule's reason travels with it
  });

  it('bind every Role to the one ServiceAccount, with the rules of their scope', () => {
    const own = ownNamespaceObjects();
    const wide = clusterWideObjects();
    const ns = namespacedObjects('team-a');
    const sa = { kind: 'ServiceAccount', name: DEFAULT_RBAC_NAMES.serviceAccount, namespace: DEFAULT_RBAC_NAMES.operatorNamespace };
    for (const b of [own[2]!, wide[1]!, ns[1]!]) expect((b.obj as { subjects: unknown }).subjects).toEqual([sa]);
    expect((own[1]!.obj as { rules: unknown[] }).rules).toHaveLength(OWN_NAMESPACE_RULES.length);
    expect((wide[0]!.obj as { rules: unknown[] }).rules).toHaveLength(WATCHED_NAMESPACE_RULES.length + CLUSTER_RULES.length);
    expect(own[1]!.obj.metadata).toMatchObject({ name: DEFAULT_RBAC_NAMES.ownRoleName, namespace: DEFAULT_RBAC_NAMES.operatorNamespace });
    // The Role at home has its own name, so a watched namespace may be the operator's own.
    expect(DEFAULT_RBAC_NAMES.ownRoleName).not.toBe(DEFAULT_RBAC_NAMES.roleName);
  });
});

describe('docs/rbac.md', () => {
  it('lists exactly the rules of src/rbac/rules.ts', () => {
    const doc = readFileSync(join(repoRoot, 'docs/rbac.md'), 'utf8');
    expect(doc.includes(rulesTables()), `docs/rbac.md: replace the tables under "## The rules" with:\n${rulesTables()}`).toBe(true);
  });
});
