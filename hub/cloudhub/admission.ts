// Who may open a session: a client certificate from this cloud's CA, a valid `node_id` header,
// and, unlike KubeEdge (authorization off by default), a certificate whose CN is
// `system:node:{node_id}`; not revoked, and within the node limit. A refusal says why, in the
// HTTP answer to the upgrade and in the cloud's log.
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import type { CertificateAuthority } from '../join/ca.ts';
import type { Revocations } from '../join/revocation.ts';
import { isValidNodeName } from '../join/server.ts';
import type { CloudHubSettings } from './settings.ts';

export const DEFAULT_PROJECT_ID = 'e632aba927ea4ac2b575ec1603d56f10';

export type Admission =
  | { ok: true; node: string; project: string; certNotBefore: Date }
  | { ok: false; status: number; reason: string; metric: string };

export interface AdmissionContext {
  ca: CertificateAuthority;
  revocations: Revocations;
  settings: Pick<CloudHubSettings, 'nodeAuthorization' | 'nodeLimit'>;
  /** Whether the node has a session now, and how many there are: a reconnect replaces its own session. */
  hasSession(node: string): boolean;
  sessionCount(): number;
}

export function admit(req: IncomingMessage, c: AdmissionContext): Admission {
  const tls = req.socket as TLSSocket;
  const nodeHeader = header(req, 'node_id');
  const refuse = (status: number, reason: string, metric: string): Admission => ({ ok: false, status, reason, metric });
  const peer = tls.getPeerCertificate();
  if (!peer || !peer.raw) return refuse(401, 'no client certificate: join this cloud first (`edgetwin join`) and connect with the node certificate', 'no-certificate');
  if (!tls.authorized) return refuse(401, `the client certificate is not trusted (${String(tls.authorizationError)}): it was not issued by this cloud's CA, or it expired; join again`, 'untrusted-certificate');
  let who;
  try {
    who = c.ca.verifyNodeCert(peer.raw);
  } catch (err) {
    return refuse(401, (err as Error).message, 'bad-certificate');
  }
  if (!nodeHeader) return refuse(400, 'the node_id header is missing: send the node name as node_id', 'no-node-id');
  if (!isValidNodeName(nodeHeader)) return refuse(400, `node_id "${nodeHeader}" is not a valid node name`, 'bad-node-id');
  if (c.settings.nodeAuthorization && who.node !== nodeHeader) {
    return refuse(403, `the client certificate is for node ${who.node} (CN system:node:${who.node}) but node_id says ${nodeHeader}`, 'node-mismatch');
  }
  if (c.revocations.refuses(nodeHeader, who.notBefore) || c.revocations.refuses(who.node, who.notBefore)) {
    return refuse(403, `node ${who.node}'s certificate was revoked: join again with a new token`, 'revoked');
  }
  if (!c.hasSession(nodeHeader) && c.sessionCount() >= c.settings.nodeLimit) {
    return refuse(503, `this cloud serves at most ${c.settings.nodeLimit} nodes (cloudhub.nodeLimit)`, 'node-limit');
  }
  return { ok: true, node: nodeHeader, project: header(req, 'project_id') ?? DEFAULT_PROJECT_ID, certNotBefore: who.notBefore };
}

/** Answers a refused upgrade with a plain-text HTTP response and closes the socket. */
export function writeRefusal(socket: Duplex, status: number, reason: string): void {
  const body = `${reason}\n`;
  socket.end(`HTTP/1.1 ${status} ${status === 401 ? 'Unauthorized' : status === 403 ? 'Forbidden' : status === 400 ? 'Bad Request' : 'Service Unavailable'}\r\n`
    + `Content-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}

export function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}
