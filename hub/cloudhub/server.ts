// CloudHub: the WebSocket server edge nodes connect to (KubeEdge's wire: wss, any path, the node in
// the `node_id` header, beehive JSON in text frames). TLS with a client certificate from this
// cloud's CA is required, and unlike KubeEdge (authorization off by default) the certificate's CN
// must be `system:node:{node_id}`. A node reaches only its own resources: the cloud puts
// `node/{node}/` on everything that comes up, taking the node from the session, never the frame.
import { createServer, type Server } from 'node:https';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import type { Registry } from 'prom-client';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Logger } from '../../core/log.ts';
import type { CertificateAuthority, ServerCredentials } from '../join/ca.ts';
import type { Revocations } from '../join/revocation.ts';
import { isValidNodeName } from '../join/server.ts';
import {
  DEFAULT_MAX_FRAME_BYTES, errorTo, Groups, newMessage, OK, Operations, parseFrame, prefixNode, responseTo, Sources,
  type Message,
} from '../message/index.ts';
import type { AckRecordStore } from './ack-store.ts';
import { createCloudHubMetrics, type CloudHubMetrics } from './metrics.ts';
import { DEFAULT_QUEUE_OPTIONS, NodeQueue, type Offer, type QueueOptions } from './queue.ts';

export const DEFAULT_PROJECT_ID = 'e632aba927ea4ac2b575ec1603d56f10';

export interface CloudHubSettings {
  /** Silence after which a session is dropped (KubeEdge: 30 s; the edge sends keepalive every 15 s). */
  keepaliveTimeoutMs: number;
  maxFrameBytes: number;
  /** Sessions served at once; a node beyond it is refused. */
  nodeLimit: number;
  /** The certificate's CN must name the node of the `node_id` header (KubeEdge's authorization.enable). */
  nodeAuthorization: boolean;
  resend: QueueOptions;
}

export const DEFAULT_CLOUDHUB_SETTINGS: CloudHubSettings = {
  keepaliveTimeoutMs: 30_000,
  maxFrameBytes: DEFAULT_MAX_FRAME_BYTES,
  nodeLimit: 10_000,
  nodeAuthorization: true,
  resend: DEFAULT_QUEUE_OPTIONS,
};

export interface CloudHubOptions {
  ca: CertificateAuthority;
  credentials: ServerCredentials;
  revocations: Revocations;
  ackStore: AckRecordStore;
  registry: Registry;
  log: Logger;
  settings?: Partial<CloudHubSettings>;
}

/** An edge -> cloud message with its resource already prefixed `node/{node}/`. */
/**
 * A consumer of edge -> cloud messages. What it resolves with (other than undefined) is the content
 * of the edge's answer (a query's result); the answer is `"OK"` when every handler resolved undefined.
 */
export type UpstreamHandler = (node: string, msg: Message) => Promise<unknown> | unknown;

export interface ServiceRequest {
  port: number;
  path: string;
  method?: string;
  headers?: Record<string, string | string[]>;
  body?: Buffer | string;
}

export interface ServiceResponse {
  status: number;
  headers: Record<string, unknown>;
  body: Buffer;
}

/** Operations an edge may send up. Anything else is answered with an error. */
const UPSTREAM_OPERATIONS = new Set<string>([
  Operations.INSERT, Operations.UPDATE, Operations.DELETE, Operations.QUERY, Operations.PATCH, Operations.UPLOAD, Operations.GET,
]);

interface Session {
  node: string;
  project: string;
  ws: WebSocket;
  certNotBefore: Date;
  remote: string;
  lastSeenMs: number;
  lastKeepaliveMs: number;
  outbox?: number;
  /** Upstream messages are handled one after another, in the order the edge sent them. */
  chain: Promise<void>;
  /** Messages of this session being handled or waiting in `chain`. */
  busy: number;
}

/**
 * The chain of a session with nothing in hand. Resetting to it, rather than keeping the last
 * message's promise, matters at 10,000 nodes: a promise kept for the second until the node's next
 * message outlives the young generation and is promoted, and old-generation garbage at that rate
 * means full collections of a heap that holds 10,000 TLS sessions.
 */
const IDLE: Promise<void> = Promise.resolve();

interface PendingCall {
  node: string;
  resolve: (r: ServiceResponse) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

export class CloudHub {
  readonly server: Server;
  readonly metrics: CloudHubMetrics;
  private readonly settings: CloudHubSettings;
  private readonly wss: WebSocketServer;
  private readonly sessions = new Map<string, Session>();
  private readonly queues = new Map<string, NodeQueue>();
  private readonly calls = new Map<string, PendingCall>();
  private readonly upstream: UpstreamHandler[] = [];
  private readonly connectionHandlers: Array<(node: string, connected: boolean) => void> = [];
  private readonly timers: NodeJS.Timeout[] = [];
  private depth = 0;
  private readonly log: Logger;

  constructor(private readonly opts: CloudHubOptions) {
    this.settings = { ...DEFAULT_CLOUDHUB_SETTINGS, ...opts.settings, resend: { ...DEFAULT_QUEUE_OPTIONS, ...opts.settings?.resend } };
    this.log = opts.log;
    const max = this.settings.maxFrameBytes;
    // A frame a little over the limit still arrives whole, so its sender gets an error message
    // saying why; only a frame far over it makes ws close the connection (1009).
    this.wss = new WebSocketServer({ noServer: true, maxPayload: max + Math.max(64 * 1024, Math.floor(max / 4)), perMessageDeflate: false });
    this.server = createServer({
      cert: opts.credentials.certPem,
      key: opts.credentials.keyPem,
      ca: opts.ca.certPem,
      requestCert: true,
      // Checked in the upgrade instead, so every refusal is logged with its reason.
      rejectUnauthorized: false,
      minVersion: 'TLSv1.2',
    }, (_req, res) => {
      res.writeHead(426, { 'content-type': 'text/plain' });
      res.end('CloudHub speaks WebSocket: connect with wss://\n');
    });
    this.server.on('upgrade', (req, socket, head) => this.upgrade(req as IncomingMessage, socket, head));
    this.server.on('tlsClientError', (err, socket) => this.log.debug({ remote: socket.remoteAddress, err: err.message }, 'TLS handshake failed'));
    this.metrics = createCloudHubMetrics(opts.registry, {
      sessions: () => [...this.sessions.values()].map((s) => ({ node: s.node, outbox: s.outbox, lastKeepaliveMs: s.lastKeepaliveMs })),
      connectedCount: () => this.sessions.size,
      queueDepth: () => this.depth,
    });
    const { keepaliveTimeoutMs, resend } = this.settings;
    this.timers.push(setInterval(() => this.checkKeepalive(), Math.max(20, Math.floor(keepaliveTimeoutMs / 4))));
    this.timers.push(setInterval(() => this.flushQueues(), Math.max(20, Math.min(1000, Math.floor(resend.resendIntervalMs / 5)))));
    for (const t of this.timers) t.unref();
  }

  listen(port: number, host?: string): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve((this.server.address() as { port: number }).port);
      });
    });
  }

  /** Registers the consumer of edge -> cloud messages. The edge is answered OK once every handler resolved. */
  onUpstream(handler: UpstreamHandler): void {
    this.upstream.push(handler);
  }

  onConnection(handler: (node: string, connected: boolean) => void): void {
    this.connectionHandlers.push(handler);
  }

  /** Queues a message for `node`; its resource is the cloud form `node/{node}/...`. */
  send(node: string, msg: Message): Promise<Offer> {
    return this.queueOf(node).offer(msg);
  }

  connectedNodes(): string[] {
    return [...this.sessions.keys()];
  }

  isConnected(node: string): boolean {
    return this.sessions.has(node);
  }

  /** What the cloud knows of each connected node (for the fleet view): keepalive, outbox, pending. */
  nodeStatus(): Array<{ node: string; project: string; remote: string; lastKeepalive: Date; outbox?: number; pending: number }> {
    return [...this.sessions.values()].map((s) => ({
      node: s.node, project: s.project, remote: s.remote, lastKeepalive: new Date(s.lastKeepaliveMs),
      ...(s.outbox === undefined ? {} : { outbox: s.outbox }), pending: this.pending(s.node),
    }));
  }

  /** Messages waiting for `node`'s ACK. */
  pending(node: string): number {
    return this.queues.get(node)?.depth ?? 0;
  }

  /**
   * A cloud -> edge HTTP call through the edge's ServiceBus (KubeEdge's router_servicebus message):
   * resource `{port}:{path}`, operation the method; the edge answers with the response, matched by
   * parent_msg_id. Rejects when the node is not connected, answers with an error, or is too slow.
   */
  callService(node: string, req: ServiceRequest, timeoutMs = 10_000): Promise<ServiceResponse> {
    const session = this.sessions.get(node);
    if (!session) return Promise.reject(new Error(`node ${node} is not connected`));
    const method = (req.method ?? 'GET').toUpperCase();
    const path = req.path.startsWith('/') ? req.path : `/${req.path}`;
    const body = req.body === undefined ? '' : Buffer.from(req.body).toString('base64');
    const msg = newMessage(
      { source: Sources.ROUTER_SERVICEBUS, group: Groups.USER, operation: method, resource: `${req.port}:${path}` },
      { header: req.headers ?? {}, body, method, url: path },
    );
    return new Promise<ServiceResponse>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.calls.delete(msg.header.msg_id);
        reject(new Error(`node ${node} did not answer ${method} :${req.port}${path} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.calls.set(msg.header.msg_id, { node, resolve, reject, timer });
      if (!this.write(session, JSON.stringify(msg), method)) {
        clearTimeout(timer);
        this.calls.delete(msg.header.msg_id);
        reject(new Error(`node ${node} is not connected`));
      }
    });
  }

  /** Ends the sessions of nodes whose certificates are now revoked (after Revocations.reload()). */
  enforceRevocations(): void {
    for (const s of this.sessions.values()) {
      if (this.opts.revocations.refuses(s.node, s.certNotBefore)) this.drop(s, 'revoked', `node ${s.node}'s certificate was revoked`);
    }
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    for (const [id, call] of this.calls) {
      clearTimeout(call.timer);
      call.reject(new Error('the cloud is shutting down'));
      this.calls.delete(id);
    }
    for (const s of this.sessions.values()) s.ws.terminate();
    this.wss.close();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const tls = req.socket as TLSSocket;
    const remote = `${tls.remoteAddress}:${tls.remotePort}`;
    const nodeHeader = header(req, 'node_id');
    const refuse = (status: number, reason: string, metric: string) => {
      this.metrics.connectionsRefused.inc({ reason: metric });
      this.log.warn({ node: nodeHeader, remote, reason }, 'connection refused');
      const body = `${reason}\n`;
      socket.end(`HTTP/1.1 ${status} ${status === 401 ? 'Unauthorized' : status === 403 ? 'Forbidden' : status === 400 ? 'Bad Request' : 'Service Unavailable'}\r\n`
        + `Content-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
    };
    const peer = tls.getPeerCertificate();
    if (!peer || !peer.raw) return refuse(401, 'no client certificate: join this cloud first (`edgetwin join`) and connect with the node certificate', 'no-certificate');
    if (!tls.authorized) return refuse(401, `the client certificate is not trusted (${String(tls.authorizationError)}): it was not issued by this cloud's CA, or it expired; join again`, 'untrusted-certificate');
    let who;
    try {
      who = this.opts.ca.verifyNodeCert(peer.raw);
    } catch (err) {
      return refuse(401, (err as Error).message, 'bad-certificate');
    }
    if (!nodeHeader) return refuse(400, 'the node_id header is missing: send the node name as node_id', 'no-node-id');
    if (!isValidNodeName(nodeHeader)) return refuse(400, `node_id "${nodeHeader}" is not a valid node name`, 'bad-node-id');
    if (this.settings.nodeAuthorization && who.node !== nodeHeader) {
      return refuse(403, `the client certificate is for node ${who.node} (CN system:node:${who.node}) but node_id says ${nodeHeader}`, 'node-mismatch');
    }
    if (this.opts.revocations.refuses(nodeHeader, who.notBefore) || this.opts.revocations.refuses(who.node, who.notBefore)) {
      return refuse(403, `node ${who.node}'s certificate was revoked: join again with a new token`, 'revoked');
    }
    if (!this.sessions.has(nodeHeader) && this.sessions.size >= this.settings.nodeLimit) {
      return refuse(503, `this cloud serves at most ${this.settings.nodeLimit} nodes (cloudhub.nodeLimit)`, 'node-limit');
    }
    const project = header(req, 'project_id') ?? DEFAULT_PROJECT_ID;
    this.wss.handleUpgrade(req, socket, head, (ws) => this.open(ws, nodeHeader, project, who.notBefore, remote));
  }

  private open(ws: WebSocket, node: string, project: string, certNotBefore: Date, remote: string): void {
    const old = this.sessions.get(node);
    if (old) this.drop(old, 'replaced', 'a new connection of the same node replaced it');
    const now = Date.now();
    const session: Session = { node, project, ws, certNotBefore, remote, lastSeenMs: now, lastKeepaliveMs: now, chain: IDLE, busy: 0 };
    this.sessions.set(node, session);
    this.log.info({ node, project, remote }, 'node connected');
    ws.on('message', (data: Buffer) => this.receive(session, data));
    ws.on('error', (err) => this.log.debug({ node, err: err.message }, 'session error'));
    ws.on('close', (code) => this.closed(session, code));
    for (const h of this.connectionHandlers) h(node, true);
    this.queueOf(node).flush(now, true);
  }

  private closed(session: Session, code: number): void {
    if (this.sessions.get(session.node) !== session) return;
    this.sessions.delete(session.node);
    this.log.info({ node: session.node, code }, 'node disconnected');
    for (const [id, call] of this.calls) {
      if (call.node !== session.node) continue;
      clearTimeout(call.timer);
      this.calls.delete(id);
      call.reject(new Error(`node ${session.node} disconnected before it answered`));
    }
    for (const h of this.connectionHandlers) h(session.node, false);
  }

  private drop(session: Session, metric: string, reason: string): void {
    this.metrics.sessionsDropped.inc({ reason: metric });
    this.log.warn({ node: session.node, remote: session.remote, reason }, 'session dropped');
    session.ws.terminate();
    this.closed(session, 1006);
  }

  private receive(session: Session, data: Buffer): void {
    // parseFrame takes the Buffer as it is: its size is known without scanning a string for it.
    const parsed = parseFrame(data, this.settings.maxFrameBytes);
    if (!parsed.ok) {
      const reason = parsed.reason.startsWith('frame of') ? 'too-big' : parsed.reason.includes('not JSON') ? 'not-json' : 'not-envelope';
      this.refuseFrame(session, parsed.partial, parsed.reason, reason);
      return;
    }
    const msg = parsed.message;
    session.lastSeenMs = Date.now();
    this.metrics.messagesIn.add(metricOperation(msg.route.operation));
    if (msg.route.operation === Operations.RESPONSE && this.calls.get(msg.header.parent_msg_id ?? '')?.node !== session.node) {
      // An ACK is recorded beside the chain, not in it: with ObjectSync each record is an API
      // write, and the edge's reports (a pod's status) waited behind every one of them.
      this.acknowledged(session.node, msg.header.parent_msg_id);
      return;
    }
    const run = (): Promise<void> => this.handle(session, msg).then(() => this.settled(session), (err: unknown) => {
      this.log.error({ node: session.node, err }, 'handling an edge message failed');
      this.settled(session);
    });
    // Nothing of this session in hand: start at once; else after the ones before it.
    session.chain = session.busy++ === 0 ? run() : session.chain.then(run);
  }

  private settled(session: Session): void {
    if (--session.busy === 0) session.chain = IDLE;
  }

  private async handle(session: Session, msg: Message): Promise<void> {
    const { node } = session;
    const op = msg.route.operation;
    const parent = msg.header.parent_msg_id;
    if (op === Operations.KEEPALIVE) {
      session.lastKeepaliveMs = Date.now();
      const outbox = outboxOf(msg.content);
      if (outbox !== undefined) session.outbox = outbox;
      return;
    }
    if (parent && this.calls.get(parent)?.node === node) {
      this.answerCall(parent, msg);
      return;
    }
    if (op === Operations.ERROR) {
      this.log.warn({ node, parent, resource: msg.route.resource, reason: typeof msg.content === 'string' ? msg.content : JSON.stringify(msg.content) }, 'node answered with an error');
      return;
    }
    if (!UPSTREAM_OPERATIONS.has(op)) {
      this.refuseFrame(session, msg, `unknown operation "${op}": an edge sends ${[...UPSTREAM_OPERATIONS, Operations.RESPONSE, Operations.ERROR, Operations.KEEPALIVE].join(', ')}`, 'unknown-operation');
      return;
    }
    const up: Message = { header: msg.header, route: { ...msg.route, resource: prefixNode(node, msg.route.resource) }, content: msg.content };
    if (this.upstream.length === 0) {
      this.reply(session, errorTo(msg, 'this cloud has no consumer for edge messages'));
      return;
    }
    let answer: unknown = OK;
    try {
      for (const h of this.upstream) {
        const r = await h(node, up);
        if (r !== undefined) answer = r;
      }
    } catch (err) {
      this.log.error({ node, err, resource: up.route.resource }, 'storing an edge message failed');
      this.reply(session, errorTo(msg, `the cloud could not store ${msg.route.resource}: ${(err as Error).message}; send it again`));
      return;
    }
    this.metrics.stored.add();
    this.reply(session, responseTo(msg, answer));
  }

  /** The node's ACK of a queued message: recorded, and the message leaves the queue. */
  private acknowledged(node: string, parent: string | undefined): void {
    const ignored = () => {
      this.metrics.acksIgnored.inc();
      this.log.debug({ node, parent }, 'ACK of no pending message of this node, ignored');
    };
    if (!parent) return ignored();
    this.queueOf(node).ack(parent).then((known) => {
      if (!known) ignored();
    }, (err: unknown) => this.log.error({ node, parent, err }, 'recording an ACK failed; the message stays queued and is sent again'));
  }

  private answerCall(id: string, msg: Message): void {
    const call = this.calls.get(id)!;
    this.calls.delete(id);
    clearTimeout(call.timer);
    if (msg.route.operation === Operations.ERROR) {
      call.reject(new Error(`node ${call.node} refused the call: ${typeof msg.content === 'string' ? msg.content : JSON.stringify(msg.content)}`));
      return;
    }
    const c = (msg.content ?? {}) as { status_code?: unknown; header?: unknown; body?: unknown };
    const status = typeof c.status_code === 'number' ? c.status_code : 0;
    const body = typeof c.body === 'string' ? Buffer.from(c.body, 'base64') : Buffer.alloc(0);
    call.resolve({ status, headers: (c.header && typeof c.header === 'object' ? c.header : {}) as Record<string, unknown>, body });
  }

  private refuseFrame(session: Session, partial: Pick<Message, 'header' | 'route'> | undefined, reason: string, metric: string): void {
    this.metrics.framesRefused.inc({ reason: metric });
    this.log.warn({ node: session.node, msgId: partial?.header.msg_id, reason }, 'frame refused');
    this.reply(session, errorTo(partial, reason));
  }

  private reply(session: Session, msg: Message): void {
    this.write(session, JSON.stringify(msg), msg.route.operation);
  }

  private write(session: Session | undefined, frame: string, operation: string): boolean {
    if (!session || session.ws.readyState !== session.ws.OPEN) return false;
    session.ws.send(frame);
    this.metrics.messagesOut.add(metricOperation(operation));
    return true;
  }

  private queueOf(node: string): NodeQueue {
    let q = this.queues.get(node);
    if (!q) {
      q = new NodeQueue(node, this.opts.ackStore, this.settings.resend, {
        write: (frame, operation) => this.write(this.sessions.get(node), frame, operation),
        onResend: () => this.metrics.resends.inc(),
        onAcked: (ms) => this.metrics.ackLatency.observe(ms / 1000),
        onDepthChange: (d) => { this.depth += d; },
      });
      this.queues.set(node, q);
    }
    return q;
  }

  private checkKeepalive(): void {
    const now = Date.now();
    for (const s of this.sessions.values()) {
      if (now - s.lastSeenMs > this.settings.keepaliveTimeoutMs) {
        this.drop(s, 'keepalive', `nothing from the node for ${now - s.lastSeenMs} ms (cloudhub.keepaliveTimeout ${this.settings.keepaliveTimeoutMs} ms)`);
      }
    }
  }

  private flushQueues(): void {
    const now = Date.now();
    for (const [node, q] of this.queues) if (q.depth > 0 && this.sessions.has(node)) q.flush(now);
  }
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** The edge's outbox depth from a keepalive: `{"outbox": n}` as JSON text or object; "ping" has none. */
function outboxOf(content: unknown): number | undefined {
  let v = content;
  if (typeof v === 'string') {
    if (!v.startsWith('{')) return undefined;
    try {
      v = JSON.parse(v);
    } catch {
      return undefined;
    }
  }
  const n = v && typeof v === 'object' ? (v as { outbox?: unknown }).outbox : undefined;
  return typeof n === 'number' && Number.isFinite(n) && n >= 0 ? n : undefined;
}

/** Operations as metric labels: HTTP methods and KubeEdge's names, anything else as `other`, so a client cannot grow the label set. */
const KNOWN_OPERATIONS = new Set<string>([...Object.values(Operations), 'GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS', 'start', 'stop']);
function metricOperation(op: string): string {
  return KNOWN_OPERATIONS.has(op) ? op : 'other';
}
