import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { DEFAULT_AGENT_IMAGE, parseOperatorFlags } from '../../src/cli/operator.js';
import { chartFiles, chartYaml } from '../../src/install/chart-files.js';
import { ChartValues, defaultValues } from '../../src/install/values.js';
import { valuesSchema, type SchemaNode } from '../../src/install/values-schema.js';
import { DEFAULT_IMAGE, IMAGE_REPOSITORY, IMAGE_TAG, VERSION } from '../../src/version.js';

// The chart's values: one zod schema behind values.yaml, values.schema.json and the docs table.
// (test/integration/chart.test.ts runs the same checks through the real helm binary.)
const root = join(import.meta.dirname, '..', '..');
const ciDir = join(root, 'charts', 'graft', 'ci');

// Maps and Kubernetes objects the chart passes through as they are; everything else is closed.
const OPEN = new Set([
  'global', 'resources.requests', 'resources.limits', 'podAnnotations', 'podLabels', 'nodeSelector', 'affinity',
  'tolerations[]', 'topologySpreadConstraints[]', 'operator.extraEnv[]', 'serviceAccount.annotations',
  'metrics.service.annotations', 'metrics.serviceMonitor.labels', 'networkPolicy.from[]',
]);

function objects(node: SchemaNode, path: string, out: Array<{ path: string; node: SchemaNode }>): void {
  if (node.type === 'object') out.push({ path, node });
  for (const [k, v] of Object.entries(node.properties ?? {})) objects(v, path ? `${path}.${k}` : k, out);
  if (node.items) objects(node.items, `${path}[]`, out);
  for (const a of node.anyOf ?? []) objects(a, path, out);
}

describe('chart values', () => {
  it('values.yaml holds exactly the schema\'s defaults', () => {
    const yaml = chartFiles().get('charts/graft/values.yaml')!;
    expect(parse(yaml)).toEqual(defaultValues());
    expect(ChartValues.parse(parse(yaml))).toEqual(defaultValues());
  });

  it('closes every object to unknown keys except the pass-through maps', () => {
    const all: Array<{ path: string; node: SchemaNode }> = [];
    objects(valuesSchema() as SchemaNode, '', all);
    const closed = all.filter((o) => o.node.additionalProperties === false).map((o) => o.path);
    const open = all.filter((o) => o.node.additionalProperties !== false).map((o) => o.path);
    expect(open.sort()).toEqual([...OPEN].sort());
    expect(closed).toContain('');
    expect(closed).toContain('operator.leaderElection');
    expect(closed).toContain('imagePullSecrets[]');
  });

  it('refuses a misspelt key and a wrong type, naming the path', () => {
    const typo = ChartValues.safeParse({ crds: { kep: true } });
    expect(typo.success).toBe(false);
    expect(typo.error!.issues[0]).toMatchObject({ code: 'unrecognized_keys', keys: ['kep'], path: ['crds'] });
    const wrong = ChartValues.safeParse({ operator: { leaderElection: { leaseDuration: '15 seconds' } } });
    expect(wrong.error!.issues[0]!.path).toEqual(['operator', 'leaderElection', 'leaseDuration']);
    expect(ChartValues.safeParse({ operator: { allowedHostPaths: ['/mnt/../etc'] } }).success).toBe(false);
    expect(ChartValues.safeParse({ operator: { allowedHostPaths: ['/mnt/models', '/data/.cache'] } }).success).toBe(true);
    expect(ChartValues.safeParse({ nameOverride: 'Graft' }).success).toBe(false);
  });

  it('accepts every values file in charts/graft/ci/', () => {
    const files = readdirSync(ciDir).filter((f) => f.endsWith('.yaml'));
    expect(files.length).toBeGreaterThanOrEqual(4);
    for (const f of files) {
      const r = ChartValues.safeParse(parse(readFileSync(join(ciDir, f), 'utf8')) ?? {});
      expect(r.success, `${f}: ${r.error?.message}`).toBe(true);
    }
  });

  it('takes the operator\'s own defaults, so the chart changes nothing by default', () => {
    const v = defaultValues();
    const f = parseOperatorFlags([]);
    expect(v.operator.masterKeySecret).toBe(f.masterKeySecret);
    expect(v.operator.leaderElection.id).toBe(f.leaderElectionId);
    expect(v.operator.logLevel).toBe(f.logLevel);
    expect(v.metrics.port).toBe(f.metrics!.port);
    expect(v.health.port).toBe(f.probes!.port);
    // The flags the chart passes parse (durations in the operator's own syntax).
    const args = [
      `--leader-election-lease-duration=${v.operator.leaderElection.leaseDuration}`,
      `--leader-election-renew-deadline=${v.operator.leaderElection.renewDeadline}`,
      `--leader-election-retry-period=${v.operator.leaderElection.retryPeriod}`,
      `--sync-period=${v.operator.syncPeriod}`, `--graceful-shutdown-timeout=${v.operator.gracefulShutdownTimeout}`,
    ];
    const parsed = parseOperatorFlags(args);
    expect(parsed.leaseDurationMs).toBe(15_000);
    expect(parsed.syncPeriodMs).toBe(600_000);
  });
});

describe('one image name', () => {
  it('the chart, the operator default and the version come from src/version.ts', () => {
    expect(DEFAULT_IMAGE).toBe(`${IMAGE_REPOSITORY}:${IMAGE_TAG}`);
    expect(IMAGE_TAG).toBe(`v${VERSION}`);
    expect(DEFAULT_AGENT_IMAGE).toBe(DEFAULT_IMAGE);
    const v = defaultValues();
    expect(`${v.image.repository}:${v.image.tag}`).toBe(DEFAULT_IMAGE);
    const chart = parse(chartYaml());
    expect(chart).toMatchObject({ apiVersion: 'v2', name: 'graft', version: VERSION, appVersion: VERSION });
    // The template's fallback when tag is emptied ("v" + appVersion) gives the same tag.
    expect(`v${chart.appVersion}`).toBe(IMAGE_TAG);
    expect(JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version).toBe(VERSION);
  });
});
