// The request signer sends what the SDK would: the same scheme, host, port and path for a key
// (path style, virtual-host style, an endpoint with a path of its own), SigV4 under the scope the
// SDK chose, and the session token of temporary credentials. Signatures themselves are checked by
// versitygw (test/integration/agent-s3.test.ts).
import { describe, expect, it } from 'vitest';
import { encodeKey, RequestSigner } from '../../src/storage/request-signer.js';
import { createS3Client } from '../../src/storage/s3-client.js';
import { signGetObject } from '../../src/storage/signed-get.js';

const KEY = 'p/a b/c+d~é(1)*!\'.json';
const creds = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' };

describe('RequestSigner', () => {
  for (const [what, settings] of [
    ['path style on a custom endpoint', { endpoint: 'http://127.0.0.1:7070', forcePathStyle: true }],
    ['virtual-host style on AWS', { region: 'eu-west-1' }],
    ['an endpoint with a path of its own', { endpoint: 'https://s3.example.test:8443/storage', forcePathStyle: true, region: 'auto' }],
  ] as const) {
    it(`addresses an object as the SDK does: ${what}`, async () => {
      const client = createS3Client(settings, { credentials: creds });
      const sdk = await signGetObject(client, { bucket: 'bkt', key: KEY, start: 0, end: 9 });
      const ours = (await new RequestSigner(client).sign('bkt', { key: KEY, headers: { range: 'bytes=0-9' } }))!;
      expect(ours).toBeDefined();
      expect([ours.tls, ours.host, ours.port, ours.headers.host]).toEqual([sdk.tls, sdk.host, sdk.port, sdk.headers.host]);
      expect(ours.target).toBe(sdk.target.split('?')[0]);
      const scope = (h: Record<string, string>) => /Credential=([^,]+),/.exec(h.authorization!)![1]!.split('/').slice(2).join('/');
      expect(scope(ours.headers)).toBe(scope(sdk.headers));
      expect(ours.headers.authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/\d{8}\/[^/]+\/s3\/aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=[0-9a-f]{64}$/);
      expect(ours.headers['x-amz-content-sha256']).toBe(sdk.headers['x-amz-content-sha256']);
      client.destroy();
    });
  }

  it('lists at the bucket with the query encoded as SigV4 canonicalises it', async () => {
    const client = createS3Client({ endpoint: 'http://127.0.0.1:7070', forcePathStyle: true }, { credentials: creds });
    const r = (await new RequestSigner(client).sign('bkt', { query: { 'list-type': '2', prefix: 'a b/+é/' } }))!;
    expect(r.target).toBe('/bkt?list-type=2&prefix=a%20b%2F%2B%C3%A9%2F');
    client.destroy();
  });

  it('sends the session token of temporary credentials, signed', async () => {
    const client = createS3Client({ endpoint: 'http://127.0.0.1:7070', forcePathStyle: true }, { credentials: { ...creds, sessionToken: 'TOKEN' } });
    const r = (await new RequestSigner(client).sign('bkt', { key: 'k' }))!;
    expect(r.headers['x-amz-security-token']).toBe('TOKEN');
    expect(r.headers.authorization).toContain('x-amz-security-token');
    client.destroy();
  });

  it('encodes each segment of a key and keeps its slashes', () => {
    expect(encodeKey('a/b c/d%e/')).toBe('a/b%20c/d%25e/');
  });
});
