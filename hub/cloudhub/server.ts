// CloudHub: the WebSocket server edge nodes connect to (KubeEdge's wire: wss, any path, the node in
// the `node_id` header, beehive JSON in text frames). TLS with a client certificate from this
// cloud's CA is required, and unlike KubeEdge (authorization off by default) the certificate's CN
// must be `system:node:{node_id}`. A node reaches only its own resources: the cloud puts
// `node/{node}/` on everything that comes up, taking the node from the session, never the frame.
// Beside it: admission.ts (who may connect), session.ts, upstream.ts (edge -> cloud delivery),
// service-calls.ts (cloud -> edge HTTP calls), queue.ts (cloud -> edge reliable delivery), settings.ts.
import { createServer, type Server } from 'node:https';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import type { Registry } from 'prom-client';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Logger } from '../../core/log.ts';
import type { CertificateAuthority, ServerCredentials } from '../join/ca.ts';
import type { Revocations } from '../join/revocation.ts';
import { errorTo, Operations, parseFrame, prefixNode, responseTo, type Message } from '../message/index.ts';
import type { AckRecordStore } from './ack-store.ts';
import { admit, header, writeRefusal } from './admission.ts';
import { createCloudHubMetrics, metricOperation, type CloudHubMetrics } from './metrics.ts';
import { DEFAULT_QUEUE_OPTIONS, NodeQueue, type Offer } from './queue.ts';
import { ServiceCalls, type ServiceRequest, type ServiceResponse } from './service-calls.ts';
import { IDLE, outboxOf, type Session } from './session.ts';
import { DEFAULT_CLOUDHUB_SETTINGS, type CloudHubSettings } from './settings.ts';
import { deliverUpstream, UPSTREAM_OPERATIONS, type UpstreamHandler } from './upstream.ts';

export { DEFAULT_PROJECT_ID } from './admission.ts';
export type { ServiceRequest, ServiceResponse } from './service-calls.ts';
export { DEFAULT_CLOUDHUB_SETTINGS, type CloudHubSettings } from './settings.ts';
export type { UpstreamHandler } from './upstream.ts';

export interface CloudHubOptions {
  ca: CertificateAuthority;
  credentials: ServerCredentials;
  revocations: Revocations;
  ackStore: AckRecordStore;
  registry: Registry;
  log: Logger;
  settings?: Partial<CloudHubSettings>;
}

export class CloudHub {
  readonly server: Server;
  readonly metrics: CloudHubMetrics;
  private readonly settings: CloudHubSettings;
  private readonly wss: WebSocketServer;
  private readonly sessions = new Map<string, Session>();
  private readonly queues = new Map<string, NodeQueue>();
  private readonly calls = new ServiceCalls();
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
    return this.calls.start(node, req, timeoutMs, (frame, operation) => this.write(session, frame, operation));
  }

  /** Ends the sessions of nodes whose certificates are now revoked (after Revocations.reload()). */
  enforceRevocations(): void {
    for (const s of this.sessions.values()) {
      if (this.opts.revocations.refuses(s.node, s.certNotBefore)) this.drop(s, 'revoked', `node ${s.node}'s certificate was revoked`);
    }
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    this.calls.close();
    for (const s of this.sessions.values()) s.ws.terminate();
    this.wss.close();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const tls = req.socket as TLSSocket;
    const remote = `${tls.remoteAddress}:${tls.remotePort}`;
    const a = admit(req, {
      ca: this.opts.ca,
      revocations: this.opts.revocations,
      settings: this.settings,
      hasSession: (node) => this.sessions.has(node),
      sessionCount: () => this.sessions.size,
    });
    if (!a.ok) {
      this.metrics.connectionsRefused.inc({ reason: a.metric });
      this.log.warn({ node: header(req, 'node_id'), remote, reason: a.reason }, 'connection refused');
      writeRefusal(socket, a.status, a.reason);
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.open(ws, a.node, a.project, a.certNotBefore, remote));
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
    this.calls.disconnected(session.node);
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
    if (msg.route.operation === Operations.RESPONSE && !this.calls.isFor(msg.header.parent_msg_id, session.node)) {
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
    if (parent && this.calls.isFor(parent, node)) {
      this.calls.answer(parent, msg);
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
    let answer: unknown;
    try {
      answer = await deliverUpstream(this.upstream, node, up);
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
