import { describe, expect, it } from 'vitest';
import { contentLength, contentRangeStart, HttpProtocolError, MAX_HEAD_BYTES, parseResponseHead } from '../../src/storage/http-head.js';
import { isTransientS3Error, s3ErrorCode } from '../../src/storage/s3-errors.js';
import { s3ResponseError } from '../../src/storage/s3-response-error.js';

const bytes = (s: string) => Buffer.from(s, 'latin1');

describe('parseResponseHead', () => {
  it('waits for the blank line, then reads status, headers and where the body starts', () => {
    const text = 'HTTP/1.1 206 Partial Content\r\nContent-Length: 10\r\nX-Amz-Request-Id: abc\r\nx-a: 1\r\nX-A: 2\r\n\r\nBODY';
    expect(parseResponseHead(bytes(text.slice(0, 40)))).toBeNull();
    const h = parseResponseHead(bytes(text))!;
    expect(h.status).toBe(206);
    expect(h.headers.get('x-amz-request-id')).toBe('abc');
    expect(h.headers.get('x-a')).toBe('1, 2');
    expect(text.slice(h.length)).toBe('BODY');
    expect(contentLength(h)).toBe(10);
  });

  it('refuses what is not an HTTP/1.x answer, interim answers and endless heads', () => {
    expect(() => parseResponseHead(bytes('SSH-2.0-OpenSSH\r\n\r\n'))).toThrow(HttpProtocolError);
    expect(() => parseResponseHead(bytes('HTTP/1.1 100 Continue\r\n\r\n'))).toThrow(/interim/);
    expect(() => parseResponseHead(bytes('HTTP/1.1 200 OK\r\nno colon here\r\n\r\n'))).toThrow(/malformed header/);
    expect(() => parseResponseHead(Buffer.alloc(MAX_HEAD_BYTES + 1, 'a'))).toThrow(/longer than/);
  });

  it('reads Content-Length and Content-Range strictly', () => {
    const head = (extra: string) => parseResponseHead(bytes(`HTTP/1.1 206 x\r\n${extra}\r\n\r\n`))!;
    expect(contentLength(head('X: y'))).toBeUndefined();
    expect(contentLength(head('Content-Length: 5\r\nContent-Length: 5'))).toBe(5);
    expect(() => contentLength(head('Content-Length: 5\r\nContent-Length: 6'))).toThrow(/bad Content-Length/);
    expect(() => contentLength(head('Content-Length: -1'))).toThrow(/bad Content-Length/);
    expect(contentRangeStart(head('Content-Range: bytes 100-199/1000'))).toBe(100);
    expect(contentRangeStart(head('Content-Range: bytes 100-199/*'))).toBe(100);
    expect(contentRangeStart(head('Content-Range: items 1-2/3'))).toBeUndefined();
  });
});

describe('s3ResponseError', () => {
  it('reads the S3 error code, so failures classify as the SDK errors do', () => {
    const e = s3ResponseError(412, '<?xml version="1.0"?><Error><Code>PreconditionFailed</Code><Message>At least one of the pre-conditions you specified did not hold</Message></Error>');
    expect(s3ErrorCode(e)).toBe('PreconditionFailed');
    expect(e.$metadata.httpStatusCode).toBe(412);
    expect(e.message).toMatch(/pre-conditions/);
    expect(isTransientS3Error(e)).toBe(false);
    expect(isTransientS3Error(s3ResponseError(503, '<Error><Code>SlowDown</Code></Error>'))).toBe(true);
    expect(s3ErrorCode(s3ResponseError(404, ''))).toBe('NotFound');
    expect(s3ErrorCode(s3ResponseError(418, ''))).toBe('HTTP418');
    expect(s3ResponseError(403, '<Error><Code>AccessDenied</Code><Message>a &amp; b</Message></Error>').message).toBe('a & b');
  });
});
