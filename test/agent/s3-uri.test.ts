import { describe, expect, it } from 'vitest';
import { folderPrefix, formatS3Uri, joinKey, parseS3Uri, S3UriError } from '../../src/storage/s3-uri.js';

describe('parseS3Uri', () => {
  it('splits bucket and prefix', () => {
    expect(parseS3Uri('s3://adapters/team/a1/')).toEqual({ bucket: 'adapters', prefix: 'team/a1/' });
    expect(parseS3Uri('s3://adapters')).toEqual({ bucket: 'adapters', prefix: '' });
    expect(parseS3Uri('s3://my.bucket-1/x')).toEqual({ bucket: 'my.bucket-1', prefix: 'x' });
  });

  it('round-trips through formatS3Uri', () => {
    for (const uri of ['s3://abc/', 's3://abc/d/e/', 's3://abc/d/file.json']) expect(formatS3Uri(parseS3Uri(uri))).toBe(uri);
  });

  it.each([
    ['', /empty/],
    ['http://bucket/x', /not an s3:\/\/ URI/],
    ['s3:///x', /no bucket/],
    ['s3://Upper/x', /not a valid S3 bucket name/],
    ['s3://ab/x', /not a valid S3 bucket name/],
    ['s3://a..b/x', /not a valid S3 bucket name/],
    ['s3://192.168.1.1/x', /not a valid S3 bucket name/],
    ['s3://bucket//x', /empty path segment/],
    ['s3://bucket/a/../b', /"\." or "\.\." segment/],
    ['s3://bucket/a/\u0001', /control characters/],
  ])('refuses %j with a clear error', (uri, msg) => {
    let err: unknown;
    try { parseS3Uri(uri, 'spec.source'); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(S3UriError);
    expect((err as Error).message).toMatch(/^spec\.source: /);
    expect((err as Error).message).toMatch(msg);
  });
});

describe('keys', () => {
  it('treats the prefix as a folder', () => {
    expect(folderPrefix('')).toBe('');
    expect(folderPrefix('a')).toBe('a/');
    expect(folderPrefix('a/')).toBe('a/');
    expect(joinKey('a', 'b/c')).toBe('a/b/c');
    expect(joinKey('a/', '/b')).toBe('a/b');
    expect(joinKey('', 'b')).toBe('b');
  });
});
