// One signed GET whose answer is small (a listing page, an error), sent over a keep-alive agent
// and read into memory up to a limit. A non-2xx answer becomes an S3ResponseError, as the SDK's
// errors look to the retry and failure code.
import { request as httpRequest, type Agent as HttpAgent, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest, type Agent as HttpsAgent } from 'node:https';
import { s3ResponseError } from './s3-response-error.js';
import type { SignedGet } from './signed-get.js';

const MAX_ERROR_BODY = 64 * 1024;

export interface KeepAliveAgents { http: HttpAgent; https: HttpsAgent }

export class AnswerTooLargeError extends Error {
  constructor(readonly limit: number) {
    super(`the answer is larger than ${limit} bytes`);
    this.name = 'AnswerTooLargeError';
  }
}

// `onHead` sees a 2xx answer's status and headers before its body and may refuse it by throwing.
export function smallGet(req: SignedGet, o: {
  agents: KeepAliveAgents; limit: number; idleTimeoutMs: number; signal?: AbortSignal;
  onHead?: (status: number, headers: IncomingHttpHeaders) => void;
}): Promise<{ status: number; headers: IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const send = req.tls ? httpsRequest : httpRequest;
    const r = send({
      host: req.host, port: req.port, method: 'GET', path: req.target, headers: req.headers,
      agent: req.tls ? o.agents.https : o.agents.http, signal: o.signal, timeout: o.idleTimeoutMs,
    }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      const ok = (res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) <= 299;
      // An error's XML is read up to 64 KiB whatever the limit of a body.
      const limit = ok ? o.limit : MAX_ERROR_BODY;
      if (ok && o.onHead) {
        try { o.onHead(res.statusCode!, res.headers); } catch (err) { res.destroy(); reject(err); return; }
      }
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > limit) {
          if (ok) { res.destroy(new AnswerTooLargeError(limit)); return; }
          size -= c.length;
          return;
        }
        chunks.push(c);
      });
      res.on('error', reject);
      res.on('end', () => {
        const status = res.statusCode ?? 0;
        const body = Buffer.concat(chunks, size);
        if (status < 200 || status > 299) {
          const id = res.headers['x-amz-request-id'];
          reject(s3ResponseError(status, body.toString('utf8'), typeof id === 'string' ? id : undefined));
          return;
        }
        resolve({ status, headers: res.headers, body });
      });
    });
    r.on('timeout', () => r.destroy(Object.assign(new Error(`no answer from ${req.host}:${req.port} for ${o.idleTimeoutMs} ms`), { code: 'ETIMEDOUT' })));
    r.on('error', reject);
    r.end();
  });
}
