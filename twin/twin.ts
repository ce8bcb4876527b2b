// The DeviceTwin: per device and property, desired, reported, delta, versions and reconcile
// state, durable in the store. Readings are only enqueued by report(); one flush per tick
// applies them and writes every changed row in one transaction, and tells listeners after the
// commit, so nothing published as persisted can be lost by a crash.
//
// When the store refuses writes (a full disk, an I/O error) the twin keeps running from memory:
// readings are still applied and published, marked `persisted: false`; the rows that could not be
// written stay dirty and a timer retries them every `storeRetryMs` until the store commits again.
// A request (a desired value) is different: its caller is told whether it was stored, so a refused
// write is undone in memory and answered with an error: the twin never shows what the store lost.

import { EventEmitter } from 'node:events';
import type { DeviceId, DeviceSpecResolved } from '../core/device.ts';
import { EdgetwinError, ErrorCodes } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import type { DeviceState, PropertyWriter, Reading, ReadingSink } from '../core/reading.ts';
import { formatValue, type PropertyValue } from '../core/values.ts';
import { writableProperty, typedDesired } from './desired.ts';
import { storageError } from './store.ts';
import { StoreWriter } from './store-writer.ts';
import type { DeviceEntry, PropState } from './entry.ts';
import { loadDevice, syncProperties } from './membership.ts';
import { counter, histogram, Registry } from './metrics.ts';
import { PushForwarder } from './push.ts';
import { Reconciler, type RetryPolicy } from './reconcile.ts';
import type { TwinStore } from './store.ts';
import type { CloudLinkView, DesiredOrigin, DesiredResult, DeviceSummary, TwinChange, TwinView } from './types.ts';

export type * from './types.ts';

export interface DeviceTwinOptions {
  store: TwinStore;
  log: Logger;
  nodeName: string;
  writer?: PropertyWriter;
  /** Where the twin's metrics go; a private registry when absent. */
  registry?: Registry;
  /** Backoff for failed writes; default 1 s doubling up to 60 s. */
  retry?: RetryPolicy;
  /** How often to retry the store after it refused a write; default 5 s. */
  storeRetryMs?: number;
  /**
   * How long readings gather before one flush stores them in one transaction and tells listeners
   * (one data/update message per device); default 0: at the event loop's next turn.
   */
  flushWindowMs?: number;
}

export class DeviceTwin extends EventEmitter implements ReadingSink {
  readonly nodeName: string;
  private readonly store: TwinStore;
  private readonly log: Logger;
  private writerRef: PropertyWriter | undefined;
  private readonly devices = new Map<DeviceId, DeviceEntry>();
  private queue: Reading[] = [];
  private spare: Reading[] = [];
  private scheduled = false;
  private seq = 0;
  private closed = false;
  private readonly touched: DeviceEntry[] = [];
  private readonly warnedUnknown = new Set<string>();
  private readonly reconciler: Reconciler;
  private readonly push: PushForwarder;
  private readonly flushCb = () => this.flushNow();
  private readonly flushWindowMs: number;
  /** With a flush window: one timer, re-armed for each flush (no timer object per flush). */
  private flushTimer: NodeJS.Timeout | undefined;
  /** Rows changed in memory and not yet committed (all of them while the store refuses writes). */
  private readonly writer: StoreWriter;
  private cloud: CloudLinkView | undefined;
  private readonly m;

  constructor(opts: DeviceTwinOptions) {
    super();
    this.store = opts.store;
    this.log = opts.log;
    this.nodeName = opts.nodeName;
    this.writerRef = opts.writer;
    this.flushWindowMs = opts.flushWindowMs ?? 0;
    const registry = opts.registry ?? new Registry();
    this.m = {
      updates: counter(registry, 'edgetwin_twin_updates_total', 'Readings committed to the twin store'),
      unknown: counter(registry, 'edgetwin_twin_unknown_readings_total', 'Readings dropped because the device or property is not in the twin'),
      flushErrors: counter(registry, 'edgetwin_twin_flush_errors_total', 'Store transactions that failed (the twin then runs from memory and retries)'),
      flush: histogram(registry, 'edgetwin_twin_flush_seconds', 'Duration of one flush transaction', [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25]),
      desired: counter(registry, 'edgetwin_twin_desired_total', 'Desired values accepted, by origin', ['origin']),
      reconcile: counter(registry, 'edgetwin_twin_reconcile_total', 'Reconcile outcomes', ['result']),
    };
    this.writer = new StoreWriter({ store: this.store, log: this.log, retryMs: opts.storeRetryMs ?? 5000, failures: this.m.flushErrors, closed: () => this.closed });
    this.push = new PushForwarder({ log: this.log, registry });
    this.reconciler = new Reconciler(
      {
        log: this.log,
        changed: (_d, p, commit) => {
          this.writer.markRow(p);
          if (commit) this.writer.persist();
        },
        writer: () => this.writerRef,
        emit: (c) => this.tell(c),
        readBack: (device, property, value) => this.report([{ device, property, value, time: Date.now(), quality: 'good' }]),
        closed: () => this.closed,
        count: (result) => this.m.reconcile.inc({ result }),
      },
      opts.retry ?? { baseMs: 1000, maxMs: 60_000 },
    );
  }

  override on(event: 'change', fn: (e: TwinChange) => void): this {
    return super.on(event, fn);
  }

  /** Why the store does not commit (what, where, what to do), or undefined while it does. */
  get storeProblem(): string | undefined {
    return this.writer.problem;
  }

  /** True when a local driver serves the device: MQTT apps may then not publish its actual values. */
  servedLocally(device: DeviceId): boolean {
    return this.writerRef?.serves(device) ?? false;
  }

  setWriter(writer: PropertyWriter): void {
    this.writerRef = writer;
    for (const e of this.devices.values()) this.reconciler.resume(e);
  }

  /** Sets the device membership: adds, updates and removes devices; applies changed YAML desired values. */
  setDevices(devices: DeviceSpecResolved[]): void {
    this.flushNow();
    const next = new Set(devices.map((d) => d.id));
    const added: DeviceEntry[] = [];
    const removed: TwinView[] = [];
    const yaml: [DeviceEntry, PropState, ReturnType<PropState['view']>, DesiredOrigin][] = [];
    const defer: TwinChange[] = [];
    const now = Date.now();
    try {
      this.store.transaction(() => {
        this.setDevicesInTransaction(devices, next, added, removed, yaml, defer, now);
        this.writer.writeMarked();
      });
    } catch (err) {
      if (err instanceof EdgetwinError) throw err;
      this.writer.failed(err);
      throw storageError(this.store.file, err, 'write');
    }
    this.writer.committed();
    for (const c of defer) this.tell(c);
    if (added.length || removed.length) this.tell({ kind: 'membership', added: added.map((e) => e.view()), removed });
    for (const [e, p, last, origin] of yaml) this.emitDesired(e, p, origin, last);
    for (const e of this.devices.values()) this.reconciler.resume(e);
  }

  private setDevicesInTransaction(
    devices: DeviceSpecResolved[], next: Set<DeviceId>, added: DeviceEntry[], removed: TwinView[],
    yaml: [DeviceEntry, PropState, ReturnType<PropState['view']>, DesiredOrigin][], defer: TwinChange[], now: number,
  ): void {
    for (const [id, e] of this.devices) {
      if (next.has(id)) continue;
      removed.push(e.view());
      e.retired = true;
      for (const p of e.props.values()) {
        p.retired = true;
        this.reconciler.cancel(p);
      }
      this.store.removeDevice(id);
      this.devices.delete(id);
    }
    for (const spec of devices) {
      let e = this.devices.get(spec.id);
      if (!e) {
        e = loadDevice(this.store, spec);
        this.devices.set(spec.id, e);
        added.push(e);
      }
      e.spec = spec;
      syncProperties(this.store, this.reconciler, e);
      // A Device from the cloud carries the cloud's desired values: the same rule as a file's
      // (applied only when changed since last loaded), so a local desired value set meanwhile stays
      // until the cloud's spec value changes: latest wins, in order of arrival at the gateway.
      const origin: DesiredOrigin = spec.managedBy === 'cloud' ? 'cloud' : 'yaml';
      for (const p of e.props.values()) {
        const text = p.spec.desired === undefined ? null : formatValue(p.spec.type, p.spec.desired);
        if (text === p.yamlDesired) continue;
        p.yamlDesired = text;
        this.store.setYamlDesired(p.rid, text);
        if (p.spec.desired === undefined) continue;
        if (p.spec.accessMode === 'ReadOnly') {
          this.log.warn({ device: spec.id, property: p.spec.name, origin }, 'twin: desired value in the Device spec ignored: the property is ReadOnly');
          continue;
        }
        yaml.push([e, p, this.applyDesired(e, p, p.spec.desired, origin, now, defer), origin]);
      }
    }
  }

  report(readings: readonly Reading[]): void {
    if (this.closed) return;
    for (let i = 0; i < readings.length; i++) this.queue.push(readings[i]!);
    if (!this.scheduled) {
      this.scheduled = true;
      if (!this.flushWindowMs) setImmediate(this.flushCb);
      else if (this.flushTimer) this.flushTimer.refresh();
      else this.flushTimer = setTimeout(this.flushCb, this.flushWindowMs);
    }
  }

  state(device: DeviceId, state: DeviceState, reason?: string): void {
    const e = this.devices.get(device);
    if (!e || (e.state === state && e.reason === reason)) return;
    const previous = e.state;
    e.state = state;
    e.reason = reason;
    if (state === 'online' && previous !== 'online') e.lastOnline = Date.now();
    this.writer.markDevice(e);
    this.writer.persist();
    // One info line per change of state; a new reason within the same state is detail.
    this.log[state === previous ? 'debug' : 'info']({ device, state, previous, ...(reason !== undefined ? { reason } : {}) }, 'twin: device state changed');
    this.tell({ kind: 'state', device, state, previous, ...(reason !== undefined ? { reason } : {}), ...(e.lastOnline !== undefined ? { lastOnline: e.lastOnline } : {}) });
    if (state === 'online' && previous !== 'online') this.reconciler.resume(e);
  }

  setDesired(device: DeviceId, property: string, value: unknown, origin: 'api' | 'mqtt' | 'cli' | 'cloud'): DesiredResult {
    return this.setDesiredMany(device, { [property]: value }, origin)[0]!;
  }

  /** Validates every value first, then commits them in one transaction: all or nothing. */
  setDesiredMany(device: DeviceId, values: Record<string, unknown>, origin: 'api' | 'mqtt' | 'cli' | 'cloud'): DesiredResult[] {
    const e = this.devices.get(device);
    if (!e) throw new EdgetwinError(ErrorCodes.NOT_FOUND, 'no such device in the twin', { device }, 'list the devices with GET /api/v1/devices or `edgetwin devices`');
    const typed: [PropState, PropertyValue][] = Object.entries(values).map(([name, raw]) => {
      const p = writableProperty(e, name);
      return [p, typedDesired(e, p, raw)];
    });
    if (typed.length === 0) throw new EdgetwinError(ErrorCodes.BAD_REQUEST, 'no desired value given', { device });
    const now = Date.now();
    const defer: TwinChange[] = [];
    const lasts: ReturnType<PropState['view']>[] = [];
    const before = typed.map(([p]) => desiredSnapshot(p));
    for (const [p, v] of typed) lasts.push(this.applyDesired(e, p, v, origin, now, defer));
    try {
      this.writer.commitRows(typed.map(([p]) => p));
    } catch (err) {
      // The caller hears "not stored", so the twin must not show it either.
      typed.forEach(([p], i) => Object.assign(p, before[i]));
      throw err;
    }
    for (const c of defer) this.tell(c);
    typed.forEach(([p], i) => this.emitDesired(e, p, origin, lasts[i]!));
    return typed.map(([p]) => ({ device, property: p.spec.name, value: p.desired!, version: p.version, reconcile: p.rec }));
  }

  invokeMethod(device: DeviceId, method: string, values: Record<string, unknown>): DesiredResult[] {
    const e = this.devices.get(device);
    if (!e) throw new EdgetwinError(ErrorCodes.NOT_FOUND, 'no such device in the twin', { device }, 'list the devices with GET /api/v1/devices');
    const m = e.spec.methods.find((x) => x.name === method);
    if (!m) {
      const known = e.spec.methods.map((x) => x.name).join(', ') || 'none';
      throw new EdgetwinError(ErrorCodes.NOT_FOUND, `no method "${method}" on this device`, { device }, `its methods: ${known}`);
    }
    for (const name of Object.keys(values)) {
      if (!m.propertyNames.includes(name)) {
        throw new EdgetwinError(ErrorCodes.BAD_REQUEST, `method "${method}" does not set property "${name}"`, { device, property: name }, `it sets: ${m.propertyNames.join(', ')}`);
      }
    }
    return this.setDesiredMany(device, values, 'api');
  }

  get(device: DeviceId): TwinView | undefined {
    return this.devices.get(device)?.view();
  }

  list(): DeviceSummary[] {
    return [...this.devices.values()].map((e) => summaryOf(e));
  }

  /** One device's line of list(). */
  summary(device: DeviceId): DeviceSummary | undefined {
    const e = this.devices.get(device);
    return e && summaryOf(e);
  }

  /** The device as loaded (its model's types, units and limits), for a dashboard's form. */
  spec(device: DeviceId): DeviceSpecResolved | undefined {
    return this.devices.get(device)?.spec;
  }

  /** The cloud link's state as its owner (EdgeHub) last told it; undefined on a standalone gateway. */
  get cloudLink(): CloudLinkView | undefined {
    return this.cloud ? { ...this.cloud } : undefined;
  }

  /**
   * The cloud link went up or down: KubeEdge's EdgeHub broadcasts `node/connection`
   * `cloud_connected` / `cloud_disconnected` to its twin. Listeners see a `cloud` change; a
   * twin starts disconnected, as KubeEdge's, so every `connected: true` follows a disconnect and
   * is the moment to ask the cloud for the node's membership detail (dtmanager/communicate.go).
   * The twin knows nothing of the link itself: whoever owns it calls this.
   */
  setCloudConnected(connected: boolean): void {
    if (this.cloud?.connected === connected) return;
    const first = this.cloud === undefined;
    this.cloud = { connected, since: Date.now() };
    // The starting "down" is no news; every later change is.
    this.log[first ? 'debug' : 'info']({ connected }, connected ? 'twin: the cloud link is up' : 'twin: the cloud link is down; the twin runs on its own');
    this.tell({ kind: 'cloud', ...this.cloud });
  }

  flush(): Promise<void> {
    this.flushNow();
    return Promise.resolve();
  }

  /** Flushes and stops timers and push clients. The store stays open: its owner closes it. */
  async close(): Promise<void> {
    this.flushNow();
    this.closed = true;
    clearTimeout(this.flushTimer);
    this.writer.close();
    for (const e of this.devices.values()) for (const p of e.props.values()) this.reconciler.cancel(p);
    await this.push.close();
  }

  private flushNow(): void {
    this.scheduled = false;
    const q = this.queue;
    if (q.length === 0) return;
    this.queue = this.spare;
    const seq = ++this.seq;
    const touched = this.touched;
    touched.length = 0;
    const defer: TwinChange[] = [];
    const enforce: [DeviceEntry, PropState][] = [];
    const now = Date.now();
    let applied = 0;
    // A flush's readings come a device at a time: the device is looked up once per run of them.
    let lastDevice: DeviceId | undefined;
    let e: DeviceEntry | undefined;
    let at = 0;
    for (let i = 0; i < q.length; i++) {
      const r = q[i]!;
      if (r.device !== lastDevice) {
        lastDevice = r.device;
        e = this.devices.get(r.device);
        at = 0;
      }
      let p = e?.order[at];
      if (p === undefined || p.spec.name !== r.property || p.retired) {
        p = e?.props.get(r.property);
        if (p) e!.order[at] = p;
      }
      at++;
      if (!e || !p) {
        this.unknownReading(r);
        continue;
      }
      const hadDelta = p.desired !== undefined && p.hasDelta();
      const text = r.value === undefined ? null : formatValue(p.spec.type, r.value);
      if (r.value !== undefined) {
        p.reported = r.value;
        p.reportedText = text;
      }
      p.reportedTime = r.time;
      p.quality = r.quality;
      p.error = r.error;
      p.actEdge++;
      this.writer.markReported(p);
      applied++;
      const slot = p.slot;
      slot.text = text;
      slot.value = r.value;
      slot.time = r.time;
      slot.quality = r.quality;
      slot.error = r.error;
      if (p.flushMark !== seq) {
        p.flushMark = seq;
        slot.deltaChanged = false;
        if (e.flushMark !== seq) {
          e.flushMark = seq;
          e.touched.length = 0;
          touched.push(e);
        }
        e.touched.push(slot);
      }
      if (p.desired !== undefined) {
        if (hadDelta !== p.hasDelta()) slot.deltaChanged = true;
        if (this.reconciler.onReading(e, p, defer, now)) enforce.push([e, p]);
      }
    }
    q.length = 0;
    this.spare = q;
    const end = this.m.flush.startTimer();
    const persisted = this.writer.persist();
    if (persisted) {
      end();
      this.m.updates.inc(applied);
    }
    for (let i = 0; i < touched.length; i++) {
      const e = touched[i]!;
      this.tell({ kind: 'reported', device: e.spec.id, updates: e.touched, persisted });
      if (e.hasPush) for (const u of e.touched) this.push.push(e.spec, e.props.get(u.property)!.spec, u);
    }
    // The listeners have had the texts (they read updates during tell, as the slots are reused by
    // the next flush): holding them until the next reading would make each one old-generation garbage.
    for (let i = 0; i < touched.length; i++) for (const u of touched[i]!.touched) u.text = null;
    for (const c of defer) this.tell(c);
    for (const [e, p] of enforce) this.reconciler.enforce(e, p);
  }

  /**
   * Sets a desired value in memory and resets reconcile; the caller commits the row and undoes
   * this (desiredSnapshot) when the commit fails. Returns the view before.
   */
  private applyDesired(e: DeviceEntry, p: PropState, v: PropertyValue, origin: DesiredOrigin, now: number, defer: TwinChange[]) {
    const last = p.view();
    p.desired = v;
    p.desiredText = formatValue(p.spec.type, v);
    p.desiredTime = now;
    p.desiredOrigin = origin;
    if (origin === 'cloud') p.expCloud++;
    else p.expEdge++;
    p.attempts = 0;
    p.lastEnforce = 0;
    this.reconciler.transition(e, p, 'pending', undefined, defer);
    return last;
  }

  /** After the commit: a retry timer of the previous value stops, and the new one is written. */
  private emitDesired(e: DeviceEntry, p: PropState, origin: DesiredOrigin, last: ReturnType<PropState['view']>): void {
    this.m.desired.inc({ origin });
    this.reconciler.cancel(p);
    this.log.info({ device: e.spec.id, property: p.spec.name, value: formatValue(p.spec.type, p.desired!), origin, version: p.version }, 'twin: desired value set');
    this.tell({ kind: 'desired', device: e.spec.id, property: p.spec.name, origin, last, current: p.view() });
    this.reconciler.attempt(e, p);
  }

  /** A listener's exception must not undo a commit or stop the other listeners' news. */
  private tell(c: TwinChange): void {
    for (const fn of this.listeners('change') as ((c: TwinChange) => void)[]) {
      try {
        fn(c);
      } catch (err) {
        this.log.error({ err, change: c.kind }, 'twin: a change listener failed');
      }
    }
  }

  private unknownReading(r: Reading): void {
    this.m.unknown.inc();
    const key = `${r.device}\u0000${r.property}`;
    if (this.warnedUnknown.has(key) || this.warnedUnknown.size > 1000) return;
    this.warnedUnknown.add(key);
    this.log.warn({ device: r.device, property: r.property }, 'twin: reading for a device or property the twin does not know, dropped');
  }
}

/** What applyDesired changes, to undo it when the store refused the request. */
function desiredSnapshot(p: PropState): Partial<PropState> {
  const { desired, desiredText, desiredTime, desiredOrigin, expCloud, expEdge, attempts, lastEnforce, rec, reason } = p;
  return { desired, desiredText, desiredTime, desiredOrigin, expCloud, expEdge, attempts, lastEnforce, rec, reason };
}

function summaryOf(e: DeviceEntry): DeviceSummary {
  let deltas = 0;
  let failed = 0;
  for (const p of e.props.values()) {
    if (p.hasDelta()) deltas++;
    if (p.rec === 'failed') failed++;
  }
  const s = e.spec;
  return { device: s.id, namespace: s.namespace, name: s.name, model: s.model, protocol: s.protocol, state: e.state, properties: e.props.size, deltas, failed };
}
