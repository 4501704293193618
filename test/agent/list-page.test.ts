// The listing page parser: keys as S3 escapes them in XML, the truncation flag and token, and
// answers that are not a listing.
import { describe, expect, it } from 'vitest';
import { parseListPage, unescapeXml } from '../../src/storage/list-page.js';

const page = (body: string) => `<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><Prefix>p/</Prefix>${body}</ListBucketResult>`;
const contents = (key: string, size: number, etag = '&quot;abc&quot;') => `<Contents><Key>${key}</Key><LastModified>2026-12-01T10:00:00.000Z</LastModified><ETag>${etag}</ETag><Size>${size}</Size><StorageClass>STANDARD</StorageClass></Contents>`;

describe('parseListPage', () => {
  it('reads keys, sizes, ETags and times, with the XML escapes undone', () => {
    const p = parseListPage(page(`<KeyCount>2</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>${contents('p/a &amp; b&lt;c&gt;.json', 12)}${contents('p/&#233;t&#xE9; &apos;x&apos;', 0, '&#34;d&#34;')}`));
    expect(p.contents).toEqual([
      { key: 'p/a & b<c>.json', size: 12, etag: '"abc"', lastModified: new Date('2026-12-01T10:00:00.000Z') },
      { key: "p/été 'x'", size: 0, etag: '"d"', lastModified: new Date('2026-12-01T10:00:00.000Z') },
    ]);
    expect(p.truncated).toBe(false);
    expect(p.nextToken).toBeUndefined();
  });

  it('reads the continuation token of a truncated page, wherever the flags stand', () => {
    expect(parseListPage(page(`<IsTruncated>true</IsTruncated><NextContinuationToken>tok&amp;1</NextContinuationToken>${contents('p/a', 1)}`)))
      .toMatchObject({ truncated: true, nextToken: 'tok&1' });
    expect(parseListPage(page(`${contents('p/a', 1)}<IsTruncated>true</IsTruncated><NextContinuationToken>t2</NextContinuationToken>`)))
      .toMatchObject({ truncated: true, nextToken: 't2' });
  });

  it('is not fooled by a key that spells a flag (the < of a key is always escaped)', () => {
    const p = parseListPage(page(`<IsTruncated>false</IsTruncated>${contents('&lt;IsTruncated&gt;true&lt;/IsTruncated&gt;', 3)}`));
    expect(p.contents[0]!.key).toBe('<IsTruncated>true</IsTruncated>');
    expect(p.truncated).toBe(false);
  });

  it('reads an empty page', () => {
    expect(parseListPage(page('<KeyCount>0</KeyCount><IsTruncated>false</IsTruncated>'))).toEqual({ contents: [], truncated: false, nextToken: undefined });
  });

  it('refuses an answer that is not a listing, one cut inside an entry, and a size that is not a byte count', () => {
    expect(() => parseListPage('<Error><Code>AccessDenied</Code></Error>')).toThrow(/not a ListBucketResult/);
    expect(() => parseListPage(page('<Contents><Key>p/a</Key><Size>1</Size>'))).toThrow(/ends inside a <Contents>/);
    expect(() => parseListPage(page(contents('p/a', -1)))).toThrow(/size of -1/);
    expect(() => parseListPage(page('<Contents><Key>p/a</Key><Size>1e300</Size></Contents>'))).toThrow(/size of 1e300/);
  });

  it('leaves unknown entities and out-of-range references as they are', () => {
    expect(unescapeXml('&nbsp; &#x110000; &amp;amp;')).toBe('&nbsp; &#x110000; &amp;');
  });
});
