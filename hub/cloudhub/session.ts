// A node's session on CloudHub: what the cloud keeps of a live connection, and what the edge's
// keepalives tell of it.
import type { WebSocket } from 'ws';

export interface Session {
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
export const IDLE: Promise<void> = Promise.resolve();

/** The edge's outbox depth from a keepalive: `{"outbox": n}` as JSON text or object; "ping" has none. */
export function outboxOf(content: unknown): number | undefined {
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
