// The join client (`edgetwin join`) and certificate renewal, following KubeEdge's edge
// (edge/pkg/edgehub/certificate/certmanager.go, http/http.go):
// 1. GET https://{server}/ca.crt trusting nothing: the answer is only a candidate;
// 2. check sha256(CA DER) against the token's first part BEFORE the CA is trusted for anything;
// 3. make an ECDSA P-256 key and a CSR (O system:nodes, CN system:node:{node});
// 4. GET /edge.crt with the CSR (DER) as the body, headers NodeName and Authorization: Bearer
//    {jwt}, over TLS pinned to that CA;
// 5. write the CA, the certificate and the key (0600) under the data directory.
// Renewal does 3-5 with the current certificate as the TLS client certificate and no token.
// The X.509 library loads here only, never in a running gateway until a renewal is due.

import { createHash, webcrypto } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { EdgetwinError, ErrorCodes } from '../../core/errors.ts';
import { derToPem, ensureDir, identityOf, NODE_CN_PREFIX, nodeFiles, writeAtomic, type NodeFiles } from './node-files.ts';

export const DEFAULT_JOIN_PORT = 10002;
const TIMEOUT_MS = 15_000;

export interface JoinToken {
  caHash: string;
  jwt: string;
}

/** `{sha256hex(CA DER)}.{JWT}`: four dot-separated parts (pkg/security/token/token.go). */
export function parseToken(token: string): JoinToken {
  const t = token.trim();
  const parts = t.split('.');
  if (parts.length !== 4 || !/^[0-9a-f]{64}$/i.test(parts[0]!)) {
    throw joinError('the token is not a join token: expected {sha256 of the CA}.{JWT} (4 parts separated by dots)', 'print a new one on the cloud with `edgetwin cloud token`');
  }
  return { caHash: parts[0]!.toLowerCase(), jwt: parts.slice(1).join('.') };
}

/** `host`, `host:port` or `[v6]:port`; the port defaults to 10002. */
export function joinServer(cloud: string): { host: string; port: number; label: string } {
  const s = cloud.replace(/^https?:\/\//, '').replace(/\/.*$/, '');
  const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(s);
  if (!m) throw joinError(`--cloud "${cloud}" is not host or host:port`, 'for example --cloud 10.0.0.5 or --cloud cloud.example.com:10002');
  const host = m[1]!.replace(/^\[|\]$/g, '');
  const port = m[2] ? Number(m[2]) : DEFAULT_JOIN_PORT;
  return { host, port, label: `${m[1]}:${port}` };
}

export interface JoinOptions {
  cloud: string;
  token: string;
  nodeName: string;
  dataDir: string;
}

export interface JoinResult {
  nodeName: string;
  files: NodeFiles;
  notAfter: number;
}

export async function join(opts: JoinOptions): Promise<JoinResult> {
  if (!opts.nodeName || opts.nodeName.includes('/')) throw joinError(`node name "${opts.nodeName}" is empty or has a slash`, 'pass --node-name with a DNS-style name');
  const token = parseToken(opts.token);
  const server = joinServer(opts.cloud);
  const caDer = await fetchCa(server);
  const served = createHash('sha256').update(caDer).digest('hex');
  if (served !== token.caHash) {
    throw joinError(
      `the CA served by ${server.label} does not match the token (token says sha256 ${token.caHash.slice(0, 16)}..., served ${served.slice(0, 16)}...)`,
      'the token belongs to another cloud, or something is between this gateway and the cloud; get a token from this cloud with `edgetwin cloud token`',
    );
  }
  const caPem = derToPem(caDer, 'CERTIFICATE');
  const { keyPem, csrDer } = await keyAndCsr(opts.nodeName);
  const certDer = await fetchCertificate(server, caPem, csrDer, opts.nodeName, { bearer: token.jwt });
  const certPem = derToPem(certDer, 'CERTIFICATE');
  const id = identityOf(certPem);
  if (id.nodeName !== opts.nodeName) throw joinError(`the cloud signed a certificate for node "${id.nodeName}", not "${opts.nodeName}"`, 'check the cloud\'s version and log');
  const files = nodeFiles(opts.dataDir);
  ensureDir(files);
  writeAtomic(files.ca, caPem);
  writeAtomic(files.key, keyPem, 0o600);
  writeAtomic(files.cert, certPem);
  writeAtomic(files.info, `${JSON.stringify({ joinServer: server.label })}\n`);
  return { nodeName: id.nodeName, files, notAfter: id.notAfter };
}

/**
 * A new key and certificate for a joined node, authenticated by its current certificate (no
 * token). The new files replace the old ones only once the cloud signed: a failed renewal leaves
 * the working certificate in place.
 */
export async function renew(files: NodeFiles, server: string): Promise<{ notAfter: number }> {
  const caPem = readFileSync(files.ca, 'utf8');
  const current = { cert: readFileSync(files.cert, 'utf8'), key: readFileSync(files.key, 'utf8') };
  const { nodeName } = identityOf(current.cert, files.cert);
  const { keyPem, csrDer } = await keyAndCsr(nodeName);
  const certDer = await fetchCertificate(joinServer(server), caPem, csrDer, nodeName, { client: current });
  const certPem = derToPem(certDer, 'CERTIFICATE');
  const id = identityOf(certPem);
  writeAtomic(files.key, keyPem, 0o600);
  writeAtomic(files.cert, certPem);
  return { notAfter: id.notAfter };
}

async function keyAndCsr(nodeName: string): Promise<{ keyPem: string; csrDer: Buffer }> {
  await import('reflect-metadata');
  const x509 = await import('@peculiar/x509');
  const crypto = webcrypto as unknown as Crypto;
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = await crypto.subtle.generateKey(alg, true, ['sign', 'verify']);
  const csr = await x509.Pkcs10CertificateRequestGenerator.create(
    { name: [{ O: ['system:nodes'] }, { CN: [`${NODE_CN_PREFIX}${nodeName}`] }], keys, signingAlgorithm: alg },
    crypto,
  );
  const pkcs8 = await crypto.subtle.exportKey('pkcs8', keys.privateKey);
  return { keyPem: derToPem(new Uint8Array(pkcs8), 'PRIVATE KEY'), csrDer: Buffer.from(csr.rawData) };
}

/** The CA, with nothing trusted yet: its hash is checked by the caller before any use. */
function fetchCa(server: { host: string; port: number; label: string }): Promise<Buffer> {
  return call(server, '/ca.crt', { rejectUnauthorized: false }, undefined, {});
}

function fetchCertificate(
  server: { host: string; port: number; label: string },
  caPem: string,
  csrDer: Buffer,
  nodeName: string,
  auth: { bearer: string } | { client: { cert: string; key: string } },
): Promise<Buffer> {
  const headers: Record<string, string> = { NodeName: nodeName, 'Content-Type': 'application/octet-stream' };
  const tls: Record<string, unknown> = { ca: caPem };
  if ('bearer' in auth) headers.Authorization = `Bearer ${auth.bearer}`;
  else Object.assign(tls, auth.client);
  return call(server, '/edge.crt', tls, csrDer, headers);
}

function call(server: { host: string; port: number; label: string }, path: string, tls: Record<string, unknown>, body: Buffer | undefined, headers: Record<string, string>): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    if (body) headers['Content-Length'] = String(body.length);
    // GET with a body, as KubeEdge's edgecore sends the CSR.
    const req = request({ host: server.host, port: server.port, path, method: 'GET', headers, timeout: TIMEOUT_MS, ...tls }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const data = Buffer.concat(chunks);
        if (res.statusCode === 200) return resolve(data);
        const said = data.toString('utf8').trim().slice(0, 500) || '(no message)';
        const hint = res.statusCode === 401
          ? 'the token is expired, tampered with, or from another cloud; print a new one on the cloud with `edgetwin cloud token`'
          : 'see the cloud\'s log';
        reject(joinError(`the join server at ${server.label} answered ${path} with HTTP ${res.statusCode}: ${said}`, hint));
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${TIMEOUT_MS / 1000} s`)));
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (err instanceof EdgetwinError) return reject(err);
      const what = err.code === 'ECONNREFUSED' || err.code === 'ENOTFOUND' || err.code === 'EHOSTUNREACH' || err.code === 'ETIMEDOUT' || /no answer/.test(err.message)
        ? `cannot reach the join server at https://${server.label}${path}: ${err.code ?? err.message}`
        : `the TLS call to https://${server.label}${path} failed: ${err.message}`;
      reject(joinError(what, 'is `edgetwin cloud` running there, with its join port (default 10002) reachable from this gateway?'));
    });
    req.end(body);
  });
}

function joinError(message: string, hint: string): EdgetwinError {
  return new EdgetwinError(ErrorCodes.CONFIG, message, {}, hint);
}
