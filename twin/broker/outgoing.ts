// A bounded outgoing queue per MQTT client, so one slow subscriber cannot hurt the others.
//
// Why aedes freezes without it: every publish is an mqemitter emit, and the emit completes only
// when each matching subscriber's delivery callback has run. aedes calls that callback after the
// packet is written to the client's socket, or, when the socket's buffer is full, after the socket
// drains. A client that stopped reading never drains, so each publish that reaches it stays in
// flight; once `concurrency` (100) emits are in flight, mqemitter queues every further publish,
// from every client and from the gateway itself, behind them: the whole broker stops. When aedes'
// drain timeout (60 s) finally drops the client, that queue drains recursively and can overflow the
// stack, ending the gateway (twin/broker.ts therefore also sets no concurrency cap).
//
// Here each delivery is handed to the client's own queue (Node's socket buffer, accounted by
// bytes and messages until the socket takes them) and the emit is released at once. A client
// whose queue would exceed its bound is disconnected; the message that did not fit, and any that
// arrive while it closes, are dropped for that client alone and counted.

import type { Client } from 'aedes';

export interface QueueLimits {
  maxBytes: number;
  maxMessages: number;
}

export interface QueueEvents {
  /** A message not delivered to this client because its queue was full. */
  dropped(client: Client): void;
  /** The client was disconnected for a full queue (called once per client). */
  slow(client: Client, queued: { bytes: number; messages: number }): void;
}

type Deliver = (packet: OutgoingPacket, done: () => void) => void;
interface OutgoingPacket {
  topic: string;
  payload: Buffer | string;
  qos: number;
}
interface DeliveringClient {
  deliver0: Deliver;
  deliverQoS: Deliver;
  conn: { destroy(): void };
}

/** Replaces the client's delivery functions; aedes reads them when the client subscribes. */
export function boundOutgoingQueue(client: Client, limits: QueueLimits, events: QueueEvents): void {
  const c = client as unknown as DeliveringClient;
  const deliver0 = c.deliver0;
  const deliverQoS = c.deliverQoS;
  let bytes = 0;
  let messages = 0;
  let overflowed = false;

  const enqueue = (write: Deliver, packet: OutgoingPacket, done: () => void) => {
    // Released now: the emit never waits for this client's socket. A tick, not a synchronous call, so
    // that mqemitter never recurses into its next queued message from inside this one.
    process.nextTick(done);
    const size = sizeOf(packet);
    if (overflowed || bytes + size > limits.maxBytes || messages + 1 > limits.maxMessages) {
      events.dropped(client);
      if (!overflowed) {
        overflowed = true;
        events.slow(client, { bytes, messages });
        c.conn.destroy();
      }
      return;
    }
    bytes += size;
    messages++;
    // aedes calls back once the socket took the packet (at once, or after it drained).
    write(packet, () => {
      bytes -= size;
      messages--;
    });
  };
  c.deliver0 = (packet, done) => enqueue(deliver0, packet, done);
  // A QoS 0 publish reaching a QoS 1/2 subscription goes through deliver0 inside aedes: count it there only.
  c.deliverQoS = (packet, done) => (packet.qos === 0 ? c.deliver0(packet, done) : enqueue(deliverQoS, packet, done));
}

/** Bytes on the wire, near enough: fixed header, topic and payload. */
function sizeOf(packet: OutgoingPacket): number {
  const payload = typeof packet.payload === 'string' ? Buffer.byteLength(packet.payload) : packet.payload?.length ?? 0;
  return 7 + Buffer.byteLength(packet.topic) + payload;
}
