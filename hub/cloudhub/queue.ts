// Reliable delivery to one node. A message that needs an ACK (KubeEdge's classification) is kept
// per object until the node answers it, resent every resendInterval for the first tries and then
// with exponential backoff, and recorded in the AckRecordStore once answered. An object has at
// most one message in flight: a newer version replaces an older pending one, so the node sees
// each object's versions in order and never an older after a newer. Deletes are always delivered.
import {
  isDelete, isNewer, needsAck, objectKey, trimNode, type Message,
} from '../message/index.ts';
import type { AckRecordStore, ObjectRef } from './ack-store.ts';

export interface QueueOptions {
  /** Time between the first resends (KubeEdge: 5 s). */
  resendIntervalMs: number;
  /** Resends at resendInterval before the backoff starts doubling it (KubeEdge retries 4 times). */
  retriesAtInterval: number;
  /** The longest wait between two resends. */
  maxResendIntervalMs: number;
}

export const DEFAULT_QUEUE_OPTIONS: QueueOptions = { resendIntervalMs: 5000, retriesAtInterval: 4, maxResendIntervalMs: 60_000 };

export type Offer =
  | 'queued' // kept until ACKed (sent now if the node is connected)
  | 'sent' // a NO-ACK message, written once
  | 'not-connected' // a NO-ACK message for a node that has no session: dropped, as KubeEdge does
  | 'stale' // the node already acknowledged this version or a newer one
  | 'older-than-pending' // a newer version of the object is already on its way
  | 'no-version'; // an ACK message without a resourceVersion that is not a delete (KubeEdge drops these too)

export interface QueueHooks {
  /** Writes a frame to the node's session; false when there is none. */
  write(frame: string, operation: string): boolean;
  onResend?(): void;
  /** The time from the first send of a message to its ACK. */
  onAcked?(latencyMs: number): void;
  onDepthChange?(delta: number): void;
}

interface Pending {
  key: string;
  id: string;
  operation: string;
  rv?: string;
  delete: boolean;
  object?: ObjectRef;
  frame: string;
  sends: number;
  firstSentAt?: number;
  nextAt: number;
  /** Its ACK being recorded. */
  acking?: Promise<boolean>;
}

export class NodeQueue {
  private readonly byKey = new Map<string, Pending>();
  private readonly byId = new Map<string, Pending>();
  /** Offers run one at a time, so a version check and its effect are never interleaved. */
  private chain: Promise<unknown> = Promise.resolve();
  /**
   * The ACK record being written, per object. ACKs of different objects are recorded at once (with
   * ObjectSync each record is an API write, and 20 of them one after another held up everything
   * behind them); ACKs of one object are recorded in the order they came, so an older version's
   * record never lands after a newer one's.
   */
  private readonly recording = new Map<string, Promise<unknown>>();

  constructor(
    readonly node: string,
    private readonly store: AckRecordStore,
    private readonly opts: QueueOptions,
    private readonly hooks: QueueHooks,
  ) {}

  get depth(): number {
    return this.byKey.size;
  }

  /** True when `id` is a message of this node still waiting for its ACK. */
  isPending(id: string): boolean {
    return this.byId.has(id);
  }

  offer(msg: Message): Promise<Offer> {
    return this.serial(() => this.doOffer(msg));
  }

  /** Applies the node's ACK of message `parentId`; false when it is not one of this node's pending messages. */
  ack(parentId: string): Promise<boolean> {
    const entry = this.byId.get(parentId);
    if (!entry) return Promise.resolve(false);
    // The node answered a resend too: one record is enough.
    if (entry.acking) return entry.acking;
    const before = this.recording.get(entry.key) ?? Promise.resolve();
    const done = before.then(() => this.doAck(entry));
    const acking = (entry.acking = done.catch((err: unknown) => {
      // Not recorded: the entry stays pending, is sent again, and the node's next ACK tries again.
      entry.acking = undefined;
      throw err;
    }));
    const tail = acking.catch(() => undefined);
    this.recording.set(entry.key, tail);
    void tail.then(() => {
      if (this.recording.get(entry.key) === tail) this.recording.delete(entry.key);
    });
    return acking;
  }

  /** Sends what is due: everything unsent on a new session, and resends whose time has come. */
  flush(now = Date.now(), everything = false): void {
    for (const p of this.byKey.values()) {
      if (everything || p.nextAt <= now) this.transmit(p, now);
    }
  }

  private async doOffer(msg: Message): Promise<Offer> {
    const wire = toWire(this.node, msg);
    if (!needsAck(msg)) return this.hooks.write(JSON.stringify(wire), wire.route.operation) ? 'sent' : 'not-connected';
    const del = isDelete(msg);
    const rv = resourceVersionOf(msg);
    if (!del && rv === undefined) return 'no-version';
    if (rv !== undefined) wire.header.resourceversion = rv;
    const key = objectKey(msg);
    const pending = this.byKey.get(key);
    if (pending) {
      if (pending.delete && !del) return 'older-than-pending';
      if (!del && !isNewer(rv, pending.rv)) return 'older-than-pending';
    } else if (!del) {
      const acked = await this.store.get(this.node, key);
      // After a delete, the same version may come again: an object can leave a node and return
      // unchanged (a DeviceModel whose last device there went, then a new device that uses it).
      // Only an older version than the delete's stays out, so nothing deleted comes back from the past.
      const returning = acked?.deleted === true && rv === acked.resourceVersion;
      if (acked && !returning && !isNewer(rv, acked.resourceVersion)) return 'stale';
    }
    if (pending) this.remove(pending);
    const entry: Pending = { key, id: wire.header.msg_id, operation: wire.route.operation, delete: del, frame: JSON.stringify(wire), sends: 0, nextAt: 0 };
    if (rv !== undefined) entry.rv = rv;
    const object = objectRefOf(msg);
    if (object) entry.object = object;
    this.byKey.set(key, entry);
    this.byId.set(entry.id, entry);
    this.hooks.onDepthChange?.(1);
    this.transmit(entry, Date.now());
    return 'queued';
  }

  private async doAck(entry: Pending): Promise<boolean> {
    // Recorded before the message leaves the queue: a crash in between resends, never forgets.
    await this.store.put(this.node, entry.key, {
      deleted: entry.delete,
      ...(entry.rv === undefined ? {} : { resourceVersion: entry.rv }),
      ...(entry.object ? { object: entry.object } : {}),
    });
    if (this.byKey.get(entry.key) === entry) this.remove(entry);
    if (entry.firstSentAt !== undefined) this.hooks.onAcked?.(Date.now() - entry.firstSentAt);
    return true;
  }

  private transmit(p: Pending, now: number): void {
    if (!this.hooks.write(p.frame, p.operation)) return;
    if (p.sends > 0) this.hooks.onResend?.();
    p.sends++;
    p.firstSentAt ??= now;
    p.nextAt = now + this.delayAfter(p.sends);
  }

  private delayAfter(sends: number): number {
    const { resendIntervalMs, retriesAtInterval, maxResendIntervalMs } = this.opts;
    if (sends <= retriesAtInterval) return resendIntervalMs;
    return Math.min(maxResendIntervalMs, resendIntervalMs * 2 ** Math.min(30, sends - retriesAtInterval));
  }

  private remove(p: Pending): void {
    this.byKey.delete(p.key);
    this.byId.delete(p.id);
    this.hooks.onDepthChange?.(-1);
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.chain.then(fn, fn);
    this.chain = next.catch(() => undefined);
    return next;
  }
}

/** The version a message carries: its header's, else its object's metadata.resourceVersion. */
export function resourceVersionOf(msg: Message): string | undefined {
  if (msg.header.resourceversion) return msg.header.resourceversion;
  const content = msg.content as { metadata?: { resourceVersion?: unknown } } | null;
  const rv = content && typeof content === 'object' ? content.metadata?.resourceVersion : undefined;
  return typeof rv === 'string' && rv ? rv : undefined;
}

/** The object a message carries (apiVersion, kind, metadata.namespace/name), if it carries one. */
export function objectRefOf(msg: Message): ObjectRef | undefined {
  const c = msg.content as { apiVersion?: unknown; kind?: unknown; metadata?: { namespace?: unknown; name?: unknown } } | null;
  if (!c || typeof c !== 'object' || !c.metadata || typeof c.metadata !== 'object') return undefined;
  const ref: ObjectRef = {};
  if (typeof c.apiVersion === 'string') ref.apiVersion = c.apiVersion;
  if (typeof c.kind === 'string') ref.kind = c.kind;
  if (typeof c.metadata.namespace === 'string' && c.metadata.namespace) ref.namespace = c.metadata.namespace;
  if (typeof c.metadata.name === 'string') ref.name = c.metadata.name;
  return ref;
}

/** The frame as the node sees it: a copy whose resource has `node/{node}/` trimmed. */
function toWire(node: string, msg: Message): Message {
  const trimmed = trimNode(msg.route.resource);
  if (!trimmed || trimmed.node !== node) {
    throw new Error(`message ${msg.header.msg_id} addresses "${msg.route.resource}", not node/${node}/...: a message for a node names it in its resource`);
  }
  return { header: { ...msg.header }, route: { ...msg.route, resource: trimmed.resource }, content: msg.content };
}
