// The cloud's certificate authority: an ECDSA P-256 key and a self-signed certificate, created on
// the first start and kept in a CaStore. It signs the node certificates the join server hands out
// (CN system:node:{node}, O system:nodes, ClientAuth) and the server certificate of CloudHub and
// the join server. X.509 and ASN.1 are @peculiar/x509's; nothing here encodes DER by hand.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { createHash, createPrivateKey, webcrypto, X509Certificate as NodeCertificate } from 'node:crypto';
import { isIP } from 'node:net';
import { DirCaStore, type CaStore } from './store.ts';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

const EC = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGN = { name: 'ECDSA', hash: 'SHA-256' } as const;
const DAY_MS = 24 * 3600 * 1000;
const SAN_OID = '2.5.29.17';

/** The node certificate's subject, KubeEdge's (edge/pkg/edgehub/certificate/certmanager.go). */
export const NODE_ORG = 'system:nodes';
export const NODE_CN_PREFIX = 'system:node:';
export const nodeCommonName = (node: string) => `${NODE_CN_PREFIX}${node}`;

/** Keys of the CA in its store (the next issue maps them onto a Secret's data keys). */
export const CA_CERT_KEY = 'ca.crt';
export const CA_KEY_KEY = 'ca.key';

export const NODE_CERT_DAYS = 365;
const CA_YEARS = 100;
const SERVER_CERT_DAYS = 5 * 365;

/** A CSR or certificate the CA refuses, with the reason a user can act on. */
export class CertificateRefused extends Error {}

export interface IssuedCertificate {
  der: Buffer;
  pem: string;
  notBefore: Date;
  notAfter: Date;
}

export interface ServerCredentials {
  certPem: string;
  keyPem: string;
  /** The names and addresses the certificate is valid for. */
  sans: string[];
}

export class CertificateAuthority {
  private constructor(
    /** The CA certificate, DER: what `GET /ca.crt` serves and the token's hash covers. */
    readonly certDer: Buffer,
    private readonly signingKey: CryptoKey,
    /** The CA private key as SEC1 DER: KubeEdge's HMAC key for join tokens. */
    readonly tokenKey: Uint8Array,
    private readonly cert: x509.X509Certificate,
    readonly store: CaStore,
  ) {}

  /** Loads the CA from `dirOrStore`, or creates it there on the first start. */
  static async loadOrCreate(dirOrStore: string | CaStore, opts: { onCreate?: (where: string) => void } = {}): Promise<CertificateAuthority> {
    const store = typeof dirOrStore === 'string' ? new DirCaStore(dirOrStore) : dirOrStore;
    const [certDer, keyPkcs8] = await Promise.all([store.get(CA_CERT_KEY), store.get(CA_KEY_KEY)]);
    if (certDer && keyPkcs8) return CertificateAuthority.from(certDer, keyPkcs8, store);
    if (certDer || keyPkcs8) {
      throw new Error(`${store.where} holds ${certDer ? CA_CERT_KEY : CA_KEY_KEY} without ${certDer ? CA_KEY_KEY : CA_CERT_KEY}: restore the missing file, or move both away to create a new CA (every node must then join again)`);
    }
    const keys = await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify']) as CryptoKeyPair;
    const now = new Date();
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: serial(),
      name: 'CN=edgetwin',
      notBefore: new Date(now.getTime() - 60_000),
      notAfter: new Date(now.getTime() + CA_YEARS * 365 * DAY_MS),
      signingAlgorithm: SIGN,
      keys,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      ],
    });
    const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
    const der = Buffer.from(cert.rawData);
    // The key first: a certificate without its key is the state a crash must not leave.
    await store.put(CA_KEY_KEY, pkcs8, { secret: true });
    await store.put(CA_CERT_KEY, der);
    opts.onCreate?.(store.where);
    return CertificateAuthority.from(der, pkcs8, store);
  }

  private static async from(certDer: Buffer, keyPkcs8: Buffer, store: CaStore): Promise<CertificateAuthority> {
    let signingKey: CryptoKey;
    let cert: x509.X509Certificate;
    try {
      cert = new x509.X509Certificate(copy(certDer));
      signingKey = await webcrypto.subtle.importKey('pkcs8', keyPkcs8, EC, false, ['sign']) as CryptoKey;
    } catch (err) {
      throw new Error(`the CA in ${store.where} cannot be read (${(err as Error).message}): restore ${CA_CERT_KEY} and ${CA_KEY_KEY} from a backup`);
    }
    const sec1 = createPrivateKey({ key: keyPkcs8, format: 'der', type: 'pkcs8' }).export({ format: 'der', type: 'sec1' });
    return new CertificateAuthority(certDer, signingKey, new Uint8Array(sec1), cert, store);
  }

  get certPem(): string {
    return toPem('CERTIFICATE', this.certDer);
  }

  /** sha256 of the CA's DER, hex: the first part of a join token, checked by the edge before it trusts the CA. */
  get hash(): string {
    return caHash(this.certDer);
  }

  /**
   * Signs a node's CSR (DER). The CSR must be signed by its own key, name CN
   * `system:node:{node}` and O `system:nodes` for the node the request is for; anything else is
   * refused, so a token holder cannot get a certificate for another node's identity.
   */
  async signNodeCsr(csrDer: Uint8Array, node: string, opts: { days?: number; now?: Date } = {}): Promise<IssuedCertificate> {
    let csr: x509.Pkcs10CertificateRequest;
    try {
      csr = new x509.Pkcs10CertificateRequest(copy(csrDer));
    } catch (err) {
      throw new CertificateRefused(`the request body is not a DER certificate signing request (${(err as Error).message})`);
    }
    if (!(await csr.verify().catch(() => false))) throw new CertificateRefused('the certificate signing request is not signed by its own key');
    const cns = csr.subjectName.getField('CN');
    const orgs = csr.subjectName.getField('O');
    const wantCn = nodeCommonName(node);
    if (cns.length !== 1 || cns[0] !== wantCn) {
      throw new CertificateRefused(`the CSR's CN is ${cns.length ? `"${cns.join(',')}"` : 'missing'}, it must be "${wantCn}" for NodeName ${node}`);
    }
    if (orgs.length !== 1 || orgs[0] !== NODE_ORG) {
      throw new CertificateRefused(`the CSR's O is ${orgs.length ? `"${orgs.join(',')}"` : 'missing'}, it must be "${NODE_ORG}"`);
    }
    const sanExt = csr.getExtension(SAN_OID);
    const sans = sanExt ? new x509.SubjectAlternativeNameExtension(sanExt.rawData) : undefined;
    const now = opts.now ?? new Date();
    // notBefore is the signing time, not earlier: revocation refuses certificates issued before it.
    const notBefore = new Date(Math.floor(now.getTime() / 1000) * 1000);
    const notAfter = new Date(notBefore.getTime() + (opts.days ?? NODE_CERT_DAYS) * DAY_MS);
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: serial(),
      subject: new x509.Name([{ CN: [wantCn] }, { O: [NODE_ORG] }]),
      issuer: this.cert.subject,
      notBefore,
      notAfter,
      signingAlgorithm: SIGN,
      publicKey: csr.publicKey,
      signingKey: this.signingKey,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
        await x509.AuthorityKeyIdentifierExtension.create(this.cert),
        ...(sans ? [new x509.SubjectAlternativeNameExtension(sans.names.toJSON())] : []),
      ],
    });
    const der = Buffer.from(cert.rawData);
    return { der, pem: toPem('CERTIFICATE', der), notBefore, notAfter };
  }

  /** A fresh server certificate for CloudHub and the join server, valid for `sans` (DNS names or IPs). */
  async issueServerCert(sans: string[]): Promise<ServerCredentials> {
    const names = [...new Set(sans.map((s) => s.trim()).filter(Boolean))];
    if (names.length === 0) throw new Error('the server certificate needs at least one name or address (--advertise)');
    const keys = await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify']) as CryptoKeyPair;
    const now = Date.now();
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: serial(),
      subject: new x509.Name([{ CN: [names[0]!] }]),
      issuer: this.cert.subject,
      // Backdated: an edge whose clock is a little behind must still accept it.
      notBefore: new Date(now - 3600_000),
      notAfter: new Date(now + SERVER_CERT_DAYS * DAY_MS),
      signingAlgorithm: SIGN,
      publicKey: keys.publicKey,
      signingKey: this.signingKey,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
        await x509.AuthorityKeyIdentifierExtension.create(this.cert),
        new x509.SubjectAlternativeNameExtension(names.map((n) => (isIP(n) ? { type: 'ip' as const, value: n } : { type: 'dns' as const, value: n }))),
      ],
    });
    const keyDer = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
    return { certPem: toPem('CERTIFICATE', Buffer.from(cert.rawData)), keyPem: toPem('PRIVATE KEY', keyDer), sans: names };
  }

  /**
   * Checks a client certificate (DER) the way CloudHub and certificate rotation need it: issued by
   * this CA, within its validity, for ClientAuth, O system:nodes; returns the node its CN names.
   */
  verifyNodeCert(der: Uint8Array, now: Date = new Date()): { node: string; notBefore: Date; notAfter: Date } {
    let cert: NodeCertificate;
    try {
      cert = new NodeCertificate(der);
    } catch (err) {
      throw new CertificateRefused(`the client certificate cannot be parsed (${(err as Error).message})`);
    }
    const ca = new NodeCertificate(this.certDer);
    if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey)) throw new CertificateRefused('the client certificate is not signed by this cloud\'s CA');
    const notBefore = new Date(cert.validFrom);
    const notAfter = new Date(cert.validTo);
    if (now < notBefore || now > notAfter) throw new CertificateRefused(`the client certificate is valid from ${notBefore.toISOString()} to ${notAfter.toISOString()}, not now: join again`);
    if (!(cert.keyUsage ?? []).includes(x509.ExtendedKeyUsage.clientAuth)) throw new CertificateRefused('the client certificate is not for client authentication (no ClientAuth usage)');
    const subject = parseSubject(cert.subject);
    if (subject.O.length !== 1 || subject.O[0] !== NODE_ORG) throw new CertificateRefused(`the client certificate's O must be "${NODE_ORG}"`);
    const cn = subject.CN.length === 1 ? subject.CN[0]! : '';
    if (!cn.startsWith(NODE_CN_PREFIX) || cn.length === NODE_CN_PREFIX.length) throw new CertificateRefused(`the client certificate's CN "${cn}" does not name a node (system:node:{node})`);
    return { node: cn.slice(NODE_CN_PREFIX.length), notBefore, notAfter };
  }
}

/** sha256 hex of a certificate's DER. */
export function caHash(der: Uint8Array): string {
  return createHash('sha256').update(der).digest('hex');
}

export function toPem(label: string, der: Uint8Array): string {
  const b64 = Buffer.from(der).toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

/** node:crypto's subject string, one `KEY=value` per line. Multi-valued keys repeat. */
function parseSubject(subject: string): { CN: string[]; O: string[] } {
  const out = { CN: [] as string[], O: [] as string[] };
  for (const line of subject.split('\n')) {
    const eq = line.indexOf('=');
    const key = line.slice(0, eq);
    if (key === 'CN' || key === 'O') out[key].push(line.slice(eq + 1));
  }
  return out;
}

/** An ArrayBuffer-backed copy, which the x509 parsers take. */
function copy(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return new Uint8Array(bytes);
}

/** A random positive 128-bit serial (hex), as RFC 5280 asks: unique, unpredictable. */
function serial(): string {
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0] = (bytes[0]! & 0x7f) | 0x01;
  return Buffer.from(bytes).toString('hex');
}
