// The edge half of the cloud-edge link, wired: EdgeHub (the WebSocket), the upstream outbox, the
// twin's reports going up, MetaManager (the copy of what the cloud sent), ServiceBus, and the
// node certificate's rotation. `edgetwin run --cloud` imports this module only when the link is
// configured, so a standalone gateway never loads ws, the X.509 library or this code.

import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { Registry } from 'prom-client';
import { Gauge } from 'prom-client';
import { EdgetwinError, ErrorCodes } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import { Outbox } from '../twin/outbox.ts';
import type { DeviceTwin } from '../twin/twin.ts';
import { EdgeHub } from './edgehub/edgehub.ts';
import { TokenBucket } from './edgehub/pacing.ts';
import { lastOnlineTime, reportTwin } from './edgehub/twin-reports.ts';
import { Upstream } from './edgehub/upstream.ts';
import { CertRotation } from './join/rotation.ts';
import { readIdentity, type NodeFiles } from './join/node-files.ts';
import { errorTo, isResponse, MEMBERSHIP_DETAIL, needsAck, OK, Operations, readMembershipDetail, responseTo, Sources, type MembershipDevice, type Message } from './message/index.ts';
import { CloudDevices } from './metamanager/devices.ts';
import { MetaManager } from './metamanager/metamanager.ts';
import { DeviceErrorReports } from './edgehub/device-errors.ts';
import { ServiceBus } from './servicebus/servicebus.ts';

export interface CloudLinkConfig {
  /** `wss://host:10000` */
  url: string;
  projectId: string;
  qps: number;
  burst: number;
  heartbeatMs: number;
  reconnect: { firstMs: number; maxMs: number };
  /** An unanswered report is sent again after this long on a live link. */
  resendMs: number;
  serviceBus: { allowedPorts: number[] };
  /** Node presence: status checked every statusMs, sent at least every reportMs; Lease every leaseMs. */
  node?: { statusMs: number; reportMs: number; leaseMs: number };
}

/**
 * The node's identity from the certificate `join` wrote. A node name given by flag or config
 * that differs from the certificate's is an error: the cloud authorizes by the certificate, so
 * the gateway would connect as a node it is not.
 */
export function nodeIdentity(dataDir: string, given: string | undefined): { nodeName: string; files: NodeFiles; joinServer?: string } {
  const id = readIdentity(dataDir);
  if (given !== undefined && given !== id.nodeName) {
    throw new EdgetwinError(
      ErrorCodes.CONFIG,
      `--node-name "${given}" differs from the node certificate's name "${id.nodeName}"`,
      { file: id.files.cert },
      `drop --node-name (the certificate names the node), or join again as "${given}"`,
    );
  }
  if (id.notAfter < Date.now()) {
    throw new EdgetwinError(ErrorCodes.CONFIG, `the node certificate expired on ${new Date(id.notAfter).toISOString()}`, { file: id.files.cert }, 'join again with a new token');
  }
  return id;
}

export interface EdgeLinkOptions {
  config: CloudLinkConfig;
  dataDir: string;
  nodeName: string;
  files: NodeFiles;
  joinServer?: string;
  twin: DeviceTwin;
  log: Logger;
  registry: Registry;
  /** Cloud device changes arriving together cause one reload after this long; default 100 ms. */
  devicesSettleMs?: number;
}

export class EdgeLink extends EventEmitter {
  readonly hub: EdgeHub;
  readonly meta: MetaManager;
  readonly upstream: Upstream;
  /** The cloud's Devices bound to this node, for the gateway's catalog. */
  readonly devices: CloudDevices;
  private readonly deviceErrors: DeviceErrorReports;
  private readonly db: Database.Database;
  private readonly outbox: Outbox;
  private readonly servicebus: ServiceBus;
  private readonly rotation: CertRotation | undefined;
  private readonly untwin: () => void;
  private readonly log: Logger;

  constructor(opts: EdgeLinkOptions) {
    super();
    const log = (this.log = opts.log.child({ component: 'edgehub' }));
    this.db = new Database(join(opts.dataDir, 'cloud.db'));
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.meta = new MetaManager(this.db, log);
    this.outbox = new Outbox({ db: this.db, name: 'cloud', registry: opts.registry });
    this.upstream = new Upstream({ outbox: this.outbox, bucket: new TokenBucket(opts.config.qps, opts.config.burst), log, resendMs: opts.config.resendMs, idSalt: outboxSalt(this.db) });
    this.devices = new CloudDevices({ meta: this.meta, nodeName: opts.nodeName, log, settleMs: opts.devicesSettleMs });
    this.deviceErrors = new DeviceErrorReports(this.db, this.upstream, (device) => {
      const v = opts.twin.get(device);
      return v && { state: v.state, lastOnlineTime: lastOnlineTime(v.state, v.lastOnline) };
    }, (device) => this.meta.get(`${device.slice(0, device.indexOf('/'))}/device/${device.slice(device.indexOf('/') + 1)}`) !== undefined);
    this.servicebus = new ServiceBus({ allowedPorts: opts.config.serviceBus.allowedPorts, log });
    const files = opts.files;
    this.hub = new EdgeHub({
      url: opts.config.url,
      nodeName: opts.nodeName,
      projectId: opts.config.projectId,
      heartbeatMs: opts.config.heartbeatMs,
      reconnect: opts.config.reconnect,
      credentials: () => ({ ca: readFileSync(files.ca, 'utf8'), cert: readFileSync(files.cert, 'utf8'), key: readFileSync(files.key, 'utf8') }),
      onMessage: (m) => this.route(m),
      keepaliveContent: () => ({ outbox: this.upstream.depth }),
      log,
      registry: opts.registry,
    });
    const upstream = this.upstream;
    new Gauge({
      name: 'edgetwin_edgehub_outbox_depth',
      help: 'Reports and events waiting for the cloud\'s answer',
      registers: [opts.registry],
      collect(this: Gauge) {
        this.set(upstream.depth);
      },
    });
    // Forwarding first, so the twin's `cloud` change (and its membership request) reaches the outbox.
    const errors = this.deviceErrors;
    this.untwin = reportTwin(opts.twin, this.upstream, (device) => errors.has(device));
    const twin = opts.twin;
    this.hub.on('connected', () => {
      // KubeEdge's EdgeHub broadcasts node/connection cloud_connected to the twin.
      twin.setCloudConnected(true);
      this.upstream.online((m) => this.hub.send(m));
      this.emit('connected');
    });
    this.hub.on('disconnected', () => {
      twin.setCloudConnected(false);
      this.upstream.offline();
      this.emit('disconnected');
    });
    twin.setCloudConnected(false);
    if (opts.joinServer) {
      this.rotation = new CertRotation({ files, joinServer: opts.joinServer, log, onRenewed: () => this.hub.reconnect('node certificate renewed') });
    } else {
      log.warn({ file: files.info }, 'edgehub: no join server recorded; the node certificate will not be renewed automatically');
    }
  }

  override on(event: 'connected' | 'disconnected', fn: () => void): this;
  /** The cloud's answer to the twin's membership/detail request: the devices bound to this node. */
  override on(event: 'membership', fn: (devices: MembershipDevice[]) => void): this;
  override on(event: string, fn: Parameters<EventEmitter['on']>[1]): this {
    return super.on(event, fn);
  }

  start(): void {
    this.hub.start();
    this.rotation?.start();
  }

  /**
   * After each load of the gateway's devices: the errors of cloud Devices go up (DeviceStatus
   * shows them), and errors that went away are cleared. Returns the cloud devices in error.
   */
  reportDeviceErrors(errors: readonly EdgetwinError[]): string[] {
    return this.deviceErrors.report(errors);
  }

  /** What /healthz shows of the link. */
  status(): { connected: boolean; endpoint: string; outbox: number; objects: Record<string, number> } {
    return { connected: this.hub.connected, endpoint: this.hub.endpoint, outbox: this.upstream.depth, objects: this.meta.counts() };
  }

  async close(): Promise<void> {
    this.rotation?.stop();
    this.untwin();
    this.upstream.close();
    await this.hub.stop();
    this.outbox.close();
    this.db.close();
  }

  /** Every valid frame from the cloud. */
  private route(msg: Message): void {
    if (isResponse(msg)) {
      if (!this.upstream.answer(msg)) {
        this.log.debug({ parent: msg.header.parent_msg_id }, 'edgehub: an answer to nothing waiting (answered before, or from before a restart)');
        return;
      }
      if (msg.route.operation === Operations.RESPONSE && msg.route.resource === MEMBERSHIP_DETAIL) {
        // KubeEdge's own cloudcore answers the query with a bare "OK": then there is nothing to learn.
        const devices = readMembershipDetail(msg.content);
        if (devices) {
          this.log.info({ devices: devices.length }, 'edgehub: the cloud sent the node\'s membership detail');
          this.emit('membership', devices);
        }
      }
      return;
    }
    if (ServiceBus.handles(msg)) {
      void this.servicebus.call(msg).then((reply) => this.hub.send(reply));
      return;
    }
    if (msg.route.operation === Operations.KEEPALIVE) return;
    if (msg.route.resource === 'membership' || msg.route.resource.endsWith('/membership')) {
      // NO-ACK and lost while offline, so not a source of truth: the device messages that follow
      // it (ACK class, kept in MetaManager) say which devices this node runs.
      this.log.debug({ content: msg.content }, 'edgehub: device membership from the cloud (the device objects decide)');
      return;
    }
    // MetaManager commits before the ACK is written: an acknowledged object is on disk.
    const result = this.meta.apply(msg);
    if (result !== 'ignored') {
      this.hub.send(responseTo(msg, OK));
      return;
    }
    if (needsAck(msg)) {
      this.log.warn({ resource: msg.route.resource, operation: msg.route.operation }, 'edgehub: a cloud message no edge module handles');
      this.hub.send(errorTo(msg, `edgetwin ${Sources.METAMANAGER} does not handle operation "${msg.route.operation}" on "${msg.route.resource}"`, Sources.METAMANAGER));
    }
  }
}

/** The outbox's id salt, made once per database (see Upstream's idSalt). */
function outboxSalt(db: Database.Database): string {
  db.exec('CREATE TABLE IF NOT EXISTS edgehub (key TEXT PRIMARY KEY, value TEXT NOT NULL)');
  db.prepare("INSERT OR IGNORE INTO edgehub (key, value) VALUES ('outbox-salt', ?)").run(randomUUID());
  return db.prepare<[], { value: string }>("SELECT value FROM edgehub WHERE key = 'outbox-salt'").get()!.value;
}

/** Creates the link and starts dialling; reports flow into the outbox from now on. */
export function startEdgeLink(opts: EdgeLinkOptions): EdgeLink {
  const link = new EdgeLink(opts);
  link.start();
  return link;
}
