// A ListObjectsV2 page (ListBucketResult XML) read without the SDK's XML parser. S3 escapes
// object keys in XML text (the five named entities and character references); nothing here
// evaluates anything else, and a page that does not look like a listing is an error.
import type { S3ObjectInfo } from './s3-objects.js';

export interface ListPage {
  contents: S3ObjectInfo[];
  truncated: boolean;
  nextToken?: string;
}

const NAMED: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

export function unescapeXml(s: string): string {
  if (!s.includes('&')) return s;
  return s.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-z]+);/g, (m, ref: string) => {
    if (ref[0] !== '#') return NAMED[ref] ?? m;
    const cp = ref[1] === 'x' ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10);
    return cp <= 0x10ffff ? String.fromCodePoint(cp) : m;
  });
}

function text(block: string, tag: string): string | undefined {
  const open = block.indexOf(`<${tag}>`);
  if (open < 0) return undefined;
  const from = open + tag.length + 2;
  const close = block.indexOf(`</${tag}>`, from);
  return close < 0 ? undefined : unescapeXml(block.slice(from, close));
}

export function parseListPage(xml: string): ListPage {
  if (!/<ListBucketResult[\s>]/.test(xml)) throw new Error('the listing answer is not a ListBucketResult');
  const contents: S3ObjectInfo[] = [];
  let at = 0;
  for (;;) {
    const open = xml.indexOf('<Contents>', at);
    if (open < 0) break;
    const close = xml.indexOf('</Contents>', open);
    if (close < 0) throw new Error('the listing answer ends inside a <Contents> element');
    const block = xml.slice(open + 10, close);
    at = close + 11;
    const key = text(block, 'Key');
    if (key === undefined) continue;
    const size = Number(text(block, 'Size') ?? 0);
    if (!Number.isSafeInteger(size) || size < 0) throw new Error(`the listing gives ${key} a size of ${text(block, 'Size')}`);
    const modified = text(block, 'LastModified');
    contents.push({ key, size, etag: text(block, 'ETag'), lastModified: modified ? new Date(modified) : undefined });
  }
  // Contents come first in the page; the flags are read from what follows the last of them.
  const rest = at > 0 ? xml.slice(0, xml.indexOf('<Contents>')) + xml.slice(at) : xml;
  const truncated = text(rest, 'IsTruncated') === 'true';
  return { contents, truncated, nextToken: truncated ? text(rest, 'NextContinuationToken') : undefined };
}
