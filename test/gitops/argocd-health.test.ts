import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { REPO_ROOT } from '../support/fixtures-dir.js';
import { gitopsTool } from './tools.js';

// Argo CD health checks for Graft's kinds (gitops/argocd/resource_customizations/graft.dev/<Kind>),
// run by Argo CD's own code (util/lua of argo-cd v3.5.7, in hack/go/lua-health) on objects
// captured live from the sandbox (hack/gitops-samples.ts).
const KINDS = ['BaseModel', 'Adapter', 'AdapterSet'] as const;
const dirOf = (kind: string) => join(REPO_ROOT, 'gitops', 'argocd', 'resource_customizations', 'graft.dev', kind);
// What each captured state must read as in Argo CD.
const EXPECTED: Record<string, string> = {
  created: 'Progressing', reconciling: 'Progressing', ready: 'Healthy',
  'generation-behind': 'Progressing', stalled: 'Degraded', deleting: 'Progressing',
};
type Case = { inputPath: string; healthStatus: { status: string; message?: string } };

let luaHealth: string;
const run = (...args: string[]) => spawnSync(luaHealth, args, { encoding: 'utf8' });

describe('Argo CD health checks', () => {
  // The first build of Argo CD's code takes minutes.
  // The first build of Argo CD's code takes minutes.
  beforeAll(() => { luaHealth = gitopsTool('lua-health'); }, 1_200_000);

  it('passes every health_test.yaml case of every kind', () => {
    const r = run(...KINDS.map(dirOf));
    expect(r.status, r.stdout + r.stderr).toBe(0);
    const total = KINDS.reduce((n, k) => n + (parse(readFileSync(join(dirOf(k), 'health_test.yaml'), 'utf8')) as { tests: Case[] }).tests.length, 0);
    expect(r.stdout).toContain(`${total} cases, 0 failed`);
  });

  for (const kind of KINDS) {
    it(`${kind}: every captured state has a case, with the status the state calls for`, () => {
      const cases = (parse(readFileSync(join(dirOf(kind), 'health_test.yaml'), 'utf8')) as { tests: Case[] }).tests;
      const files = readdirSync(join(dirOf(kind), 'testdata')).filter((f) => f.endsWith('.yaml')).sort();
      expect(cases.map((c) => c.inputPath).sort()).toEqual(files.map((f) => `testdata/${f}`));
      // BaseModel and Adapter reach every state in the sandbox; an AdapterSet at least these.
      const required = kind === 'AdapterSet' ? ['created', 'deleting'] : Object.keys(EXPECTED);
      for (const s of required) expect(files, `${kind} testdata/${s}.yaml`).toContain(`${s}.yaml`);
      for (const c of cases) {
        const state = c.inputPath.replace(/^testdata\/|\.yaml$/g, '');
        expect(EXPECTED[state], `${kind} ${c.inputPath}: unknown state`).toBeDefined();
        expect(c.healthStatus.status, `${kind} ${c.inputPath}`).toBe(EXPECTED[state]);
        const obj = parse(readFileSync(join(dirOf(kind), c.inputPath), 'utf8'));
        expect(obj.kind).toBe(kind);
        expect(obj.metadata.uid, `${c.inputPath} is a captured object`).toMatch(/^[0-9a-f-]{36}$/);
      }
    });
  }

  it('ships one script for all three kinds', () => {
    const scripts = KINDS.map((k) => readFileSync(join(dirOf(k), 'health.lua'), 'utf8'));
    expect(new Set(scripts).size).toBe(1);
  });

  it('argocd-cm.yaml carries exactly health.lua for each kind, under the keys Argo CD reads', () => {
    const cm = parse(readFileSync(join(REPO_ROOT, 'gitops', 'argocd', 'argocd-cm.yaml'), 'utf8'));
    expect(cm.metadata.name).toBe('argocd-cm');
    expect(Object.keys(cm.data).sort()).toEqual(KINDS.map((k) => `resource.customizations.health.graft.dev_${k}`).sort());
    for (const k of KINDS) expect(cm.data[`resource.customizations.health.graft.dev_${k}`]).toBe(readFileSync(join(dirOf(k), 'health.lua'), 'utf8'));
  });

  it('fails a case whose expected status is wrong', () => {
    const tmp = mkdtempSync(join(tmpdir(), 'graft-lua-'));
    try {
      cpSync(dirOf('Adapter'), join(tmp, 'Adapter'), { recursive: true });
      writeFileSync(join(tmp, 'Adapter', 'health_test.yaml'), 'tests:\n- inputPath: testdata/stalled.yaml\n  healthStatus:\n    status: Healthy\n');
      const r = run(join(tmp, 'Adapter'));
      expect(r.status).toBe(1);
      expect(r.stdout).toMatch(/FAIL .*testdata\/stalled.yaml: got \{Status:Degraded/);
    } finally { rmSync(tmp, { recursive: true, force: true }); }
  });

  it('opens only the libraries Argo CD opens by default (no string library)', () => {
    const tmp = mkdtempSync(join(tmpdir(), 'graft-lua-'));
    try {
      writeFileSync(join(tmp, 'uses-string.lua'), 'return { status = string.format("%s", "Healthy") }');
      writeFileSync(join(tmp, 'bad-status.lua'), 'return { status = "Fine" }');
      const obj = readFileSync(join(dirOf('Adapter'), 'testdata', 'ready.yaml'), 'utf8');
      const evalOn = (script: string) => spawnSync(luaHealth, ['eval', join(tmp, script)], { input: obj, encoding: 'utf8' });
      const s = evalOn('uses-string.lua');
      expect(s.status).toBe(2);
      expect(s.stderr).toMatch(/string/);
      expect(JSON.parse(evalOn('bad-status.lua').stdout)).toEqual({ status: 'Unknown', message: 'Lua returned an invalid health status' });
    } finally { rmSync(tmp, { recursive: true, force: true }); }
  });

  it('keeps the test data free of managedFields (noise that changes with every capture)', () => {
    for (const kind of KINDS) {
      const dir = join(dirOf(kind), 'testdata');
      if (!existsSync(dir)) continue;
      for (const f of readdirSync(dir)) expect(readFileSync(join(dir, f), 'utf8'), `${kind}/${f}`).not.toContain('managedFields');
    }
  });
});
