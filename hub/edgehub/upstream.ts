// What goes up to the cloud and must be answered: kept in the gateway's outbox (twin/outbox.ts)
// from the moment it is produced until the cloud answers it (a response or an error whose
// parent_msg_id is the message's id). Nothing is sent that was not committed first, so a kill -9
// loses nothing the twin produced; and nothing leaves the outbox before the cloud answered.
//
// Coalescing (the outbox's keyed entries): a twin report is kept as the last value per device and
// property, a device state as the last state per device; events keep their order. When the link
// is down for an hour, a property that changed 3,600 times goes up once, with its last value.
// Draining builds KubeEdge's messages: one `twin/edge_updated` per device carrying every property
// waiting for it in the window, one `state/update` per device, events as they are.

import { createHash } from 'node:crypto';
import type { Logger } from '../../core/log.ts';
import type { Outbox, OutboxEntry } from '../../twin/outbox.ts';
import type { MsgTwin } from '../../twin/kubeedge.ts';
import { Groups, newMessage, Operations, Sources, type Message } from '../message/index.ts';
import type { TokenBucket } from './pacing.ts';

type Item =
  | { k: 'twin'; d: string; p: string; t: MsgTwin }
  | { k: 'state'; d: string; s: string; lo?: string; e?: DeviceError }
  | { k: 'msg'; m: Pick<Message, 'route' | 'content'> & { header?: Partial<Message['header']> } };

/** Why the gateway does not run a Device the cloud sent (a schema or protocol error), for DeviceStatus. */
export interface DeviceError {
  /** edgetwin's error code, e.g. ET_MODEL_SCHEMA. */
  code?: string;
  /** The whole message: what, where (the field's path) and what to do. */
  message: string;
  /** The first error's field path in the Device or DeviceModel, e.g. `spec.properties[0].collectCycle`. */
  field?: string;
}

interface InFlight {
  entries: Pick<OutboxEntry, 'id' | 'rev'>[];
  sentAt: number;
}

export interface UpstreamOptions {
  outbox: Outbox;
  bucket: TokenBucket;
  log: Logger;
  /** Messages sent and not yet answered, at most. */
  window?: number;
  /** An unanswered message is sent again after this long on the same connection. */
  resendMs?: number;
  /**
   * Random and kept with the outbox: message ids are derived from it and the entries a message
   * carries, so a resend (after a reconnect or a restart) has the id of the first send and the
   * cloud stores it once. A new data directory gets a new salt, so ids never repeat across one.
   */
  idSalt: string;
}

const KEY_SEP = '\u0000';

export class Upstream {
  private readonly outbox: Outbox;
  private readonly bucket: TokenBucket;
  private readonly log: Logger;
  private readonly window: number;
  private readonly resendMs: number;
  private readonly idSalt: string;
  private readonly inFlight = new Map<string, InFlight>();
  /** `${id}:${rev}` of every outbox entry riding in an unanswered message. */
  private readonly riding = new Set<string>();
  private sender: ((m: Message) => boolean) | undefined;
  private timer: NodeJS.Timeout | undefined;
  private due = 0;
  private draining = false;
  /** Messages answered by the cloud since start. */
  answered = 0;
  /** Messages written to the link since start (resends included). */
  sent = 0;

  constructor(opts: UpstreamOptions) {
    this.outbox = opts.outbox;
    this.bucket = opts.bucket;
    this.log = opts.log;
    this.window = opts.window ?? 256;
    this.resendMs = opts.resendMs ?? 30_000;
    this.idSalt = opts.idSalt;
  }

  /** Entries waiting in the outbox (sent or not). */
  get depth(): number {
    return this.outbox.size;
  }

  /** The last reported value of one property: replaces any value of it still waiting. */
  twin(device: string, property: string, twin: MsgTwin): void {
    this.keep(this.outbox.put(`twin${KEY_SEP}${device}${KEY_SEP}${property}`, JSON.stringify({ k: 'twin', d: device, p: property, t: twin } satisfies Item)));
  }

  /**
   * The last state of one device; with `error`, why the gateway cannot run it (the state is then
   * `unhealthy`); a later state without error clears it in the cluster.
   */
  state(device: string, state: string, lastOnlineTime?: string, error?: DeviceError): void {
    const r: Item = { k: 'state', d: device, s: state };
    if (lastOnlineTime) r.lo = lastOnlineTime;
    if (error) r.e = error;
    this.keep(this.outbox.put(`state${KEY_SEP}${device}`, JSON.stringify(r)));
  }

  /** Any other message that needs an answer: kept in order, never coalesced. */
  event(msg: Pick<Message, 'route' | 'content'>): void {
    this.keep(this.outbox.append(JSON.stringify({ k: 'msg', m: { route: msg.route, content: msg.content } } satisfies Item)));
  }

  /**
   * A message of which only the newest matters (a node status, a lease, a pod's full status, a
   * query the cloud answers such as membership/detail): replaces any message of the same key still
   * waiting, keeping its place in the queue, so asking again never queues a second copy.
   */
  latest(key: string, msg: Pick<Message, 'route' | 'content'>): void {
    this.keep(this.outbox.put(`msg${KEY_SEP}${key}`, JSON.stringify({ k: 'msg', m: { route: msg.route, content: msg.content } } satisfies Item)));
  }

  /** The link is up: `send` writes one frame and says whether it could. */
  online(send: (m: Message) => boolean): void {
    this.sender = send;
    this.schedule(0);
  }

  /** The link is down: whatever was in flight goes again on the next connection. */
  offline(): void {
    this.sender = undefined;
    this.inFlight.clear();
    this.riding.clear();
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** A response or error from the cloud. True when it answered one of ours. */
  answer(msg: Message): boolean {
    const parent = msg.header.parent_msg_id;
    const f = parent ? this.inFlight.get(parent) : undefined;
    if (!f || !parent) return false;
    if (msg.route.operation === Operations.ERROR) {
      // The cloud refused it: sending it again would be refused again.
      this.log.warn({ resource: msg.route.resource, reason: msg.content }, 'edgehub: the cloud answered a report with an error; dropped from the outbox');
    }
    this.inFlight.delete(parent);
    for (const e of f.entries) this.riding.delete(`${e.id}:${e.rev}`);
    this.outbox.remove(f.entries);
    this.answered++;
    this.schedule(0);
    return true;
  }

  close(): void {
    this.offline();
  }

  private keep(kept: boolean): void {
    if (!kept) this.log.warn({ entries: this.outbox.size }, 'edgehub: outbox full; the oldest waiting entry was dropped (see edgetwin_outbox_dropped_total)');
    if (this.sender) this.schedule(0);
  }

  /** Drains in `ms`, unless a drain is already due sooner. */
  private schedule(ms: number): void {
    if (!this.sender) return;
    const due = Date.now() + ms;
    if (this.timer && this.due <= due) return;
    clearTimeout(this.timer);
    this.due = due;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.drain();
    }, ms);
  }

  private drain(): void {
    if (this.draining) return;
    this.draining = true;
    try {
      this.expire();
      while (this.sender && this.inFlight.size < this.window) {
        const batch = this.nextBatch();
        if (!batch) break;
        if (!this.bucket.take()) {
          this.schedule(Math.max(1, this.bucket.waitMs()));
          return;
        }
        const msg = batch.message;
        msg.header.msg_id = this.idOf(batch.entries);
        if (!this.sender(msg)) break;
        this.sent++;
        this.inFlight.set(msg.header.msg_id, { entries: batch.entries, sentAt: Date.now() });
        for (const e of batch.entries) this.riding.add(`${e.id}:${e.rev}`);
      }
      if (this.inFlight.size > 0) this.schedule(this.resendMs);
    } finally {
      this.draining = false;
    }
  }

  /** The same entries at the same revisions always make the same id. */
  private idOf(entries: Pick<OutboxEntry, 'id' | 'rev'>[]): string {
    const h = createHash('sha256').update(this.idSalt);
    for (const e of entries) h.update(`:${e.id}.${e.rev}`);
    const x = h.digest('hex');
    return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20, 32)}`;
  }

  /** Unanswered for too long on a live link: let those entries go again. */
  private expire(): void {
    const cutoff = Date.now() - this.resendMs;
    for (const [id, f] of this.inFlight) {
      if (f.sentAt > cutoff) continue;
      this.inFlight.delete(id);
      for (const e of f.entries) this.riding.delete(`${e.id}:${e.rev}`);
    }
  }

  /** The oldest waiting entry not in flight, and for a twin report every waiting report of its device in the window. */
  private nextBatch(): { message: Message; entries: Pick<OutboxEntry, 'id' | 'rev'>[] } | undefined {
    const ready = this.outbox.peek(this.riding.size + 64).filter((e) => !this.riding.has(`${e.id}:${e.rev}`));
    const first = ready[0];
    if (!first) return undefined;
    const r = JSON.parse(first.payload.toString('utf8')) as Item;
    if (r.k === 'state') return { message: stateMessage(r), entries: [first] };
    if (r.k === 'msg') {
      const m = newMessage(r.m.route, r.m.content);
      return { message: m, entries: [first] };
    }
    const twin: { [property: string]: MsgTwin } = { [r.p]: r.t };
    const entries: Pick<OutboxEntry, 'id' | 'rev'>[] = [first];
    for (const e of ready.slice(1)) {
      if (!e.key?.startsWith(`twin${KEY_SEP}${r.d}${KEY_SEP}`)) continue;
      const more = JSON.parse(e.payload.toString('utf8')) as Item;
      if (more.k !== 'twin' || more.d !== r.d) continue;
      twin[more.p] = more.t;
      entries.push(e);
    }
    return { message: twinMessage(r.d, twin), entries };
  }
}

/** `device/{ns}/{name}/twin/edge_updated` (edge/pkg/devicetwin/dtmanager/twin.go dealSyncResult). */
export function twinMessage(device: string, twin: { [property: string]: MsgTwin }): Message {
  return newMessage(
    { source: Sources.TWIN, group: Groups.RESOURCE, operation: Operations.UPDATE, resource: `device/${device}/twin/edge_updated` },
    { event_id: crypto.randomUUID(), timestamp: Date.now(), twin },
  );
}

/** `device/{ns}/{name}/state/update`, whose content KubeEdge sends as a JSON string (dtmanager/device.go); `error` is edgetwin's. */
function stateMessage(r: Extract<Item, { k: 'state' }>): Message {
  const name = r.d.slice(r.d.indexOf('/') + 1);
  const device: { name: string; state: string; lastOnlineTime?: string; error?: DeviceError } = { name, state: r.s };
  if (r.lo) device.lastOnlineTime = r.lo;
  // edgetwin's addition (the cloud writes it to DeviceStatus status.extensions.error).
  if (r.e) device.error = r.e;
  return newMessage(
    { source: Sources.TWIN, group: Groups.RESOURCE, operation: Operations.UPDATE, resource: `device/${r.d}/state/update` },
    JSON.stringify({ event_id: crypto.randomUUID(), timestamp: Date.now(), device }),
  );
}
