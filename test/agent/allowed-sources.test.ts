import { describe, expect, it } from 'vitest';
import { AllowedSources } from '../../src/contracts/allowed-sources.js';
import { resolveConfig } from '../../src/agent/config.js';

describe('AllowedSources', () => {
  const list = AllowedSources.parse(' s3://bucket/team/ , s3://models/a,,s3://whole', 'GRAFT_AGENT_ALLOWED_SOURCES');

  it.each([
    ['s3://bucket/team/x/', true],
    ['s3://bucket/team/x', true], // taken as the folder team/x/
    ['s3://bucket/team/', true],
    ['s3://bucket/team', true], // the folder team/ itself
    ['s3://bucket/teams/x/', false], // "team/" is a folder entry: not a string prefix of "teams"
    ['s3://bucket/tea/', false],
    ['s3://bucket/', false],
    ['s3://bucket-evil/team/x/', false],
    ['s3://bucke/team/x/', false],
    ['s3://bucket/Team/x/', false], // keys are case-sensitive
    ['s3://bucket/%74eam/x/', false], // never URL-decoded: "%74eam" is not "team"
    ['s3://bucket/x/team/', false],
    ['s3://models/a/', true],
    ['s3://models/ab/', true], // "a" without a slash is a plain key prefix
    ['s3://models/a-v2/x/', true],
    ['s3://models/b/', false],
    ['s3://whole/anything/at/all/', true],
    ['s3://wholesale/x/', false],
  ])('%s → %s', (source, allowed) => {
    expect(list.allows(source)).toBe(allowed);
  });

  it('refuses dot segments in sources and entries instead of resolving them', () => {
    expect(() => list.allows('s3://bucket/team/../secret/')).toThrow(/"\." or "\.\." segment/);
    expect(() => list.allows('s3://bucket/team/./x/')).toThrow(/segment/);
    expect(() => AllowedSources.parse('s3://bucket/team/../', 'X')).toThrow(/X\[0\].*segment/);
  });

  it('allows any source when unset or empty, and describes itself', () => {
    expect(AllowedSources.parse(undefined, 'X').allows('s3://any/thing/')).toBe(true);
    expect(AllowedSources.parse(' , ', 'X').any).toBe(true);
    expect(list.describe()).toBe('s3://bucket/team/, s3://models/a, s3://whole/');
  });

  it('is read from GRAFT_AGENT_ALLOWED_SOURCES, and a bad entry names the variable', () => {
    const base = { GRAFT_AGENT_TOKEN_FILE: '/t' };
    expect(resolveConfig({}, { ...base, GRAFT_AGENT_ALLOWED_SOURCES: 's3://bkt/p/' }).allowedSources.describe()).toBe('s3://bkt/p/');
    expect(() => resolveConfig({}, { ...base, GRAFT_AGENT_ALLOWED_SOURCES: 's3://bkt/p/,http://x' })).toThrow(/GRAFT_AGENT_ALLOWED_SOURCES.*\[1\].*not an s3:\/\/ URI/);
  });
});

describe('agent configuration of TLS and limits', () => {
  const base = { GRAFT_AGENT_TOKEN_FILE: '/t' };
  it('needs both TLS files or neither', () => {
    expect(() => resolveConfig({}, { ...base, GRAFT_AGENT_TLS_CERT_FILE: '/c' })).toThrow(/--tls-key-file \(or GRAFT_AGENT_TLS_KEY_FILE\): is required too/);
    expect(resolveConfig({}, { ...base, GRAFT_AGENT_TLS_CERT_FILE: '/c', GRAFT_AGENT_TLS_KEY_FILE: '/k' })).toMatchObject({ tlsCertFile: '/c', tlsKeyFile: '/k' });
  });
  it('has the documented defaults and reads the limits', () => {
    expect(resolveConfig({}, base)).toMatchObject({ maxHeaderBytes: 2 * 1024 * 1024, maxConfigBytes: 1024 * 1024, maxObjects: 1000, maxAttempts: 10 });
    expect(resolveConfig({ 'max-header-size': '512Ki' }, { ...base, GRAFT_AGENT_MAX_OBJECTS: '50' })).toMatchObject({ maxHeaderBytes: 512 * 1024, maxObjects: 50 });
    expect(() => resolveConfig({}, { ...base, GRAFT_AGENT_MAX_HEADER_BYTES: '200M' })).toThrow(/GRAFT_AGENT_MAX_HEADER_BYTES.*at most 100000000/);
  });
});
