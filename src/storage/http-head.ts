// Parses the head of an HTTP/1.1 response (status line and headers) from raw bytes. Pure: the
// ranged reader feeds it what it has read so far.

export const MAX_HEAD_BYTES = 64 * 1024;

export interface ResponseHead {
  status: number;
  headers: Map<string, string>; // lower-case names; repeated headers joined with ", "
  length: number; // bytes of the head, the blank line included; the body starts here
}

export class HttpProtocolError extends Error {
  readonly code = 'HttpProtocolError';
  constructor(message: string) {
    super(message);
    this.name = 'HttpProtocolError';
  }
}

const CRLFCRLF = Buffer.from('\r\n\r\n');

// The head, or null while `bytes` does not hold all of it yet. 1xx heads (100 Continue) are not
// expected for a GET and are refused.
export function parseResponseHead(bytes: Buffer): ResponseHead | null {
  const end = bytes.indexOf(CRLFCRLF);
  if (end < 0) {
    if (bytes.length > MAX_HEAD_BYTES) throw new HttpProtocolError(`response head longer than ${MAX_HEAD_BYTES} bytes`);
    return null;
  }
  const lines = bytes.toString('latin1', 0, end).split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/.exec(lines[0]!);
  if (!m) throw new HttpProtocolError(`not an HTTP/1.x status line: ${JSON.stringify(lines[0]!.slice(0, 80))}`);
  const status = Number(m[1]);
  if (status < 200) throw new HttpProtocolError(`unexpected interim response ${status}`);
  const headers = new Map<string, string>();
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const colon = line.indexOf(':');
    if (colon <= 0) throw new HttpProtocolError(`malformed header line ${JSON.stringify(line.slice(0, 80))}`);
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    const prev = headers.get(name);
    headers.set(name, prev === undefined ? value : `${prev}, ${value}`);
  }
  return { status, headers, length: end + 4 };
}

// Content-Length as a byte count; undefined when absent; an error when malformed or repeated
// with different values.
export function contentLength(head: ResponseHead): number | undefined {
  const v = head.headers.get('content-length');
  if (v === undefined) return undefined;
  const values = new Set(v.split(',').map((s) => s.trim()));
  const only = [...values][0]!;
  if (values.size !== 1 || !/^\d+$/.test(only) || !Number.isSafeInteger(Number(only))) throw new HttpProtocolError(`bad Content-Length ${JSON.stringify(v)}`);
  return Number(only);
}

// The first byte of a `Content-Range: bytes a-b/n` header; undefined when absent or not bytes.
export function contentRangeStart(head: ResponseHead): number | undefined {
  return rangeStartOf(head.headers.get('content-range'));
}

// The same from the header's value (node:http's parsed headers).
export function rangeStartOf(contentRange: string | undefined): number | undefined {
  const m = /^bytes (\d+)-\d+\/(?:\d+|\*)$/.exec(contentRange ?? '');
  return m ? Number(m[1]) : undefined;
}
