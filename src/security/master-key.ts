// The operator's master key: one Secret in the operator's own namespace, read by name (RBAC can
// limit `get` to that resourceName) and made on first start. Two replicas starting together may
// both try to make it; the loser of the create reads the winner's.
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { apiStatus } from '../runtime/errors.js';
import type { KubeClient } from '../runtime/kube-client.js';
import { kind, type KubeObject } from '../runtime/object.js';
import { LABEL_MANAGED_BY, MANAGED_BY } from '../contracts/names.js';
import { KeyRing } from './keys.js';

export const MASTER_KEY_FIELD = 'master-key';
export const DEFAULT_MASTER_KEY_SECRET = 'graft-operator-key';
const SecretKind = kind('v1', 'Secret', 'secrets');

export async function loadKeyRing(client: KubeClient, namespace: string, name: string, log: Logger): Promise<KeyRing> {
  for (let attempt = 0; attempt < 3; attempt++) {
    const live = await client.get<KubeObject & { data?: Record<string, string> }>(SecretKind, namespace, name);
    const b64 = live?.data?.[MASTER_KEY_FIELD];
    if (live) {
      if (!b64) throw new Error(`Secret ${namespace}/${name} has no "${MASTER_KEY_FIELD}" key: delete it (Graft makes a new one) or add a base64 key of at least 32 bytes`);
      return new KeyRing(Buffer.from(b64, 'base64'));
    }
    try {
      await client.create(SecretKind, {
        apiVersion: 'v1', kind: 'Secret',
        metadata: { name, namespace, labels: { [LABEL_MANAGED_BY]: MANAGED_BY } },
        type: 'Opaque',
        data: { [MASTER_KEY_FIELD]: randomBytes(32).toString('base64') },
      } as KubeObject);
      log.info({ secret: `${namespace}/${name}` }, 'created the operator master key');
    } catch (err) {
      if (apiStatus(err) !== 409) throw err; // another replica made it first: read it
    }
  }
  throw new Error(`could not read or create the master key Secret ${namespace}/${name}`);
}
