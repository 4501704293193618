// Every per-BaseModel secret, derived from one master key the operator keeps in its own namespace
// (HMAC-SHA256 over a purpose and "namespace/name"). The operator therefore never reads Secrets in
// the namespaces it watches: it creates the agent token, engine key and TLS Secrets once, and
// computes what it needs (the token it sends, the certificate it pins) from the master key.
// Rotating the master key rotates everything; delete the per-BaseModel Secrets with it.
import { createHmac, createPrivateKey, type KeyObject } from 'node:crypto';
import { pem } from './der.js';
import { selfSignedCertificate } from './x509.js';

// PKCS#8 prefix of an Ed25519 private key; the 32-byte seed follows (RFC 8410).
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

export type BaseModelRef = { namespace: string; name: string };

const PURPOSES = ['agent-token', 'engine-key', 'agent-tls'] as const;
// What the master key's HMAC runs over: the purpose, versioned, and the BaseModel.
const deriveInput = (purpose: typeof PURPOSES[number], bm: BaseModelRef) => `graft/${purpose}/v1\n${bm.namespace}/${bm.name}`;

export type AgentTls = { certPem: string; keyPem: string };

export class KeyRing {
  private readonly tlsCache = new Map<string, AgentTls>();
  // Derived values by purpose and BaseModel: the operator sends the token with every agent call,
  // and an HMAC (a new one each time) is most of such a call's own CPU.
  private readonly derived = new Map<string, Buffer>();

  constructor(private readonly master: Buffer) {
    if (master.length < 32) throw new Error('the master key must be at least 32 bytes');
  }

  private derive(purpose: typeof PURPOSES[number], bm: BaseModelRef): Buffer {
    const input = deriveInput(purpose, bm);
    let out = this.derived.get(input);
    if (!out) {
      out = createHmac('sha256', this.master).update(input).digest();
      this.derived.set(input, out);
    }
    return out;
  }

  // Forgets what was derived for a BaseModel that is gone.
  forget(bm: BaseModelRef): void {
    for (const purpose of PURPOSES) this.derived.delete(deriveInput(purpose, bm));
    this.tlsCache.delete(`${bm.namespace}/${bm.name}`);
  }

  // The bearer token the agents of this BaseModel accept.
  agentToken(bm: BaseModelRef): string {
    return this.derive('agent-token', bm).toString('hex');
  }

  // The engine's --api-key: only the agent (and clients given the Secret) may call the engine.
  engineKey(bm: BaseModelRef): string {
    return this.derive('engine-key', bm).toString('hex');
  }

  // The agent's TLS key and self-signed certificate; the same bytes every time for a BaseModel.
  agentTls(bm: BaseModelRef): AgentTls {
    const id = `${bm.namespace}/${bm.name}`;
    let tls = this.tlsCache.get(id);
    if (!tls) {
      const key = this.agentTlsKey(bm);
      tls = {
        keyPem: key.export({ type: 'pkcs8', format: 'pem' }).toString(),
        certPem: selfSignedCertificate(key, { commonName: agentServerName(bm), dnsNames: [agentServerName(bm)] }),
      };
      this.tlsCache.set(id, tls);
    }
    return tls;
  }

  private agentTlsKey(bm: BaseModelRef): KeyObject {
    return createPrivateKey({ key: Buffer.concat([ED25519_PKCS8_PREFIX, this.derive('agent-tls', bm)]), format: 'der', type: 'pkcs8' });
  }
}

// The name in the agent's certificate (pods have no stable DNS name; the operator connects to the
// pod address and checks the certificate against this name).
export function agentServerName(bm: BaseModelRef): string {
  return `${bm.name}.${bm.namespace}.agent.graft.dev`;
}


