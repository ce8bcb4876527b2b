// The KubeEdge EventBus on MQTT: serves twin update/get, state update and membership get, and
// publishes results, deltas, documents, membership, connected/disconnected and data/update.
// A bad message gets an error result and changes nothing; the bus reconnects on its own.
//
// With an external broker and an outbox, nothing is dropped while the broker is away: messages
// wait in the outbox (data/update coalesced to the last value per property, delta and device state
// to the last per device, everything else kept in order) and are replayed with QoS 1 when it
// returns, each removed only once the broker acknowledged it. While the outbox holds anything,
// new messages queue behind it, so a replayed value never overtakes a newer one.

import type { Aedes } from 'aedes';
import { EdgetwinError, ErrorCodes } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import type { DeviceState, Quality, Reading } from '../core/reading.ts';
import { parseValue, ValueError } from '../core/values.ts';
import {
  base, dataUpdate, deltaPayload, deviceStatePayload, documentPayload, errorResult, keDevice, twinResult,
  PROPERTY_KEY_MAX_BYTES, PROPERTY_VALUE_MAX_BYTES,
} from './kubeedge.ts';
import { counter, Registry } from './metrics.ts';
import { AedesTransport, ClientTransport, type BusTransport } from './bus-transport.ts';
import type { Outbox } from './outbox.ts';
import type { DeviceTwin } from './twin.ts';
import type { ReportedUpdate, TwinChange, TwinView } from './types.ts';

export interface EventBusOptions {
  twin: DeviceTwin;
  /** The broker's URL (for logs, and to connect to when it is external). */
  url: string;
  /** The embedded broker itself: the bus then publishes and subscribes in-process. */
  inProcess?: Aedes;
  username?: string;
  password?: string;
  tls?: { ca?: string; cert?: string; key?: string; rejectUnauthorized?: boolean };
  nodeName: string;
  log: Logger;
  registry?: Registry;
  /** Keeps outgoing messages while an external broker is unreachable; unused with the embedded one. */
  outbox?: Outbox;
  /** Delay before replaying again after a replay failed; default 1 s. */
  replayRetryMs?: number;
}

const DEV = '$hw/events/device/';
const STATES: Record<string, DeviceState> = { online: 'online', ok: 'online', offline: 'offline', unhealthy: 'unhealthy', unknown: 'unknown' };
const QUALITIES = new Set<Quality>(['good', 'uncertain', 'bad']);

class BadRequest extends Error {
  constructor(readonly code: 400 | 404 | 409 | 500, message: string) {
    super(message);
  }
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

export class MqttEventBus {
  private readonly opts: EventBusOptions;
  private readonly twin: DeviceTwin;
  private readonly log: Logger;
  private readonly transport: BusTransport;
  private stateEventId: string | undefined;
  private readonly onChange = (c: TwinChange) => this.publishChange(c);
  private readonly outbox: Outbox | undefined;
  private replaying = false;
  private replayTimer: NodeJS.Timeout | undefined;
  private outboxFailing = false;
  private stopped = false;
  private readonly m;

  constructor(opts: EventBusOptions) {
    this.opts = opts;
    this.twin = opts.twin;
    this.log = opts.log.child({ component: 'eventbus' });
    this.transport = opts.inProcess
      ? new AedesTransport(opts.inProcess)
      : new ClientTransport({ url: opts.url, clientIdPrefix: `edgetwin-${opts.nodeName}`, username: opts.username, password: opts.password, tls: opts.tls, log: this.log });
    this.outbox = opts.inProcess ? undefined : opts.outbox;
    const registry = opts.registry ?? new Registry();
    this.m = {
      published: counter(registry, 'edgetwin_mqtt_published_total', 'Messages the event bus published'),
      dropped: counter(registry, 'edgetwin_mqtt_dropped_total', 'Messages not published because the broker was not connected (and no outbox could keep them)'),
      kept: counter(registry, 'edgetwin_mqtt_outbox_kept_total', 'Messages kept in the outbox while the broker was unreachable'),
      replayed: counter(registry, 'edgetwin_mqtt_outbox_replayed_total', 'Messages replayed from the outbox and acknowledged by the broker'),
      requests: counter(registry, 'edgetwin_mqtt_requests_total', 'Requests served on the event bus, by result code', ['code']),
      retained: counter(registry, 'edgetwin_mqtt_retained_requests_ignored_total', 'Retained request messages ignored (stale by nature)'),
    };
    this.transport.onLink((up) => {
      if (up) this.replay();
    });
  }

  get connected(): boolean {
    return this.transport.connected;
  }

  /** Subscribes to the requests it serves; resolves once subscribed (or after 10 s, retrying in the background). */
  async start(): Promise<void> {
    const topics = [`${DEV}+/+/twin/update`, `${DEV}+/+/twin/get`, `${DEV}+/+/state/update`, `$hw/events/node/${this.opts.nodeName}/membership/get`];
    this.twin.on('change', this.onChange);
    await this.transport.start(
      topics,
      (topic, payload, retained) => {
        if (retained && !topic.endsWith('/twin/get') && !topic.endsWith('/membership/get')) {
          // A retained request is redelivered on every (re)connect: applying it again would undo
          // every newer change. Stale by nature, so it is no request at all.
          this.m.retained.inc();
          this.log.warn({ topic }, 'eventbus: ignored a retained request (retained requests are replayed on every connect and would undo newer changes); publish requests without the retain flag, and clear this one with an empty retained message');
          return;
        }
        this.handle(topic, payload).catch((err: unknown) => this.log.error({ err, topic }, 'eventbus: request failed'));
      },
      10_000,
    );
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.replayTimer) clearTimeout(this.replayTimer);
    this.twin.off('change', this.onChange);
    await this.transport.close();
  }

  /** Messages waiting for the broker, when there is an outbox. */
  get waiting(): number {
    return this.outbox?.size ?? 0;
  }

  /**
   * Publishes now, or keeps the message in the outbox while the broker is away or older
   * messages still wait. `key` names what a later message replaces (the last value wins).
   */
  private pub(topic: string, payload: string | Buffer, key?: string): void {
    if (this.outbox && (!this.transport.connected || this.outbox.size > 0)) {
      this.keep(topic, payload, key);
      return;
    }
    if (!this.transport.connected) {
      this.m.dropped.inc();
      return;
    }
    this.transport.publish(topic, payload);
    this.m.published.inc();
  }

  private keep(topic: string, payload: string | Buffer, key: string | undefined): void {
    const outbox = this.outbox!;
    const entry = JSON.stringify([topic, typeof payload === 'string' ? payload : payload.toString('utf8')]);
    try {
      if (key === undefined) outbox.append(entry);
      else outbox.put(key, entry);
      this.m.kept.inc();
      this.outboxFailing = false;
    } catch (err) {
      this.m.dropped.inc();
      if (!this.outboxFailing) this.log.error({ err: (err as Error).message }, 'eventbus: the outbox cannot store a message for the unreachable broker (disk full?); messages are dropped and counted until it can');
      this.outboxFailing = true;
    }
    this.replay();
  }

  /** Sends what the outbox holds, oldest first, in batches; each entry leaves once acknowledged. */
  private replay(): void {
    const outbox = this.outbox;
    if (!outbox || this.replaying || this.stopped || !this.transport.connected || outbox.size === 0) return;
    this.replaying = true;
    void (async () => {
      let failed = false;
      try {
        while (!this.stopped && this.transport.connected && outbox.size > 0) {
          const batch = outbox.peek(100);
          await Promise.all(batch.map((e) => {
            const [topic, payload] = JSON.parse(e.payload.toString('utf8')) as [string, string];
            return this.transport.publishConfirmed(topic, payload);
          }));
          outbox.remove(batch);
          this.m.replayed.inc(batch.length);
          this.m.published.inc(batch.length);
        }
      } catch (err) {
        failed = true;
        this.log.warn({ err: (err as Error).message, waiting: outbox.size }, 'eventbus: replaying the outbox failed; retrying');
      } finally {
        this.replaying = false;
      }
      if (outbox.size === 0) this.log.info('eventbus: outbox replayed: the broker has every message kept while it was away');
      else if (failed && !this.stopped && !this.replayTimer) {
        this.replayTimer = setTimeout(() => {
          this.replayTimer = undefined;
          this.replay();
        }, this.opts.replayRetryMs ?? 1000);
      }
    })();
  }

  private publishChange(c: TwinChange): void {
    switch (c.kind) {
      case 'reported': {
        const topic = `$ke/events/device/${c.device}/data/update`;
        if (this.outbox && (!this.transport.connected || this.outbox.size > 0)) {
          // One message per property, so each coalesces to its own last value.
          for (const u of c.updates) this.keep(topic, dataUpdate([u], c.persisted), `data/${c.device}/${u.property}`);
        } else if (!this.transport.connected) {
          this.m.dropped.inc();
          return;
        } else {
          this.pub(topic, dataUpdate(c.updates, c.persisted));
        }
        if (anyDeltaChanged(c.updates)) this.publishDelta(this.twin.get(c.device));
        return;
      }
      case 'desired': {
        if (c.origin === 'mqtt') return; // served inline with its event id
        this.pub(`${DEV}${c.device}/twin/update/document`, documentPayload(undefined, [[c.property, c.last, c.current]]));
        this.publishDelta(this.twin.get(c.device));
        return;
      }
      case 'state': {
        const view = this.twin.get(c.device);
        if (!view) return;
        this.pub(`${DEV}${c.device}/state/update/result`, deviceStatePayload(this.stateEventId, view), `state/${c.device}`);
        if (c.state === 'online' && c.previous !== 'online') this.pub(`$hw/events/connected/${c.device}`, deviceStatePayload(undefined, view, { event_type: 'connected' }));
        if (c.state === 'offline' && c.previous !== 'offline') this.pub(`$hw/events/disconnected/${c.device}`, deviceStatePayload(undefined, view, { event_type: 'disconnected' }));
        return;
      }
      case 'membership': {
        const payload = { ...base(), added_devices: c.added.map((v) => keDevice(v, true)), removed_devices: c.removed.map((v) => keDevice(v, true)) };
        this.pub(`$hw/events/node/${this.opts.nodeName}/membership/updated`, JSON.stringify(payload));
        return;
      }
      case 'reconcile':
        return;
    }
  }

  private publishDelta(view: TwinView | undefined): void {
    const payload = view && deltaPayload(view);
    if (payload) this.pub(`${DEV}${view.device}/twin/update/delta`, payload, `delta/${view.device}`);
  }

  private async handle(topic: string, payload: Buffer): Promise<void> {
    const parts = topic.split('/');
    if (parts[2] === 'node') {
      const msg = parseObject(payload);
      const devices = this.twin.list().map((s) => keDevice(this.twin.get(s.device)!, false));
      this.pub(`${topic}/result`, JSON.stringify({ ...base(eventIdOf(msg)), devices }));
      this.m.requests.inc({ code: '200' });
      return;
    }
    const id = `${parts[3]}/${parts[4]}`;
    const action = `${parts[5]}/${parts[6]}`;
    const resultTopic = `${topic}/result`;
    let eventId = '';
    try {
      const msg = parseObject(payload);
      if (!msg) throw new BadRequest(400, 'Unmarshal update request body failed, please check the request: the payload is not a JSON object');
      eventId = eventIdOf(msg);
      if (action === 'twin/update') await this.twinUpdate(id, eventId, msg, resultTopic);
      else if (action === 'twin/get') this.twinGet(id, eventId, resultTopic);
      else if (action === 'state/update') this.stateUpdate(id, eventId, msg);
      this.m.requests.inc({ code: '200' });
    } catch (err) {
      const e = toBadRequest(err);
      this.m.requests.inc({ code: String(e.code) });
      this.log.info({ device: id, topic, code: e.code, reason: e.message }, 'eventbus: request refused');
      this.pub(resultTopic, errorResult(eventId, e.code, e.message));
    }
  }

  private twinGet(id: string, eventId: string, resultTopic: string): void {
    const view = this.twin.get(id);
    if (!view) throw new BadRequest(404, `Device ${id} not found while getting twin`);
    this.pub(resultTopic, twinResult(eventId, view));
  }

  private stateUpdate(id: string, eventId: string, msg: Obj): void {
    const state = typeof msg.state === 'string' ? STATES[msg.state.toLowerCase()] : undefined;
    if (!state) throw new BadRequest(400, `state must be one of online, offline, ok, unhealthy, unknown; got ${JSON.stringify(msg.state)}`);
    const view = this.twin.get(id);
    if (!view) throw new BadRequest(404, `Device ${id} not found`);
    if (this.twin.servedLocally(id)) throw new BadRequest(409, `device ${id} is served by a local driver, which reports its state`);
    this.stateEventId = eventId;
    try {
      this.twin.state(id, state);
    } finally {
      this.stateEventId = undefined;
    }
    // An unchanged state emits no change event, yet the request still deserves its answer.
    if (view.state === state) this.pub(`${DEV}${id}/state/update/result`, deviceStatePayload(eventId, this.twin.get(id)!));
  }

  private async twinUpdate(id: string, eventId: string, msg: Obj, resultTopic: string): Promise<void> {
    const twin = msg.twin;
    if (!isObj(twin)) throw new BadRequest(400, 'Update twin error, the update request body not have key:twin');
    const expected: Obj = {};
    const actual: { key: string; value: string; meta: Obj }[] = [];
    for (const [key, t] of Object.entries(twin)) {
      if (Buffer.byteLength(key) > PROPERTY_KEY_MAX_BYTES) throw new BadRequest(400, `property key "${key.slice(0, 40)}..." is longer than ${PROPERTY_KEY_MAX_BYTES} bytes`);
      if (!isObj(t)) throw new BadRequest(400, `twin.${key} must be an object with expected and/or actual (properties come from the DeviceModel and cannot be deleted)`);
      if (t.expected === undefined && t.actual === undefined) throw new BadRequest(400, `twin.${key} has neither expected nor actual`);
      for (const side of ['expected', 'actual'] as const) {
        const v = t[side];
        if (v === undefined) continue;
        if (!isObj(v) || typeof v.value !== 'string') throw new BadRequest(400, `twin.${key}.${side}.value must be a string`);
        if (Buffer.byteLength(v.value) > PROPERTY_VALUE_MAX_BYTES) throw new BadRequest(400, `twin.${key}.${side}.value is longer than ${PROPERTY_VALUE_MAX_BYTES} bytes`);
        if (side === 'expected') expected[key] = v.value;
        else actual.push({ key, value: v.value, meta: isObj(v.metadata) ? v.metadata : {} });
      }
    }
    const before = this.twin.get(id);
    if (!before) throw new BadRequest(404, `Update rejected due to the device ${id} is not existed`);
    for (const key of Object.keys(twin)) if (!before.properties[key]) throw new BadRequest(404, `device ${id} has no property "${key}"`);
    if (actual.length && this.twin.servedLocally(id)) {
      throw new BadRequest(409, `device ${id} is served by a local driver: its actual values come from the device; publish expected values instead`);
    }
    const now = Date.now();
    const readings: Reading[] = actual.map(({ key, value, meta }) => {
      let typed;
      try {
        typed = parseValue(before.properties[key]!.type, value);
      } catch (err) {
        if (err instanceof ValueError) throw new BadRequest(400, `twin.${key}.actual.value: ${err.message}`);
        throw err;
      }
      const quality = QUALITIES.has(meta.quality as Quality) ? (meta.quality as Quality) : 'good';
      return { device: id, property: key, value: typed, time: typeof meta.timestamp === 'number' ? meta.timestamp : now, quality };
    });
    if (Object.keys(expected).length) this.twin.setDesiredMany(id, expected, 'mqtt');
    if (readings.length) {
      this.twin.report(readings);
      await this.twin.flush();
    }
    const after = this.twin.get(id)!;
    const keys = Object.keys(twin);
    this.pub(resultTopic, twinResult(eventId, after, keys));
    this.pub(`${DEV}${id}/twin/update/document`, documentPayload(eventId, keys.map((k) => [k, before.properties[k]!, after.properties[k]!])));
    this.publishDelta(after);
  }
}

/** A loop, not `some` with a closure: it runs for every value published. */
function anyDeltaChanged(updates: readonly ReportedUpdate[]): boolean {
  for (let i = 0; i < updates.length; i++) if (updates[i]!.deltaChanged) return true;
  return false;
}

function parseObject(payload: Buffer): Obj | undefined {
  if (payload.length === 0) return {};
  try {
    const v: unknown = JSON.parse(payload.toString('utf8'));
    return isObj(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

function eventIdOf(msg: Obj | undefined): string {
  return typeof msg?.event_id === 'string' ? msg.event_id : '';
}

function toBadRequest(err: unknown): BadRequest {
  if (err instanceof BadRequest) return err;
  if (err instanceof EdgetwinError) return new BadRequest(err.code === ErrorCodes.NOT_FOUND ? 404 : err.code === ErrorCodes.STORAGE ? 500 : 400, err.format());
  return new BadRequest(500, `internal error: ${err instanceof Error ? err.message : String(err)}`);
}
