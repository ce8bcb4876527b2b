// EdgeHub: the gateway's one WebSocket to the cloud, on KubeEdge's wire
// (edge/pkg/edgehub): `wss://{server}/{projectID}/{nodeName}/events`, headers node_id and
// project_id, TLS with the node's certificate, JSON beehive messages in text frames, a keepalive
// message every heartbeat.
//
// Where it differs from KubeEdge's edgecore, on purpose:
// - reconnect uses exponential backoff with jitter (first retry within 1 s, capped at 30 s)
//   instead of a fixed 2 x heartbeat;
// - a link that goes silent (a stalled NAT, a dead peer that never sent FIN) is noticed: the hub
//   also sends WebSocket pings, and a link with no frame and no pong for 2 x heartbeat is
//   dropped and dialled again. The cloud ignores the pings (any WebSocket server answers them).

import { EventEmitter } from 'node:events';
import { Gauge, Counter, type Registry } from 'prom-client';
import WebSocket from 'ws';
import type { Logger } from '../../core/log.ts';
import { errorTo, Groups, newMessage, Operations, parseFrame, Sources, type Message } from '../message/index.ts';
import { Backoff } from './pacing.ts';

/** KubeEdge's default project id (edgecore v1alpha2 default.go). */
export const DEFAULT_PROJECT_ID = 'e632aba927ea4ac2b575ec1603d56f10';

export interface NodeCredentials {
  ca: string;
  cert: string;
  key: string;
}

export interface EdgeHubOptions {
  /** `wss://host:port` of CloudHub. */
  url: string;
  nodeName: string;
  projectId?: string;
  /** Read on every dial, so a rotated certificate is used by the next connection. */
  credentials: () => NodeCredentials;
  /** Keepalive period; default 15 s. */
  heartbeatMs?: number;
  /** First reconnect delay ceiling and the cap; defaults 1 s and 30 s. */
  reconnect?: { firstMs?: number; maxMs?: number };
  /** Largest frame the hub parses; default 8 MiB (a pod or device object fits many times). */
  maxFrameBytes?: number;
  /** Every valid frame from the cloud. */
  onMessage: (msg: Message) => void;
  /**
   * The keepalive's content; KubeEdge's edge sends "ping". edgetwin's gateway sends
   * `{"outbox": n}`, so the cloud knows each node's backlog (KubeEdge's cloud ignores the content).
   */
  keepaliveContent?: () => unknown;
  log: Logger;
  registry?: Registry;
}

export class EdgeHub extends EventEmitter {
  readonly endpoint: string;
  private readonly opts: EdgeHubOptions;
  private readonly heartbeatMs: number;
  private readonly backoff: Backoff;
  private readonly maxFrameBytes: number;
  private ws: WebSocket | undefined;
  private open = false;
  private stopped = true;
  private retryTimer: NodeJS.Timeout | undefined;
  private beatTimer: NodeJS.Timeout | undefined;
  private lastHeard = 0;
  private readonly m;
  /** Successful connections since start. */
  connections = 0;

  constructor(opts: EdgeHubOptions) {
    super();
    this.opts = opts;
    const projectId = opts.projectId ?? DEFAULT_PROJECT_ID;
    this.endpoint = `${opts.url.replace(/\/+$/, '')}/${encodeURIComponent(projectId)}/${encodeURIComponent(opts.nodeName)}/events`;
    this.heartbeatMs = opts.heartbeatMs ?? 15_000;
    this.backoff = new Backoff(opts.reconnect?.firstMs ?? 1000, opts.reconnect?.maxMs ?? 30_000);
    this.maxFrameBytes = opts.maxFrameBytes ?? 8 * 1024 * 1024;
    const registers = opts.registry ? [opts.registry] : [];
    this.m = {
      connected: new Gauge({ name: 'edgetwin_edgehub_connected', help: '1 while the link to the cloud is up', registers }),
      connects: new Counter({ name: 'edgetwin_edgehub_connects_total', help: 'Connections to the cloud established', registers }),
      messages: new Counter({ name: 'edgetwin_edgehub_messages_total', help: 'Messages on the cloud link, by direction', labelNames: ['direction'], registers }),
      bad: new Counter({ name: 'edgetwin_edgehub_bad_frames_total', help: 'Frames from the cloud refused (not JSON, too big, not a beehive message)', registers }),
    };
  }

  override on(event: 'connected' | 'disconnected', fn: () => void): this {
    return super.on(event, fn);
  }

  get connected(): boolean {
    return this.open;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.dial();
  }

  /** Writes one frame when the link is up; false when it is not (the caller keeps the message). */
  send(msg: Message): boolean {
    const ws = this.ws;
    if (!this.open || !ws || ws.readyState !== WebSocket.OPEN) return false;
    ws.send(JSON.stringify(msg));
    this.m.messages.inc({ direction: 'up' });
    return true;
  }

  /** Drops the current connection and dials again now: after a certificate rotation. */
  reconnect(why: string): void {
    if (this.stopped) return;
    this.opts.log.info({ why }, 'edgehub: reconnecting');
    this.backoff.reset();
    this.ws?.terminate();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    const ws = this.ws;
    if (!ws) return;
    await new Promise<void>((resolve) => {
      ws.once('close', () => resolve());
      ws.terminate();
    });
  }

  private dial(): void {
    if (this.stopped) return;
    let creds: NodeCredentials;
    try {
      creds = this.opts.credentials();
    } catch (err) {
      this.opts.log.error({ err: (err as Error).message }, 'edgehub: cannot read the node certificate; run `edgetwin join` first');
      this.retry();
      return;
    }
    const projectId = this.opts.projectId ?? DEFAULT_PROJECT_ID;
    const ws = new WebSocket(this.endpoint, {
      ca: creds.ca,
      cert: creds.cert,
      key: creds.key,
      headers: { node_id: this.opts.nodeName, project_id: projectId },
      handshakeTimeout: Math.max(this.heartbeatMs * 2, 1000),
      maxPayload: this.maxFrameBytes * 2,
      perMessageDeflate: false,
    });
    this.ws = ws;
    ws.on('open', () => {
      this.open = true;
      this.connections++;
      this.backoff.reset();
      this.lastHeard = Date.now();
      this.m.connected.set(1);
      this.m.connects.inc();
      this.opts.log.info({ endpoint: this.endpoint }, 'edgehub: connected to the cloud');
      this.keepalive();
      this.emit('connected');
    });
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      this.lastHeard = Date.now();
      this.m.messages.inc({ direction: 'down' });
      this.receive(isBinary ? data : data.toString('utf8'));
    });
    ws.on('pong', () => {
      this.lastHeard = Date.now();
    });
    ws.on('unexpected-response', (_req, res) => {
      // The cloud refused the upgrade: a revoked or foreign certificate, or the node limit.
      this.opts.log.error({ status: res.statusCode, endpoint: this.endpoint }, `edgehub: the cloud refused the connection with HTTP ${res.statusCode}; check the node certificate (edgetwin join) and the cloud's log`);
      ws.terminate();
    });
    ws.on('error', (err) => {
      this.opts.log.warn({ err: err.message, endpoint: this.endpoint }, 'edgehub: link error');
    });
    ws.on('close', () => {
      if (this.ws !== ws) return;
      this.ws = undefined;
      clearTimeout(this.beatTimer);
      if (this.open) {
        this.open = false;
        this.m.connected.set(0);
        this.opts.log.warn({ endpoint: this.endpoint }, 'edgehub: disconnected from the cloud');
        this.emit('disconnected');
      }
      this.retry();
    });
  }

  private retry(): void {
    if (this.stopped) return;
    const ms = this.backoff.next();
    this.opts.log.debug({ ms }, 'edgehub: next dial');
    this.retryTimer = setTimeout(() => this.dial(), ms);
  }

  private keepalive(): void {
    clearTimeout(this.beatTimer);
    const ws = this.ws;
    if (!this.open || !ws) return;
    if (Date.now() - this.lastHeard > 2 * this.heartbeatMs) {
      this.opts.log.warn({ silentMs: Date.now() - this.lastHeard }, 'edgehub: the link went silent; dropping it');
      ws.terminate();
      return;
    }
    this.send(newMessage({ source: Sources.EDGEHUB, group: Groups.RESOURCE, operation: Operations.KEEPALIVE, resource: 'node' }, this.opts.keepaliveContent?.() ?? 'ping'));
    try {
      ws.ping();
    } catch {
      // The socket is closing; 'close' follows.
    }
    this.beatTimer = setTimeout(() => this.keepalive(), this.heartbeatMs);
  }

  private receive(data: string | Buffer): void {
    const r = parseFrame(data, this.maxFrameBytes);
    if (!r.ok) {
      this.m.bad.inc();
      this.opts.log.warn({ reason: r.reason }, 'edgehub: refused a frame from the cloud');
      this.send(errorTo(r.partial, r.reason, Sources.EDGEHUB));
      return;
    }
    try {
      this.opts.onMessage(r.message);
    } catch (err) {
      this.opts.log.error({ err, resource: r.message.route.resource, operation: r.message.route.operation }, 'edgehub: handling a cloud message failed');
      this.send(errorTo(r.message, `edge could not handle the message: ${(err as Error).message}`, Sources.EDGEHUB));
    }
  }
}
