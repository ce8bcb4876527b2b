// A self-signed server certificate that a listener beyond loopback serves when the user named none:
// made once into a directory of the data directory (0700, key 0600), reused on every start so a
// client that pinned or trusted it keeps working. Its SHA-256 fingerprint is what a user compares
// (`openssl x509 -noout -fingerprint -sha256 -in api.crt`). The cloud's certificates come from its
// own CA (hub/join/ca.ts); this module is for the gateway, which has no CA. X.509 is @peculiar/x509's.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { X509Certificate, createPrivateKey, webcrypto } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { hostname, networkInterfaces } from 'node:os';
import { join } from 'node:path';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

const EC = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGN = { name: 'ECDSA', hash: 'SHA-256' } as const;
const DAY_MS = 24 * 3600_000;
/** Long: a pinned certificate that expires breaks every client that pinned it. */
const VALID_DAYS = 10 * 365;
/** A certificate this close to its end is made anew. */
const RENEW_DAYS = 30;

export interface SelfSignedCertificate {
  cert: string;
  key: string;
  certFile: string;
  keyFile: string;
  /** SHA-256 of the DER, `AB:CD:...`, as openssl and browsers show it. */
  fingerprint: string;
  /** The DNS names and addresses it is valid for. */
  names: string[];
  /** Why it was made on this start; undefined when the one on disk was reused. */
  made?: string;
}

const isWildcard = (host: string) => ['', '0.0.0.0', '::', '[::]'].includes(host);
const bare = (host: string) => host.replace(/^\[|\]$/g, '');

/**
 * The names a listener on `host` is reached by: the host itself (unless a wildcard), this
 * machine's hostname, localhost and every address of its interfaces (link-local ones aside: their
 * zone cannot go in a certificate).
 */
export function localNames(host: string): string[] {
  const names = isWildcard(host) ? [] : [bare(host)];
  names.push(hostname(), 'localhost');
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (!a.address.toLowerCase().startsWith('fe80:')) names.push(a.address);
  }
  return [...new Set(names.filter(Boolean))];
}

/**
 * The certificate `{dir}/{name}.crt` with its key `{name}.key`, made when absent, unreadable,
 * near its end or not valid for `host`; otherwise the one on disk, unchanged.
 */
export async function loadOrCreateSelfSigned(opts: { dir: string; name: string; host: string }): Promise<SelfSignedCertificate> {
  const certFile = join(opts.dir, `${opts.name}.crt`);
  const keyFile = join(opts.dir, `${opts.name}.key`);
  mkdirSync(opts.dir, { recursive: true, mode: 0o700 });
  // A directory made earlier by hand or another umask: the key's directory is ours alone.
  chmodSync(opts.dir, 0o700);
  const reason = reuseProblem(certFile, keyFile, opts.host);
  if (reason === undefined) {
    const cert = readFileSync(certFile, 'utf8');
    const parsed = new X509Certificate(cert);
    return { cert, key: readFileSync(keyFile, 'utf8'), certFile, keyFile, fingerprint: parsed.fingerprint256, names: sansOf(parsed) };
  }
  const names = localNames(opts.host);
  const { cert, key } = await makeSelfSigned(names);
  // Key first, each through a temporary file: a crash never leaves a certificate without its key.
  writeAtomic(keyFile, key, 0o600);
  writeAtomic(certFile, cert, 0o644);
  return { cert, key, certFile, keyFile, fingerprint: new X509Certificate(cert).fingerprint256, names, made: reason };
}

/** Why the pair on disk cannot be served for `host`, or undefined when it can. */
function reuseProblem(certFile: string, keyFile: string, host: string): string | undefined {
  if (!existsSync(certFile) && !existsSync(keyFile)) return 'none existed yet';
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(readFileSync(certFile));
    if (!cert.checkPrivateKey(createPrivateKey(readFileSync(keyFile)))) return `${keyFile} is not the key of ${certFile}`;
  } catch (err) {
    return `the pair on disk is unreadable (${(err as Error).message})`;
  }
  if (Date.parse(cert.validTo) - Date.now() < RENEW_DAYS * DAY_MS) return `the one on disk ends ${new Date(cert.validTo).toISOString()}`;
  const h = bare(host);
  if (!isWildcard(host) && !(isIP(h) ? cert.checkIP(h) : cert.checkHost(h))) return `the one on disk is not valid for ${h}`;
  return undefined;
}

async function makeSelfSigned(names: string[]): Promise<{ cert: string; key: string }> {
  const keys = (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as CryptoKeyPair;
  const now = Date.now();
  const serial = webcrypto.getRandomValues(new Uint8Array(16));
  serial[0] = (serial[0]! & 0x7f) | 0x01; // positive, non-zero, as RFC 5280 asks
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: Buffer.from(serial).toString('hex'),
    name: new x509.Name([{ CN: [`edgetwin ${names[0] ?? hostname()}`] }]),
    // Backdated: a client whose clock is a little behind must still accept it.
    notBefore: new Date(now - 3600_000),
    notAfter: new Date(now + VALID_DAYS * DAY_MS),
    signingAlgorithm: SIGN,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      new x509.SubjectAlternativeNameExtension(names.map((n) => (isIP(n) ? { type: 'ip' as const, value: n } : { type: 'dns' as const, value: n }))),
    ],
  });
  const keyDer = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  return { cert: cert.toString('pem') + '\n', key: pem('PRIVATE KEY', keyDer) };
}

function pem(label: string, der: Buffer): string {
  return `-----BEGIN ${label}-----\n${der.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '')}\n-----END ${label}-----\n`;
}

function writeAtomic(file: string, text: string, mode: number): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode });
  chmodSync(tmp, mode); // the umask may have taken bits off; a key must be exactly 0600
  renameSync(tmp, file);
}

/** The subject alternative names of a certificate, as plain names and addresses. */
function sansOf(cert: X509Certificate): string[] {
  return (cert.subjectAltName ?? '')
    .split(', ')
    .map((s) => s.replace(/^(DNS|IP Address):/, ''))
    .filter(Boolean);
}
