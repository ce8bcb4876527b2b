// A raw edge for tests of the cloud side: joins over HTTPS the way KubeEdge's edgecore does and
// opens a CloudHub session with plain `ws`, with nothing of the edge engineer's EdgeHub in it,
// so these tests check the wire itself and can misbehave on purpose (wrong node_id, bad frames,
// silence, ACKs of another node's messages).
import { request } from 'node:https';
import { WebSocket } from 'ws';
import { toPem } from '../join/ca.ts';
import { splitJoinToken } from '../join/token.ts';
import { newMessage, type Message } from '../message/index.ts';
import { makeNodeCsr } from './csr.ts';

export interface NodeCredentials {
  node: string;
  certPem: string;
  keyPem: string;
  caPem: string;
}

export interface HttpResult {
  status: number;
  body: Buffer;
}

/** One HTTPS request to the join server. `ca` pins the server; without it the server is not checked (as for the first GET /ca.crt). */
export function joinRequest(port: number, path: string, opts: { method?: string; headers?: Record<string, string>; body?: Buffer; ca?: string; cert?: string; key?: string } = {}): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = request({
      host: '127.0.0.1', port, path, method: opts.method ?? 'GET',
      // KubeEdge's edge sends the CSR as the body of a GET; Node frames a GET body only with a length.
      headers: { ...opts.headers, ...(opts.body ? { 'content-length': String(opts.body.length) } : {}) },
      ca: opts.ca, cert: opts.cert, key: opts.key, rejectUnauthorized: opts.ca !== undefined,
      agent: false,
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** KubeEdge's join: fetch the CA, check it against the token's hash, send a CSR with the JWT. */
export async function joinAsNode(port: number, token: string, node: string, opts: { cn?: string; o?: string } = {}): Promise<NodeCredentials> {
  const { caHash, jwt } = splitJoinToken(token);
  const caRes = await joinRequest(port, '/ca.crt');
  if (caRes.status !== 200) throw new Error(`GET /ca.crt: ${caRes.status} ${caRes.body}`);
  const { createHash } = await import('node:crypto');
  if (createHash('sha256').update(caRes.body).digest('hex') !== caHash) throw new Error('the CA does not match the token\'s hash');
  const caPem = toPem('CERTIFICATE', caRes.body);
  const { csrDer, keyPem } = await makeNodeCsr({ cn: opts.cn ?? `system:node:${node}`, o: opts.o ?? 'system:nodes' });
  const res = await joinRequest(port, '/edge.crt', { headers: { NodeName: node, Authorization: `Bearer ${jwt}` }, body: csrDer, ca: caPem });
  if (res.status !== 200) throw new Error(`GET /edge.crt: ${res.status} ${res.body.toString().trim()}`);
  return { node, certPem: toPem('CERTIFICATE', res.body), keyPem, caPem };
}

/** A CloudHub session: every frame received is kept, and tests wait for the one they need. */
export class RawEdge {
  readonly received: Message[] = [];
  readonly raw: string[] = [];
  closed = false;
  closeCode?: number;
  private waiters: Array<() => void> = [];

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => {
      const text = data.toString('utf8');
      this.raw.push(text);
      try {
        this.received.push(JSON.parse(text) as Message);
      } catch {
        // kept in raw only
      }
      for (const w of this.waiters.splice(0)) w();
    });
    ws.on('close', (code) => {
      this.closed = true;
      this.closeCode = code;
      for (const w of this.waiters.splice(0)) w();
    });
  }

  /** Connects as `creds`; `nodeId` overrides the node_id header (to impersonate). Rejects with the server's refusal. */
  static connect(port: number, creds: Pick<NodeCredentials, 'certPem' | 'keyPem' | 'caPem'> & { node: string }, opts: { nodeId?: string; project?: string } = {}): Promise<RawEdge> {
    const nodeId = opts.nodeId ?? creds.node;
    const project = opts.project ?? 'e632aba927ea4ac2b575ec1603d56f10';
    const ws = new WebSocket(`wss://127.0.0.1:${port}/${project}/${nodeId}/events`, {
      cert: creds.certPem, key: creds.keyPem, ca: creds.caPem,
      headers: { node_id: nodeId, project_id: project },
    });
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(new RawEdge(ws)));
      ws.once('unexpected-response', (_req, res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => reject(new Error(`${res.statusCode}: ${Buffer.concat(chunks).toString().trim()}`)));
      });
      ws.once('error', reject);
    });
  }

  send(msg: Message | string): void {
    this.ws.send(typeof msg === 'string' ? msg : JSON.stringify(msg));
  }

  keepalive(content: unknown = 'ping'): void {
    this.send(newMessage({ source: 'websocket', group: 'resource', operation: 'keepalive', resource: 'node' }, content));
  }

  /** Answers a cloud message as MetaManager does after its write. */
  ack(msg: Message): void {
    this.send(newMessage({ source: msg.route.source, group: msg.route.group, operation: 'response', resource: msg.route.resource }, 'OK', { parentId: msg.header.msg_id }));
  }

  /** Waits until a received frame matches, and returns it. */
  async next(what: string, match: (m: Message) => boolean, timeoutMs = 20_000, from = 0): Promise<Message> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.received.slice(from).find(match);
      if (found) return found;
      if (this.closed) throw new Error(`the session closed (code ${this.closeCode}) while waiting for ${what}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`gave up after ${timeoutMs} ms waiting for ${what}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.waiters.push(() => { clearTimeout(t); r(); });
      });
    }
  }

  /** Resolves when the cloud ends the session. */
  async waitClosed(timeoutMs = 20_000): Promise<number | undefined> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      if (Date.now() > deadline) throw new Error(`the session was still open after ${timeoutMs} ms`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, 50);
        this.waiters.push(() => { clearTimeout(t); r(); });
      });
    }
    return this.closeCode;
  }

  close(): void {
    this.ws.terminate();
  }
}
