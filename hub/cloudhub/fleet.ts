// The fleet as the cloud knows it, for the fleet view: every node (connected or not, with its last
// keepalive, outbox depth and messages waiting for its ACK), the devices of each node with their
// states, and the link's health (resends, ACK latency).
//
// Devices come through DeviceStateSource, so the view does not care who knows them: without
// Kubernetes, ReportedDeviceStates reads the reports the edges sent (seeded from the report log,
// so a restarted cloud still lists them); with the controllers, a source over DeviceStatus fits
// the same interface.
import type { CloudHub } from './server.ts';

export interface FleetDevice {
  /** `namespace/name`. */
  device: string;
  /** online, offline, unhealthy, unknown ... as the edge reported it; `unknown` until it says. */
  state: string;
  /** When the cloud last heard of this device (ms since the epoch). */
  lastReport: number;
}

/** Where the fleet view learns which devices a node has and their states. */
export interface DeviceStateSource {
  /** Nodes this source knows devices of. */
  nodes(): string[];
  devices(node: string): FleetDevice[];
  /** When the source last heard from `node` (ms since the epoch), if ever. */
  lastReport(node: string): number | undefined;
}

/** A report as the report log keeps it: resource already prefixed `node/{node}/`. */
export interface DeviceReport {
  node: string;
  resource: string;
  content: unknown;
  at: number;
}

const DEVICE_RESOURCE = /^node\/[^/]+\/device\/([^/]+\/[^/]+)\/(twin\/edge_updated|state\/update)$/;

/** Device states from the edges' `device/{ns}/{name}/state/update` and `twin/edge_updated` reports. */
export class ReportedDeviceStates implements DeviceStateSource {
  private readonly byNode = new Map<string, Map<string, FleetDevice>>();
  private readonly heard = new Map<string, number>();

  constructor(history: Iterable<DeviceReport> = []) {
    for (const r of history) this.apply(r);
  }

  /** Takes one report in; returns whether it said something about a device. */
  apply(r: DeviceReport): boolean {
    this.heard.set(r.node, Math.max(this.heard.get(r.node) ?? 0, r.at));
    const m = DEVICE_RESOURCE.exec(r.resource);
    if (!m) return false;
    const id = m[1]!;
    let devices = this.byNode.get(r.node);
    if (!devices) this.byNode.set(r.node, (devices = new Map()));
    const known = devices.get(id);
    const state = m[2] === 'state/update' ? stateOf(r.content) ?? known?.state ?? 'unknown' : known?.state ?? 'unknown';
    devices.set(id, { device: id, state, lastReport: Math.max(known?.lastReport ?? 0, r.at) });
    return true;
  }

  nodes(): string[] {
    return [...this.heard.keys()];
  }

  devices(node: string): FleetDevice[] {
    return [...(this.byNode.get(node)?.values() ?? [])].sort((a, b) => a.device.localeCompare(b.device));
  }

  lastReport(node: string): number | undefined {
    return this.heard.get(node);
  }
}

/** The state in a `state/update` report: `{device: {state}}`, which KubeEdge sends as JSON text. */
function stateOf(content: unknown): string | undefined {
  let v = content;
  if (typeof v === 'string') {
    try {
      v = JSON.parse(v);
    } catch {
      return undefined;
    }
  }
  const device = v && typeof v === 'object' ? (v as { device?: { state?: unknown } }).device : undefined;
  return typeof device?.state === 'string' && device.state ? device.state : undefined;
}

export interface FleetNode {
  node: string;
  connected: boolean;
  /** The last keepalive (connected) or the last thing heard (disconnected), ms since the epoch. */
  lastSeen?: number;
  /** The edge's outbox depth as its last keepalive said. */
  outbox?: number;
  /** Messages the cloud sent this node and waits for its ACK. */
  pending: number;
  remote?: string;
  devices: FleetDevice[];
}

export interface LinkHealthSnapshot {
  connectedNodes: number;
  /** Messages sent again because no ACK came in time, since the cloud started. */
  resends: number;
  /** ACKs received since the cloud started, and their mean latency. */
  acks: number;
  ackLatencyMeanMs?: number;
  /** Messages waiting for an ACK, all nodes. */
  queueDepth: number;
}

export interface FleetSnapshot {
  at: number;
  nodes: FleetNode[];
  link: LinkHealthSnapshot;
}

export interface FleetOptions {
  hub: CloudHub;
  devices: DeviceStateSource;
  /** Nodes that joined this cloud (they are listed even before they ever connect). */
  joinedNodes?: () => string[];
}

export class Fleet {
  /** What the cloud last saw of each node while it was connected, kept when it goes away. */
  private readonly seen = new Map<string, { lastSeen: number; outbox?: number; remote?: string }>();

  constructor(private readonly opts: FleetOptions) {
    opts.hub.onConnection(() => this.remember());
  }

  async snapshot(): Promise<FleetSnapshot> {
    const { hub, devices } = this.opts;
    this.remember();
    const connected = new Set(hub.connectedNodes());
    const names = new Set([...(this.opts.joinedNodes?.() ?? []), ...devices.nodes(), ...this.seen.keys(), ...connected]);
    const nodes: FleetNode[] = [...names].sort().map((node) => {
      const seen = this.seen.get(node);
      const lastSeen = Math.max(seen?.lastSeen ?? 0, connected.has(node) ? 0 : devices.lastReport(node) ?? 0);
      return {
        node,
        connected: connected.has(node),
        ...(lastSeen > 0 ? { lastSeen } : {}),
        ...(seen?.outbox !== undefined ? { outbox: seen.outbox } : {}),
        ...(seen?.remote ? { remote: seen.remote } : {}),
        pending: hub.pending(node),
        devices: devices.devices(node),
      };
    });
    return { at: Date.now(), nodes, link: await this.link(connected.size) };
  }

  private remember(): void {
    for (const s of this.opts.hub.nodeStatus()) {
      this.seen.set(s.node, { lastSeen: s.lastKeepalive.getTime(), ...(s.outbox === undefined ? {} : { outbox: s.outbox }), remote: s.remote });
    }
  }

  private async link(connectedNodes: number): Promise<LinkHealthSnapshot> {
    const m = this.opts.hub.metrics;
    const [resends, latency, depth] = await Promise.all([m.resends.get(), m.ackLatency.get(), m.queueDepth.get()]);
    const pick = (name: string) => latency.values.find((v) => v.metricName === name)?.value ?? 0;
    const acks = pick('edgetwin_cloudhub_ack_latency_seconds_count');
    const sum = pick('edgetwin_cloudhub_ack_latency_seconds_sum');
    return {
      connectedNodes,
      resends: resends.values[0]?.value ?? 0,
      acks,
      ...(acks > 0 ? { ackLatencyMeanMs: (sum / acks) * 1000 } : {}),
      queueDepth: depth.values[0]?.value ?? 0,
    };
  }
}
