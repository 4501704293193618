// One HTTP/1.1 request written by hand on a fresh socket (plain or TLS), so the request target
// reaches the agent byte for byte: fetch and node:http would resolve dot segments, encode or
// reject what these tests need to send.
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';

export interface RawAnswer { status: number; headers: string; body: string }

export interface RawTarget { host: string; port: number; tls?: { ca: string; servername: string } }

export function rawRequest(t: RawTarget, method: string, target: string, headers: Record<string, string> = {}, body?: string): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const sock = t.tls
      ? tlsConnect({ host: t.host, port: t.port, ca: t.tls.ca, servername: t.tls.servername })
      : netConnect({ host: t.host, port: t.port });
    const lines = [`${method} ${target} HTTP/1.1`, `Host: ${t.host}:${t.port}`, 'Connection: close'];
    for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
    if (body !== undefined) lines.push('Content-Type: application/json', `Content-Length: ${Buffer.byteLength(body)}`);
    const chunks: Buffer[] = [];
    sock.setTimeout(10_000, () => sock.destroy(new Error(`no answer to ${method} ${target}`)));
    sock.once(t.tls ? 'secureConnect' : 'connect', () => sock.write(`${lines.join('\r\n')}\r\n\r\n${body ?? ''}`));
    sock.on('data', (c: Buffer) => chunks.push(c));
    sock.on('error', reject);
    sock.on('close', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const m = /^HTTP\/1\.1 (\d{3})[^\r\n]*\r\n([\s\S]*?)\r\n\r\n([\s\S]*)$/.exec(text);
      if (!m) return reject(new Error(`no HTTP answer to ${method} ${target}: ${JSON.stringify(text.slice(0, 200))}`));
      let payload = m[3]!;
      if (/transfer-encoding: chunked/i.test(m[2]!)) payload = unchunk(payload);
      resolve({ status: Number(m[1]), headers: m[2]!, body: payload });
    });
  });
}

function unchunk(s: string): string {
  let out = '';
  let rest = s;
  for (;;) {
    const nl = rest.indexOf('\r\n');
    if (nl < 0) return out;
    const n = parseInt(rest.slice(0, nl), 16);
    if (!n) return out;
    out += rest.slice(nl + 2, nl + 2 + n);
    rest = rest.slice(nl + 2 + n + 2);
  }
}
