// The DeviceController: Devices with spec.nodeName go to their node (membership, devicemodel,
// device, in KubeEdge's order and shapes); a spec change goes as an update, a nodeName change
// moves the device, a delete removes it; each Device gets its DeviceStatus (owned by it). Up
// from the nodes, twin and state reports go into the DeviceStatus through the StatusWriter
// (coalesced, rate limited, merge patches of the status subresource). The Device itself is never
// written. A periodic sync (and every node connect) compares the ObjectSync record with the
// Devices there are: it resends what a node lacks and deletes what no longer exists.
import { Counter, Gauge } from 'prom-client';
import type { Logger } from '../../../core/log.ts';
import type { AckRecordStore } from '../../cloudhub/ack-store.ts';
import { isNewer, Operations, type Message } from '../../message/index.ts';
import { DEVICES_GROUP, DEVICES_VERSION } from '../crds.ts';
import type { Controller, ControllerContext } from '../index.ts';
import { DEFAULT_BACKOFF, Informer } from '../informer.ts';
import { collectionPath, isConflict, isNotFound, objectPath, type KubeClient } from '../kube.ts';
import { deviceId, deviceMessage, membershipMessage, modelMessage, parseDeviceResource, parseStateUpdate, parseTwinUpdate } from './messages.ts';
import { DEFAULT_STATUS_WRITER, StatusWriter, type StatusWriterSettings } from './status-writer.ts';
import type { Device, DeviceError, DeviceModel, DeviceStatusBody } from './types.ts';

export interface DeviceControllerSettings {
  statusWriter: StatusWriterSettings;
  /** How often every node's devices are compared with what it acknowledged (default 30 s). */
  syncMs: number;
}

export const DEFAULT_DEVICE_CONTROLLER: DeviceControllerSettings = { statusWriter: DEFAULT_STATUS_WRITER, syncMs: 30_000 };

interface Placed {
  node: string;
  spec: string;
  device: Device;
}

const API_VERSION = `${DEVICES_GROUP}/${DEVICES_VERSION}`;

export class DeviceController implements Controller {
  readonly name = 'devices';
  readonly writer: StatusWriter;
  private readonly devices: Informer<Device & { metadata: NonNullable<Device['metadata']> }>;
  private readonly models: Informer<DeviceModel & { metadata: NonNullable<DeviceModel['metadata']> }>;
  private readonly placed = new Map<string, Placed>();
  private readonly statusReady = new Map<string, Promise<boolean>>();
  private readonly settings: DeviceControllerSettings;
  private readonly kube: KubeClient;
  private readonly log: Logger;
  private readonly acks: AckRecordStore;
  /** Device events are handled one after another, so a device's messages leave in order. */
  private chain: Promise<void> = Promise.resolve();
  private syncTimer?: NodeJS.Timeout;
  private stopped = false;

  constructor(private readonly ctx: ControllerContext, settings: Partial<DeviceControllerSettings> = {}) {
    this.settings = { ...DEFAULT_DEVICE_CONTROLLER, ...settings, statusWriter: { ...DEFAULT_STATUS_WRITER, ...settings.statusWriter } };
    this.kube = ctx.kube;
    this.log = ctx.log.child({ controller: 'devices' });
    this.acks = ctx.acks;
    const informer = (plural: string) => ({ path: collectionPath(DEVICES_GROUP, DEVICES_VERSION, plural), resyncMs: 0, backoff: DEFAULT_BACKOFF, log: this.log });
    this.devices = new Informer(ctx.kube, informer('devices'));
    this.models = new Informer(ctx.kube, informer('devicemodels'));
    this.writer = new StatusWriter(this.settings.statusWriter, (ns, name, status) => this.writeStatus(ns, name, status), this.log);

    this.devices.on({
      add: (d) => this.serial(() => this.changed(d)),
      update: (d) => this.serial(() => this.changed(d)),
      delete: (d) => this.serial(() => this.deleted(d)),
    });
    this.models.on({
      add: (m) => this.serial(() => this.modelChanged(m)),
      update: (m) => this.serial(() => this.modelChanged(m)),
    });

    ctx.dispatch.register({
      controller: this.name,
      matches: (r) => r.startsWith('device/') && (r.endsWith('/twin/edge_updated') || r.endsWith('/state/update')),
      handle: (node, msg, r) => this.upstream(node, msg, r),
    });
    ctx.dispatch.register({
      controller: this.name,
      // KubeEdge's DeviceController receives and ignores it too.
      matches: (r) => r === 'membership/detail' || r.endsWith('/membership/detail'),
      handle: async () => undefined,
    });
    ctx.link.onConnection((node, connected) => {
      if (connected) this.serial(() => this.syncNode(node));
    });

    const stats = this.writer.stats;
    const metric = { registers: [ctx.registry] };
    new Counter({ name: 'edgetwin_devicestatus_writes_total', help: 'DeviceStatus status patches sent to the API server', ...metric, collect() { this.reset(); this.inc(stats.writes); } });
    new Counter({ name: 'edgetwin_devicestatus_write_failures_total', help: 'DeviceStatus patches the API server refused or did not answer (retried)', ...metric, collect() { this.reset(); this.inc(stats.failures); } });
    new Counter({ name: 'edgetwin_devicestatus_coalesced_total', help: 'edge reports merged into a pending DeviceStatus write instead of costing one', ...metric, collect() { this.reset(); this.inc(stats.coalesced); } });
    const writer = this.writer;
    new Gauge({ name: 'edgetwin_devicestatus_pending', help: 'devices with reports not yet written to their DeviceStatus', ...metric, collect() { this.set(writer.pending); } });
  }

  async start(): Promise<void> {
    await this.models.start();
    await this.devices.start();
    this.writer.start();
    this.syncTimer = setInterval(() => {
      for (const node of this.ctx.link.connectedNodes()) this.serial(() => this.syncNode(node));
    }, this.settings.syncMs);
    this.syncTimer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.syncTimer);
    this.writer.stop();
    await this.devices.stop();
    await this.models.stop();
    await this.chain;
  }

  /** Devices known to the cache, for tests. */
  device(namespace: string, name: string): Device | undefined {
    return this.devices.get(namespace, name);
  }

  private serial(fn: () => Promise<void>): void {
    this.chain = this.chain.then(fn).catch((err: unknown) => this.log.error({ err }, 'device controller step failed'));
  }

  // ---- downstream ----

  private async changed(d: Device): Promise<void> {
    const id = deviceId(d);
    const node = d.spec?.nodeName || undefined;
    const prev = this.placed.get(id);
    void this.ensureStatus(d);
    const spec = JSON.stringify(d.spec ?? {});
    if (prev && prev.spec === spec && prev.node === node) return; // metadata or status only: nothing to send
    if (prev && prev.node !== node) {
      await this.removeFrom(prev.node, prev.device);
      this.placed.delete(id);
    }
    if (!node) return;
    if (prev && prev.node === node) {
      this.placed.set(id, { node, spec, device: d });
      const model = this.modelOf(d);
      if (model) await this.ctx.link.send(node, modelMessage(node, model, Operations.UPDATE));
      await this.ctx.link.send(node, deviceMessage(node, d, Operations.UPDATE));
      await this.dropUnusedModels(node, d.metadata?.namespace ?? 'default');
      return;
    }
    this.placed.set(id, { node, spec, device: d });
    await this.addTo(node, d, false);
  }

  private async deleted(d: Device): Promise<void> {
    const id = deviceId(d);
    const prev = this.placed.get(id);
    this.placed.delete(id);
    this.statusReady.delete(id);
    this.writer.forget(d.metadata?.namespace ?? 'default', d.metadata?.name ?? '');
    const node = prev?.node ?? d.spec?.nodeName;
    if (node) await this.removeFrom(node, prev?.device ?? d);
  }

  /** membership, then the model, then the device; skipped when the node already acknowledged this version. */
  private async addTo(node: string, d: Device, onlyIfLacking: boolean): Promise<void> {
    const uid = d.metadata?.uid;
    const acked = uid ? await this.acks.get(node, uid) : undefined;
    const lacking = !acked || acked.deleted || isNewer(d.metadata?.resourceVersion, acked.resourceVersion);
    if (!lacking) return;
    if (onlyIfLacking && !this.ctx.link.isConnected(node)) return;
    await this.ctx.link.send(node, membershipMessage(node, [d], []));
    const model = this.modelOf(d);
    if (model) await this.ctx.link.send(node, modelMessage(node, model, acked && !acked.deleted ? Operations.UPDATE : Operations.INSERT));
    else this.log.warn({ device: deviceId(d), model: d.spec?.deviceModelRef?.name }, 'the device\'s DeviceModel does not exist (yet): the device goes without it; the model follows when it appears');
    await this.ctx.link.send(node, deviceMessage(node, d, acked && !acked.deleted ? Operations.UPDATE : Operations.INSERT));
  }

  private async removeFrom(node: string, d: Device): Promise<void> {
    await this.ctx.link.send(node, membershipMessage(node, [], [d]));
    await this.ctx.link.send(node, deviceMessage(node, d, Operations.DELETE));
    await this.dropUnusedModels(node, d.metadata?.namespace ?? 'default');
  }

  /** Deletes from the node the models of `namespace` it acknowledged that none of its devices uses. */
  private async dropUnusedModels(node: string, namespace: string): Promise<void> {
    const used = new Set(this.devices.list(namespace).filter((x) => x.spec?.nodeName === node).map((x) => x.spec?.deviceModelRef?.name));
    for (const [, rec] of await this.acks.list(node)) {
      if (rec.deleted || rec.object?.kind !== 'DeviceModel' || (rec.object.namespace ?? 'default') !== namespace || !rec.object.name) continue;
      if (used.has(rec.object.name)) continue;
      const model = this.models.get(namespace, rec.object.name) ?? { metadata: { namespace, name: rec.object.name } };
      await this.ctx.link.send(node, modelMessage(node, model, Operations.DELETE));
    }
  }

  private modelOf(d: Device): DeviceModel | undefined {
    const name = d.spec?.deviceModelRef?.name;
    return name ? this.models.get(d.metadata?.namespace ?? 'default', name) : undefined;
  }

  private async modelChanged(m: DeviceModel): Promise<void> {
    const ns = m.metadata?.namespace ?? 'default';
    const nodes = new Set(this.devices.list(ns).filter((d) => d.spec?.deviceModelRef?.name === m.metadata?.name && d.spec?.nodeName).map((d) => d.spec!.nodeName!));
    for (const node of nodes) await this.ctx.link.send(node, modelMessage(node, m, Operations.UPDATE));
  }

  /** What the node should have against what it acknowledged: resend the lacking, delete the gone. */
  private async syncNode(node: string): Promise<void> {
    if (this.stopped) return;
    const mine = this.devices.list().filter((d) => d.spec?.nodeName === node);
    for (const d of mine) await this.addTo(node, d, true);
    const uids = new Set(mine.map((d) => d.metadata.uid));
    for (const [uid, rec] of await this.acks.list(node)) {
      if (rec.deleted || rec.object?.kind !== 'Device' || uids.has(uid)) continue;
      const stub: Device = { apiVersion: API_VERSION, kind: 'Device', metadata: { namespace: rec.object.namespace ?? 'default', name: rec.object.name ?? '', uid } };
      this.log.info({ node, device: deviceId(stub) }, 'the node has a device that no longer exists there: deleting it');
      await this.removeFrom(node, stub);
    }
  }

  // ---- DeviceStatus ----

  /** Gets or creates the DeviceStatus (same name, owned by the Device) and seeds the writer with it. */
  private ensureStatus(d: Device): Promise<boolean> {
    const id = deviceId(d);
    let p = this.statusReady.get(id);
    if (p) return p;
    p = this.getOrCreateStatus(d).then(() => true, (err: Error) => {
      this.statusReady.delete(id);
      this.log.warn({ device: id, err: err.message }, 'cannot get or create the DeviceStatus; tried again on the next report');
      return false;
    });
    this.statusReady.set(id, p);
    return p;
  }

  private async getOrCreateStatus(d: Device): Promise<void> {
    const ns = d.metadata?.namespace ?? 'default';
    const name = d.metadata?.name ?? '';
    const path = objectPath(DEVICES_GROUP, DEVICES_VERSION, 'devicestatuses', ns, name);
    try {
      const existing = await this.kube.request<{ status?: DeviceStatusBody }>('GET', path);
      this.writer.seed(ns, name, existing.status);
      return;
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    const body = {
      apiVersion: API_VERSION,
      kind: 'DeviceStatus',
      metadata: {
        name, namespace: ns,
        ownerReferences: [{ apiVersion: API_VERSION, kind: 'Device', name, uid: d.metadata?.uid ?? '', controller: true, blockOwnerDeletion: true }],
      },
      spec: {},
    };
    try {
      await this.kube.request('POST', collectionPath(DEVICES_GROUP, DEVICES_VERSION, 'devicestatuses', ns), { body });
    } catch (err) {
      if (!isConflict(err)) throw err;
      const existing = await this.kube.request<{ status?: DeviceStatusBody }>('GET', path);
      this.writer.seed(ns, name, existing.status);
    }
  }

  private async writeStatus(ns: string, name: string, status: DeviceStatusBody): Promise<void> {
    const d = this.devices.get(ns, name);
    if (!d) return; // deleted meanwhile: its DeviceStatus goes with it
    if (!(await this.ensureStatus(d))) throw new Error('the DeviceStatus is not there yet');
    try {
      await this.kube.request('PATCH', `${objectPath(DEVICES_GROUP, DEVICES_VERSION, 'devicestatuses', ns, name)}/status`, {
        body: { status }, contentType: 'application/merge-patch+json',
      });
    } catch (err) {
      if (isNotFound(err)) this.statusReady.delete(deviceId(d));
      throw err;
    }
  }

  // ---- upstream ----

  private async upstream(node: string, msg: Message, resource: string): Promise<void> {
    const where = parseDeviceResource(resource);
    if (!where) return;
    const d = this.devices.get(where.namespace, where.name);
    if (!d || d.spec?.nodeName !== node) {
      // A node reports only devices bound to it; anything else is dropped (and answered, so it is not resent).
      this.log.warn({ node, device: `${where.namespace}/${where.name}`, resource }, 'report for a device not bound to this node: dropped');
      return;
    }
    void this.ensureStatus(d);
    if (where.rest === 'twin/edge_updated') {
      let twins;
      try {
        twins = parseTwinUpdate(msg.content);
      } catch (err) {
        this.log.warn({ node, resource, err: (err as Error).message }, 'malformed twin report: dropped');
        return;
      }
      const known = new Set((d.spec?.properties ?? []).map((p) => p.name).filter((n): n is string => Boolean(n)));
      const ignored = this.writer.applyTwins(where.namespace, where.name, twins, known);
      if (ignored.length > 0) this.log.debug({ device: deviceId(d), ignored }, 'reported properties the Device does not declare: not written');
      return;
    }
    let state;
    try {
      state = parseStateUpdate(msg.content);
    } catch (err) {
      this.log.warn({ node, resource, err: (err as Error).message }, 'malformed state report: dropped');
      return;
    }
    const { errorChanged } = this.writer.applyState(where.namespace, where.name, state);
    if (errorChanged && state.error) void this.postEvent(d, state.error);
  }

  private async postEvent(d: Device, error: DeviceError): Promise<void> {
    const ns = d.metadata?.namespace ?? 'default';
    const now = new Date().toISOString();
    try {
      await this.kube.request('POST', collectionPath('', 'v1', 'events', ns), {
        body: {
          apiVersion: 'v1', kind: 'Event',
          metadata: { generateName: `${d.metadata?.name}.`, namespace: ns },
          involvedObject: { apiVersion: API_VERSION, kind: 'Device', namespace: ns, name: d.metadata?.name, uid: d.metadata?.uid, resourceVersion: d.metadata?.resourceVersion },
          reason: 'DeviceError', type: 'Warning',
          message: `${d.spec?.nodeName}: ${error.field ? `${error.field}: ` : ''}${error.message}`,
          source: { component: 'edgetwin-cloud', host: d.spec?.nodeName },
          firstTimestamp: now, lastTimestamp: now, count: 1,
          reportingComponent: 'edgetwin-cloud', reportingInstance: d.spec?.nodeName ?? '',
        },
      });
    } catch (err) {
      this.log.warn({ device: deviceId(d), err: (err as Error).message }, 'cannot post the Event for the device error');
    }
  }
}
