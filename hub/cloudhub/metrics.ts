// CloudHub's Prometheus metrics (`edgetwin_cloudhub_*`), on the cloud's own registry.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { Operations } from '../message/index.ts';

export interface NodeGauges {
  /** Per connected node: the edge's outbox depth it last reported, and its last keepalive. */
  sessions(): Iterable<{ node: string; outbox?: number; lastKeepaliveMs: number }>;
  connectedCount(): number;
  queueDepth(): number;
}

export type CloudHubMetrics = ReturnType<typeof createCloudHubMetrics>;

export function createCloudHubMetrics(registry: Registry, gauges: NodeGauges) {
  const registers = [registry];
  return {
    connected: new Gauge({
      name: 'edgetwin_cloudhub_connected_nodes', help: 'Nodes with a live session', registers,
      collect() { this.set(gauges.connectedCount()); },
    }),
    queueDepth: new Gauge({
      name: 'edgetwin_cloudhub_queue_depth', help: 'Messages waiting for a node\'s ACK, all nodes', registers,
      collect() { this.set(gauges.queueDepth()); },
    }),
    edgeOutbox: new Gauge({
      name: 'edgetwin_cloudhub_edge_outbox_depth', help: 'Messages in a connected node\'s outbox, as its last keepalive said', labelNames: ['node'], registers,
      collect() {
        this.reset();
        for (const s of gauges.sessions()) if (s.outbox !== undefined) this.set({ node: s.node }, s.outbox);
      },
    }),
    lastKeepalive: new Gauge({
      name: 'edgetwin_cloudhub_last_keepalive_seconds', help: 'Unix time of a connected node\'s last keepalive', labelNames: ['node'], registers,
      collect() {
        this.reset();
        for (const s of gauges.sessions()) this.set({ node: s.node }, s.lastKeepaliveMs / 1000);
      },
    }),
    messagesIn: scrapedCounter(registers, 'edgetwin_cloudhub_messages_in_total', 'Frames received from nodes, by operation', 'operation'),
    messagesOut: scrapedCounter(registers, 'edgetwin_cloudhub_messages_out_total', 'Frames sent to nodes, by operation (resends included)', 'operation'),
    resends: new Counter({ name: 'edgetwin_cloudhub_resends_total', help: 'Messages sent again because no ACK came in time', registers }),
    ackLatency: new Histogram({
      name: 'edgetwin_cloudhub_ack_latency_seconds', help: 'From a message\'s first send to the node\'s ACK', registers,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    }),
    framesRefused: new Counter({ name: 'edgetwin_cloudhub_frames_refused_total', help: 'Frames answered with an error: not JSON, over the size limit, not an envelope, unknown operation', labelNames: ['reason'], registers }),
    acksIgnored: new Counter({ name: 'edgetwin_cloudhub_acks_ignored_total', help: 'ACKs whose parent_msg_id is not a pending message of the sending node', registers }),
    connectionsRefused: new Counter({ name: 'edgetwin_cloudhub_connections_refused_total', help: 'WebSocket connections refused, by reason', labelNames: ['reason'], registers }),
    sessionsDropped: new Counter({ name: 'edgetwin_cloudhub_sessions_dropped_total', help: 'Sessions the cloud ended, by reason', labelNames: ['reason'], registers }),
    stored: scrapedCounter(registers, 'edgetwin_cloudhub_upstream_stored_total', 'Edge messages the consumer stored and the cloud answered OK'),
  };
}

/**
 * A counter bumped for every message of every node: counted in a plain number on the hot path
 * and handed to prom-client only when /metrics is scraped. prom-client's inc() hashes the label
 * set and checks the value each time, several microseconds per message at 10,000 messages a
 * second. `add` takes the label value (bounded: unknown operations are counted as `other`).
 */
export function scrapedCounter(registers: Registry[], name: string, help: string, labelName?: string): { counter: Counter<string>; add: (label?: string) => void } {
  const counts = new Map<string, number>();
  const reported = new Map<string, number>();
  const counter = new Counter<string>({
    name, help, registers, labelNames: labelName ? [labelName] : [],
    collect() {
      for (const [label, n] of counts) {
        const d = n - (reported.get(label) ?? 0);
        if (d <= 0) continue;
        if (labelName) this.inc({ [labelName]: label }, d);
        else this.inc(d);
        reported.set(label, n);
      }
    },
  });
  return { counter, add: (label = '') => { counts.set(label, (counts.get(label) ?? 0) + 1); } };
}

/** Operations as metric labels: HTTP methods and KubeEdge's names, anything else as `other`, so a client cannot grow the label set. */
const KNOWN_OPERATIONS = new Set<string>([...Object.values(Operations), 'GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS', 'start', 'stop']);
export function metricOperation(op: string): string {
  return KNOWN_OPERATIONS.has(op) ? op : 'other';
}
