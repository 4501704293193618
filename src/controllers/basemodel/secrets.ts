import type { V1Secret } from '@kubernetes/client-node';
import type { BaseModel } from '../../api/basemodel.js';
import type { KeyRing } from '../../security/keys.js';
import {
  ENGINE_KEY_KEY, engineKeySecretName, TLS_CERT_KEY, TLS_KEY_KEY, tlsSecretName, TOKEN_KEY, tokenSecretName,
} from '../../contracts/names.js';
import { childMeta } from './children.js';

// The Secrets the pods of a BaseModel mount, with content derived from the operator's master key
// (src/security/keys.ts): the same bytes every time, so the operator can make them without ever
// reading them back, and compute what it needs (the token it sends, the certificate it pins).
// The agent token always; the TLS pair and the engine key while their security default is on.
export function desiredSecrets(bm: BaseModel, keys: KeyRing): V1Secret[] {
  const ref = { namespace: bm.metadata.namespace!, name: bm.metadata.name! };
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  const secret = (name: string, type: string, data: Record<string, string>): V1Secret => ({
    apiVersion: 'v1', kind: 'Secret', metadata: childMeta(bm, name), type, data,
  });
  const out = [secret(tokenSecretName(ref.name), 'Opaque', { [TOKEN_KEY]: b64(keys.agentToken(ref)) })];
  if (bm.spec.security.agentTLS) {
    const tls = keys.agentTls(ref);
    out.push(secret(tlsSecretName(ref.name), 'kubernetes.io/tls', { [TLS_CERT_KEY]: b64(tls.certPem), [TLS_KEY_KEY]: b64(tls.keyPem) }));
  }
  if (bm.spec.security.engineAPIKey) out.push(secret(engineKeySecretName(ref.name), 'Opaque', { [ENGINE_KEY_KEY]: b64(keys.engineKey(ref)) }));
  return out;
}
