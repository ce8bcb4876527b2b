// A node's key and CSR made the way a join client makes them (ECDSA P-256, O system:nodes,
// CN system:node:{node}), for tests of the cloud side that must not depend on the edge's client.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { webcrypto } from 'node:crypto';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

export interface TestNodeKey {
  csrDer: Buffer;
  keyPem: string;
}

export async function makeNodeCsr(subject: { cn: string; o?: string }, dns: string[] = []): Promise<TestNodeKey> {
  const keys = await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']) as CryptoKeyPair;
  const name: Record<string, string[]>[] = [{ CN: [subject.cn] }];
  if (subject.o !== undefined) name.push({ O: [subject.o] });
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: new x509.Name(name),
    keys,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    extensions: dns.length ? [new x509.SubjectAlternativeNameExtension(dns.map((value) => ({ type: 'dns' as const, value })))] : [],
  });
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  const b64 = pkcs8.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '');
  return { csrDer: Buffer.from(csr.rawData), keyPem: `-----BEGIN PRIVATE KEY-----\n${b64}\n-----END PRIVATE KEY-----\n` };
}
