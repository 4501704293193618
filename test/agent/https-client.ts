// Small HTTP(S) clients for tests that must control TLS pinning exactly (no pooling).
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';

export type Answer = { status: number; body: string };

// A GET that trusts only `ca` and checks the certificate against `servername`.
export function httpsGet(url: string, o: { ca: string; servername: string; headers?: Record<string, string> }): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { ca: o.ca, servername: o.servername, headers: o.headers, agent: false, timeout: 5_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end();
  });
}

export function plainGet(url: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { agent: false, timeout: 5_000 }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => { body += c.toString('utf8'); });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end();
  });
}


// fetch-like over HTTPS with a pinned certificate (for test/agent/agent-process.ts).
export function pinnedFetch(pin: { ca: string; servername: string }) {
  return (url: string, init: { method: string; headers: Record<string, string>; body?: string }): Promise<{ status: number; text: string }> =>
    new Promise((resolve, reject) => {
      const req = httpsRequest(url, { method: init.method, headers: init.headers, ca: pin.ca, servername: pin.servername, agent: false, timeout: 10_000 }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => { text += c; });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      });
      req.on('error', reject);
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.end(init.body);
    });
}
