// A self-signed Ed25519 certificate, byte for byte the same for the same key and names: Ed25519
// signatures are deterministic and every field here is fixed, so the operator can compute the
// certificate an agent serves without reading the Secret that holds it, and pin it as the only
// trusted root for that BaseModel.
import { createPublicKey, createHash, sign, type KeyObject } from 'node:crypto';
import { bitString, bool, explicit, integer, octets, oid, pem, seq, set, time, tlv, utf8 } from './der.js';

const ED25519 = '1.3.101.112';
// Fixed validity: from 2025-01-01 until RFC 5280's "no well-defined expiration" date. Rotation
// is by key (a new master key), not by expiry.
const NOT_BEFORE = new Date(Date.UTC(2025, 0, 1));
const NOT_AFTER = new Date(Date.UTC(9999, 11, 31, 23, 59, 59));

export type CertificateRequest = { commonName: string; dnsNames: string[] };

export function selfSignedCertificate(privateKey: KeyObject, req: CertificateRequest): string {
  const spki = createPublicKey(privateKey).export({ type: 'spki', format: 'der' });
  const name = seq(set(seq(oid('2.5.4.3'), utf8(req.commonName))));
  const algorithm = seq(oid(ED25519));
  // Serial: 16 bytes of the public key's hash, top bit clear (positive, at most 20 octets).
  const serial = createHash('sha256').update(spki).digest().subarray(0, 16);
  serial[0] = serial[0]! & 0x7f;
  const ext = (id: string, critical: boolean, value: Buffer) => seq(oid(id), ...(critical ? [bool(true)] : []), octets(value));
  const san = seq(...req.dnsNames.map((d) => tlv(0x82, Buffer.from(d, 'ascii'))));
  const extensions = seq(
    ext('2.5.29.19', true, seq(bool(true))), // basicConstraints: CA, so it can be its own trust anchor
    ext('2.5.29.15', true, bitString(Buffer.from([0x84]), 2)), // keyUsage: digitalSignature, keyCertSign
    ext('2.5.29.37', false, seq(oid('1.3.6.1.5.5.7.3.1'))), // extKeyUsage: serverAuth
    ext('2.5.29.17', false, san),
  );
  const tbs = seq(
    explicit(0, integer(2)), integer(serial), algorithm, name,
    seq(time(NOT_BEFORE), time(NOT_AFTER)), name, spki, explicit(3, extensions),
  );
  const signature = sign(null, tbs, privateKey);
  return pem('CERTIFICATE', seq(tbs, algorithm, bitString(signature)));
}
