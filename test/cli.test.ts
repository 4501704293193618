import { describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { VERSION } from '../src/version.js';

describe('graft CLI', () => {
  it('prints its version', () => {
    const out = execFileSync('bin/graft', ['version'], { encoding: 'utf8' });
    expect(out).toContain(`graft ${VERSION}`);
  });
  it('exits 2 on an unknown command', () => {
    const r = spawnSync('bin/graft', ['nope'], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('unknown command "nope"');
  });
});
