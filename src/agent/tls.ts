// The agent's TLS certificate and key from the mounted kubernetes.io/tls Secret. The files are
// looked at every few seconds; when they change (the operator rotated the Secret and the kubelet
// swapped the volume) and the new pair is valid, the running server takes it for new connections.
// A half-written or mismatched pair is ignored until it becomes valid.
import { readFile } from 'node:fs/promises';
import { createSecureContext, type SecureContextOptions } from 'node:tls';
import type { Logger } from '../util/log.js';

export interface TlsPair { key: string; cert: string }

export const TLS_OPTIONS = { minVersion: 'TLSv1.3' } as const satisfies SecureContextOptions;

export async function readTlsPair(certFile: string, keyFile: string): Promise<TlsPair> {
  const [cert, key] = await Promise.all([readFile(certFile, 'utf8'), readFile(keyFile, 'utf8')]);
  return checkTlsPair({ cert, key }, certFile, keyFile);
}

function checkTlsPair({ cert, key }: TlsPair, certFile: string, keyFile: string): TlsPair {
  // createSecureContext accepts empty input (a file caught between truncate and write), which
  // would leave the server without a certificate: insist on both PEM blocks first.
  if (!/-----BEGIN CERTIFICATE-----/.test(cert)) throw new Error(`${certFile} holds no PEM certificate`);
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(key)) throw new Error(`${keyFile} holds no PEM private key`);
  // Throws on a bad PEM or a key that does not match the certificate.
  createSecureContext({ cert, key, ...TLS_OPTIONS });
  return { cert, key };
}

// Calls `apply` with each new valid pair; returns a function that stops watching.
export function watchTlsPair(
  certFile: string, keyFile: string, current: TlsPair, apply: (p: TlsPair) => void, log: Logger, intervalMs = 5_000,
): () => void {
  let last = current;
  let lastProblem = '';
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    // The files as they are; only a pair that differs from the one in use is checked: no secure
    // context is built every few seconds for the same files.
    void Promise.all([readFile(certFile, 'utf8'), readFile(keyFile, 'utf8')]).then(([cert, key]) => {
      if (cert === last.cert && key === last.key) {
        lastProblem = '';
        return;
      }
      const p = checkTlsPair({ cert, key }, certFile, keyFile);
      lastProblem = '';
      apply(p);
      last = p;
      log.info({ certFile }, 'TLS certificate reloaded');
    }).catch((err: unknown) => {
      const problem = (err as Error).message;
      if (problem !== lastProblem) log.warn({ err, certFile, keyFile }, 'cannot use the TLS files as they are now; keeping the current certificate');
      lastProblem = problem;
    }).finally(() => { busy = false; });
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
