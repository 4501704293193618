// Refreshes the Argo CD health check test data (gitops/argocd/resource_customizations/graft.dev/
// <Kind>/testdata/<state>.yaml) from live objects: starts the sandbox, drives a BaseModel, Adapters
// and AdapterSets into each state (test/gitops/samples.ts) and saves each object as the API server
// returned it (managedFields left out). Run: source <(hack/tools.sh env) && hack/netns.sh npx tsx hack/gitops-samples.ts
// Then run the cases (npx vitest run --project unit test/gitops/argocd-health.test.ts): messages
// that quote pod names or times change with each capture, so update health_test.yaml to match
// after checking each status is still the one the state calls for.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { SampleDriver, type Sample } from '../test/gitops/samples.js';
import { startSandbox } from '../test/support/sandbox.js';

const root = join(import.meta.dirname, '..');
const dirOf = (kind: string) => join(root, 'gitops', 'argocd', 'resource_customizations', 'graft.dev', kind);

async function main(): Promise<void> {
  const rev = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim();
  const sb = await startSandbox();
  const samples: Sample[] = [];
  try {
    await sb.upload('gpt2-causal-tigrinya', 'adapters', 'tigrinya/v1/');
    const d = new SampleDriver(sb, (m) => console.log(`[samples] ${m}`));
    samples.push(...await d.baseModels());
    samples.push(...await d.adapters());
    samples.push(...await d.adapterSets());
  } catch (err) {
    console.error(`operator log:\n${sb.operator.proc.output.split('\n').filter((l) => !l.includes('"controller":"basemodel"')).slice(-60).join('\n')}`);
    throw err;
  } finally {
    await sb.stop();
  }
  for (const s of samples) {
    const o = structuredClone(s.object);
    delete o.metadata?.managedFields;
    const dir = join(dirOf(s.kind), 'testdata');
    mkdirSync(dir, { recursive: true });
    const header = `# ${s.kind} ${s.state}: ${s.how}.\n# Captured live by hack/gitops-samples.ts (Graft ${rev}); do not edit by hand.\n`;
    writeFileSync(join(dir, `${s.state}.yaml`), header + stringify(o, { lineWidth: 0 }));
    console.log(`${s.kind}/testdata/${s.state}.yaml`);
  }
}

main().catch((err) => { console.error(err); process.exit(1); });
