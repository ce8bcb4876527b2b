// The join server (KubeEdge's CloudHub HTTPS server, port 10002): hands out the CA and signs node
// certificates. TLS always; a client certificate is requested but optional, because a first join
// has only its token. Tokens and keys never reach the log.
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { Logger } from '../../core/log.ts';
import { CertificateRefused, type CertificateAuthority, type ServerCredentials } from './ca.ts';
import type { IssuedNodes, Revocations } from './revocation.ts';
import { verifyJoinToken } from './token.ts';

/** A CSR is a few hundred bytes; anything far bigger is not one. */
const MAX_CSR_BYTES = 16 * 1024;
const NODE_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export function isValidNodeName(name: string): boolean {
  return name.length > 0 && name.length <= 253 && NODE_NAME.test(name);
}

export interface JoinServerOptions {
  ca: CertificateAuthority;
  credentials: ServerCredentials;
  revocations: Revocations;
  issued: IssuedNodes;
  log: Logger;
  /** Nodes with a live CloudHub session, also "found" by `GET /node/{name}`. */
  connected?: (node: string) => boolean;
  /** Called after a certificate was issued, e.g. to count it. */
  onIssued?: (node: string, via: 'token' | 'certificate') => void;
}

class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

export function createJoinServer(opts: JoinServerOptions): Server {
  const { ca, credentials, log } = opts;
  const server = createServer({
    cert: credentials.certPem,
    key: credentials.keyPem,
    ca: ca.certPem,
    requestCert: true,
    rejectUnauthorized: false,
    minVersion: 'TLSv1.2',
  }, (req, res) => {
    handle(req, res).catch((err: unknown) => {
      const status = err instanceof HttpError ? err.status : 500;
      const message = (err as Error).message;
      if (status >= 500) log.error({ err, path: req.url }, 'join request failed');
      else log.warn({ path: req.url, node: headerOf(req, 'nodename'), remote: req.socket.remoteAddress, reason: message }, 'join request refused');
      if (!res.headersSent) res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(`${message}\n`);
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'https://join').pathname;
    if (path === '/ca.crt' && req.method === 'GET') {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': ca.certDer.length });
      res.end(ca.certDer);
      return;
    }
    if (path === '/edge.crt' && (req.method === 'GET' || req.method === 'POST')) {
      await signEdgeCert(req, res);
      return;
    }
    const nodePath = /^\/node\/([^/]+)$/.exec(path);
    if (nodePath && req.method === 'GET') {
      const node = decodeURIComponent(nodePath[1]!);
      const found = !opts.revocations.revokedAt(node) && (opts.issued.has(node) || opts.connected?.(node) === true);
      res.writeHead(found ? 200 : 404, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(found ? 'Node found\n' : `Node ${node} not found\n`);
      return;
    }
    throw new HttpError(404, `no route ${req.method} ${path}: this server serves GET /ca.crt, GET|POST /edge.crt and GET /node/{name}`);
  }

  async function signEdgeCert(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const node = headerOf(req, 'nodename');
    if (!node) throw new HttpError(400, 'the NodeName header is missing: send the name of the node that asks for a certificate');
    if (!isValidNodeName(node)) throw new HttpError(400, `NodeName "${node}" is not a valid node name (lower-case letters, digits, "-" and ".")`);
    const via = await authenticate(req, node);
    const csr = await readBody(req);
    if (csr.length === 0) throw new HttpError(400, 'the request body is empty: send the certificate signing request in DER');
    let issued;
    try {
      issued = await ca.signNodeCsr(csr, node);
    } catch (err) {
      if (err instanceof CertificateRefused) throw new HttpError(400, err.message);
      throw err;
    }
    await opts.issued.record(node, issued.notAfter);
    log.info({ node, via, notAfter: issued.notAfter.toISOString(), remote: req.socket.remoteAddress }, 'node certificate issued');
    opts.onIssued?.(node, via);
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': issued.der.length });
    res.end(issued.der);
  }

  /**
   * A valid certificate of this very node (rotation), else a join token (first join). A token
   * sent beside a certificate that is refused (expired, revoked) still counts: that is a re-join.
   */
  async function authenticate(req: IncomingMessage, node: string): Promise<'token' | 'certificate'> {
    const peer = (req.socket as TLSSocket).getPeerCertificate();
    const auth = headerOf(req, 'authorization');
    if (peer && peer.raw) {
      let refusal: string;
      try {
        const who = ca.verifyNodeCert(peer.raw);
        if (who.node !== node) refusal = `the client certificate is node ${who.node}'s, not NodeName ${node}'s`;
        else if (opts.revocations.refuses(node, who.notBefore)) refusal = `node ${node}'s certificate was revoked: join again with a new token`;
        else return 'certificate';
      } catch (err) {
        refusal = `the client certificate is refused: ${(err as Error).message}`;
      }
      if (!auth) throw new HttpError(401, refusal);
    }
    const m = auth ? /^Bearer\s+(\S+)$/i.exec(auth) : null;
    if (!m) throw new HttpError(401, 'no credentials: send Authorization: Bearer <join token> (from `edgetwin cloud token`), or present the node\'s current certificate to renew it');
    const check = await verifyJoinToken(m[1]!, ca);
    if (!check.ok) throw new HttpError(401, check.reason);
    return 'token';
  }

  return server;
}

function headerOf(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_CSR_BYTES) throw new HttpError(400, `the request body is over ${MAX_CSR_BYTES} bytes: a certificate signing request is far smaller`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}
