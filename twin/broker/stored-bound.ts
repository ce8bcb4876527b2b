// Bounds what the embedded broker stores for QoS 1/2 subscribers of persistent sessions.
//
// aedes keeps, per client id, every QoS 1/2 message of a persistent session (clean: false) until
// the client acknowledges it: while the client is offline, and while it is online but slow to
// PUBACK. Its in-memory store has no bound, so one client that subscribes to '#' with QoS 1 and
// goes away, or many client ids doing so, grow the gateway's memory with every twin update until
// it is killed. Here each client id may hold at most `perClient` stored messages, and all of them
// together at most `totalBytes` of payload; a message beyond either bound is not stored for that
// client (it is still delivered live to an online client, at most once), and counted.

import type { Aedes } from 'aedes';

export interface StoredLimits {
  /** Stored messages one client id may hold. */
  perClient: number;
  /** Payload bytes all stored messages together may hold. */
  totalBytes: number;
}

interface Sub { clientId: string }
interface StoredPacket { payload?: Buffer | string }
interface Persistence {
  outgoingEnqueue(sub: Sub, packet: StoredPacket): Promise<void>;
  outgoingEnqueueCombi(subs: Sub[], packet: StoredPacket): Promise<void>;
  outgoingClearMessageId(client: { id: string }, packet: unknown): Promise<StoredPacket | undefined>;
}

const sizeOf = (p: StoredPacket | undefined): number => (p?.payload === undefined ? 0 : typeof p.payload === 'string' ? Buffer.byteLength(p.payload) : p.payload.length);

export class StoredMessages {
  private readonly held = new Map<string, { count: number; bytes: number }>();
  private total = 0;

  constructor(private readonly limits: StoredLimits) {}

  /** Whether a message of `bytes` may be stored for `clientId`; if so it is counted. */
  admit(clientId: string, bytes: number): 'ok' | 'client_limit' | 'total_limit' {
    const h = this.held.get(clientId);
    if ((h?.count ?? 0) >= this.limits.perClient) return 'client_limit';
    if (this.total + bytes > this.limits.totalBytes) return 'total_limit';
    if (h) {
      h.count++;
      h.bytes += bytes;
    } else this.held.set(clientId, { count: 1, bytes });
    this.total += bytes;
    return 'ok';
  }

  /** A stored message left the store (acknowledged, or dropped by a clean reconnect). */
  release(clientId: string, bytes: number): void {
    const h = this.held.get(clientId);
    if (!h) return;
    h.count--;
    h.bytes -= bytes;
    this.total -= bytes;
    if (h.count <= 0) {
      this.total -= h.bytes; // whatever rounding is left with the last message
      this.held.delete(clientId);
    }
  }

  get totalBytes(): number {
    return this.total;
  }

  count(clientId: string): number {
    return this.held.get(clientId)?.count ?? 0;
  }
}

/** Wraps aedes' persistence so stored messages stay within `limits`; `refused` hears each one left out. */
export function boundStoredMessages(aedes: Aedes, limits: StoredLimits, refused: (clientId: string, reason: 'client_limit' | 'total_limit') => void): StoredMessages {
  const persistence = (aedes as unknown as { persistence: Persistence }).persistence;
  if (typeof persistence.outgoingEnqueueCombi !== 'function' || typeof persistence.outgoingClearMessageId !== 'function') {
    throw new Error('aedes changed: its persistence has no outgoingEnqueueCombi/outgoingClearMessageId to bound (see twin/broker/stored-bound.ts)');
  }
  const stored = new StoredMessages(limits);
  const enqueue = persistence.outgoingEnqueue.bind(persistence);
  const enqueueCombi = persistence.outgoingEnqueueCombi.bind(persistence);
  const clear = persistence.outgoingClearMessageId.bind(persistence);
  const admitted = (sub: Sub, bytes: number): boolean => {
    const verdict = stored.admit(sub.clientId, bytes);
    if (verdict === 'ok') return true;
    refused(sub.clientId, verdict);
    return false;
  };
  persistence.outgoingEnqueue = async (sub, packet) => {
    if (admitted(sub, sizeOf(packet))) await enqueue(sub, packet);
  };
  persistence.outgoingEnqueueCombi = async (subs, packet) => {
    const bytes = sizeOf(packet);
    const kept = subs.filter((s) => admitted(s, bytes));
    if (kept.length > 0) await enqueueCombi(kept, packet);
  };
  persistence.outgoingClearMessageId = async (client, packet) => {
    const removed = await clear(client, packet);
    if (removed) stored.release(client.id, sizeOf(removed));
    return removed;
  };
  return stored;
}
