import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { SANDBOX_GATEWAY } from './netns.js';

// Certificates for a throwaway control plane, made with the openssl command line: a CA, the API
// server's serving certificate (127.0.0.1 and localhost, and the sandbox bridge's 10.244.0.1, where
// it serves inside the sandbox network, see netns.ts), an admin client certificate in group
// system:masters, and the service-account signing key pair.
export type Pki = {
  caCert: string; caKey: string;
  servingCert: string; servingKey: string;
  adminCert: string; adminKey: string;
  saKey: string; saPub: string;
};

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

function signed(dir: string, name: string, subject: string, ext: string, pki: { caCert: string; caKey: string }): [string, string] {
  const key = join(dir, `${name}.key`), csr = join(dir, `${name}.csr`), crt = join(dir, `${name}.crt`), extFile = join(dir, `${name}.ext`);
  execFileSync('sh', ['-c', `printf '%s\n' "$1" > "$2"`, 'sh', ext, extFile]);
  openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', csr, '-subj', subject], dir);
  openssl(['x509', '-req', '-in', csr, '-CA', pki.caCert, '-CAkey', pki.caKey, '-CAcreateserial', '-out', crt, '-days', '30', '-extfile', extFile], dir);
  return [crt, key];
}

export function makePki(dir: string): Pki {
  const caCert = join(dir, 'ca.crt'), caKey = join(dir, 'ca.key');
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', caKey, '-out', caCert,
    '-subj', '/CN=graft-sandbox-ca', '-days', '30', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
  const ca = { caCert, caKey };
  const [servingCert, servingKey] = signed(dir, 'apiserver', '/CN=kube-apiserver',
    `subjectAltName=IP:127.0.0.1,IP:${SANDBOX_GATEWAY},DNS:localhost,DNS:kubernetes.default.svc\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature,keyEncipherment`, ca);
  const [adminCert, adminKey] = signed(dir, 'admin', '/O=system:masters/CN=graft-admin',
    'extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature,keyEncipherment', ca);
  const saKey = join(dir, 'sa.key'), saPub = join(dir, 'sa.pub');
  openssl(['genrsa', '-out', saKey, '2048'], dir);
  openssl(['rsa', '-in', saKey, '-pubout', '-out', saPub], dir);
  return { caCert, caKey, servingCert, servingKey, adminCert, adminKey, saKey, saPub };
}
