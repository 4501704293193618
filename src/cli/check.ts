// `graft check`: the `helm test` Pod's command (docs/install.md). Exit 0 when every check passed.
import { parseArgs } from 'node:util';
import { API_VERSION } from '../api/common.js';
import { checkCrds, checkReady, retryUntil, type CheckResult } from '../install/check.js';
import { parseDuration } from '../runtime/duration.js';
import { KubeClient } from '../runtime/kube-client.js';
import { loadKubeConfig } from '../runtime/kubeconfig.js';
import { CliError } from './errors.js';

const USAGE = `usage: graft check [--crds] [--ready-url URL]... [--timeout D] [--kubeconfig PATH]

  --crds            the API server serves every Graft kind (${API_VERSION} discovery)
  --ready-url URL   GET URL answers 200 (the operator's /readyz through its Service); repeatable
  --timeout D       retry each check until this long has passed (default 60s)
  --kubeconfig PATH kubeconfig (else $KUBECONFIG, in-cluster, ~/.kube/config)
`;

export async function run(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv, strict: true, allowPositionals: false,
      options: {
        crds: { type: 'boolean', default: false },
        'ready-url': { type: 'string', multiple: true, default: [] },
        timeout: { type: 'string', default: '60s' },
        kubeconfig: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (err) {
    throw new CliError(`${(err as Error).message}\n\n${USAGE}`);
  }
  if (values.help) { process.stdout.write(USAGE); return 0; }
  const urls = values['ready-url']!;
  if (!values.crds && !urls.length) throw new CliError(`nothing to check: pass --crds and/or --ready-url\n\n${USAGE}`);
  for (const u of urls) if (!/^https?:\/\//.test(u)) throw new CliError(`--ready-url: "${u}" is not an http(s) URL`);
  let timeoutMs: number;
  try { timeoutMs = parseDuration('--timeout', values.timeout!); } catch (err) { throw new CliError((err as Error).message); }
  const deadline = Date.now() + timeoutMs;

  const checks: Array<Promise<CheckResult>> = [];
  if (values.crds) {
    let client: KubeClient;
    try { client = new KubeClient(loadKubeConfig(values.kubeconfig).kubeConfig); } catch (err) { throw new CliError((err as Error).message); }
    checks.push(retryUntil((signal) => checkCrds((s) => client.request('GET', `/apis/${API_VERSION}`, { signal: s }), signal), deadline, 2000));
  }
  const probe = async (url: string, signal: AbortSignal) => {
    const r = await fetch(url, { signal });
    return { status: r.status, body: await r.text() };
  };
  for (const url of urls) checks.push(retryUntil((signal) => checkReady(probe, url, signal), deadline, 2000));
  const results = await Promise.all(checks);
  for (const r of results) process.stdout.write(`${r.ok ? 'ok  ' : 'FAIL'} ${r.name}: ${r.detail}\n`);
  return results.every((r) => r.ok) ? 0 : 1;
}
