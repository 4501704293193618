import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent, type AgentOptions } from 'node:https';
import { createSecureContext } from 'node:tls';

// client-node 1.x builds a new https.Agent for every request (KubeConfig.applySecurityAuthentication),
// so every request paid a TCP connect, a full TLS handshake and a new SecureContext (the CA and
// the client key parsed again), on both ends: in a 1000-Adapter run that was most of the
// operator's CPU and much of the API server's. ReusedConnections keeps one keep-alive agent and
// hands it out instead, for as long as the TLS material the kubeconfig gives is the same; new
// material (a rotated certificate or CA) makes a new agent, and the old one is closed once its
// requests have had time to finish. Proxy agents are passed through untouched.

const TLS_OPTIONS = ['ca', 'cert', 'key', 'pfx', 'passphrase', 'servername', 'rejectUnauthorized'] as const;

export type ConnectionLimits = { maxSockets: number; maxFreeSockets: number };

export class ReusedConnections {
  private kept: { https: boolean; options: AgentOptions; agent: HttpAgent } | undefined;

  // As many kept as may be open: a burst of writes beyond the kept ones would otherwise close
  // them afterwards and pay a TLS handshake each, on both ends, at the next burst.
  constructor(private readonly limits: ConnectionLimits = { maxSockets: 64, maxFreeSockets: 64 }, private readonly retireMs = 60_000) {}

  // The agent to send a request with, given the one client-node made for it.
  reuse<T>(fresh: T): T | HttpAgent {
    const cls = (fresh as { constructor?: unknown } | undefined)?.constructor;
    if (cls !== HttpsAgent && cls !== HttpAgent) return fresh;
    const https = cls === HttpsAgent;
    const options = (fresh as unknown as { options: AgentOptions }).options;
    if (this.kept && this.kept.https === https && sameTls(this.kept.options, options)) return this.kept.agent;
    const old = this.kept?.agent;
    if (old) setTimeout(() => old.destroy(), this.retireMs).unref();
    // The CA and the client key are parsed once for the pool, not once per connection.
    const { ca, cert, key, pfx, passphrase, servername, rejectUnauthorized } = options;
    const tls: AgentOptions = { ca, cert, key, pfx, passphrase, servername, rejectUnauthorized };
    const agent = https
      ? new HttpsAgent({ secureContext: createSecureContext({ ca, cert, key, pfx, passphrase }), servername, rejectUnauthorized, keepAlive: true, ...this.limits })
      : new HttpAgent({ keepAlive: true, ...this.limits });
    this.kept = { https, options: tls, agent };
    return agent;
  }

  close(): void {
    this.kept?.agent.destroy();
    this.kept = undefined;
  }
}

function sameTls(a: AgentOptions, b: AgentOptions): boolean {
  return TLS_OPTIONS.every((k) => same(a[k], b[k]));
}

function same(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Buffer.isBuffer(a) && Buffer.isBuffer(b)) return a.equals(b);
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => same(x, b[i]));
  return false;
}
