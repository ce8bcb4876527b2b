import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CertificateAuthority } from './hub/join/ca.ts';
import { makeNodeCsr } from './hub/testing/csr.ts';
const certDir = join(tmpdir(), 'edgetwin-bench-cloudhub-certs');
const ca = await CertificateAuthority.loadOrCreate(certDir);
const credsFile = join(certDir, 'creds.json');
const creds = existsSync(credsFile) ? JSON.parse(readFileSync(credsFile, 'utf8')) : [];
const t = performance.now();
for (let i = creds.length; i < 10000; i++) {
  const node = `bench-${i}`;
  const { csrDer, keyPem } = await makeNodeCsr({ cn: `system:node:${node}`, o: 'system:nodes' });
  creds.push({ node, certPem: (await ca.signNodeCsr(csrDer, node)).pem, keyPem });
}
writeFileSync(credsFile, JSON.stringify(creds), { mode: 0o600 });
console.log(creds.length, Math.round(performance.now() - t), 'ms');
