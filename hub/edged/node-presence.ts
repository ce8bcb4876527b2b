// Node presence: the gateway as a Kubernetes Node. Registers the Node once per start, sends its
// status as a strategic-merge patch of the status subresource when it changed (checked every
// 10 s) and at least every 5 min, and renews its Lease every 10 s: KubeEdge's edged messages
// (`default/node/{n}` insert, `default/nodepatch/{n}` patch, `kube-node-lease/lease/{n}` update)
// through whatever carries them up (the cloud link's outbox, which keeps only the newest status
// and lease while offline). Works without edged: a devices-only gateway is a Node too, without
// the container runtime's condition, version and images.

import { readFileSync, statfsSync } from 'node:fs';
import { arch, cpus, freemem, hostname, networkInterfaces, release, totalmem } from 'node:os';
import type { Logger } from '../../core/log.ts';
import type { RuntimeView } from './source.ts';

/** What edged reports of its runtime, for the node status (absent on a devices-only gateway). */
export interface RuntimeFacts {
  view(): RuntimeView;
  images(): Promise<Array<{ names: string[]; sizeBytes: number }>>;
}

/** Carries a message up; a later message with the same key replaces one still waiting. */
export interface PresenceUplink {
  latest(key: string, msg: { route: { source: string; group: string; operation: string; resource: string }; content: unknown }): void;
}

export interface NodePresenceOptions {
  nodeName: string;
  /** edgetwin's version, shown in nodeInfo.kubeletVersion as `v1.32.10-edgetwin-{version}`. */
  version: string;
  uplink: PresenceUplink;
  log: Logger;
  /** The data directory: DiskPressure looks at its file system. */
  dataDir: string;
  /** The address pods and the cloud see for this gateway. */
  address: string;
  runtime?: RuntimeFacts;
  /** How often the status is computed and sent when it changed (kubelet: nodeStatusUpdateFrequency 10 s). */
  statusIntervalMs?: number;
  /** The longest time between two status patches (kubelet: nodeStatusReportFrequency 5 min). */
  reportIntervalMs?: number;
  /** How often the Lease is renewed (10 s). */
  leaseIntervalMs?: number;
  /** leaseDurationSeconds in the Lease (KubeEdge: 40). */
  leaseDurationSeconds?: number;
  /** Labels of the Node besides the edge role and the OS/arch labels. */
  labels?: Record<string, string>;
}

export const EDGE_ROLE_LABEL = 'node-role.kubernetes.io/edge';
/** The condition saying whether containerd answers (a gateway without it still serves its devices). */
export const RUNTIME_CONDITION = 'ContainerRuntimeReachable';
const KUBE_VERSION = 'v1.32.10';
const MAX_PODS = 110;
/** kubelet's hard eviction defaults: memory.available < 100Mi, nodefs.available < 10%. */
const MEMORY_PRESSURE_BYTES = 100 * 1024 * 1024;
const DISK_PRESSURE_FRACTION = 0.1;

export interface NodeCondition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  lastHeartbeatTime?: string;
  lastTransitionTime?: string;
}

export interface NodeStatusBody {
  capacity: Record<string, string>;
  allocatable: Record<string, string>;
  conditions: NodeCondition[];
  addresses: Array<{ type: string; address: string }>;
  nodeInfo: Record<string, string>;
  images: Array<{ names: string[]; sizeBytes: number }>;
  daemonEndpoints: { kubeletEndpoint: { Port: number } };
}

/** The address pods, probes and the cloud see for this host: its first non-internal IPv4 address. */
export function hostAddress(): string {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return '127.0.0.1';
}

/** Kubernetes' GOARCH names for Node.js' process.arch. */
export function goArch(a: string = arch()): string {
  return ({ x64: 'amd64', ia32: '386', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' } as Record<string, string>)[a] ?? a;
}

function readTrimmed(file: string): string {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    return '';
  }
}

function osImage(): string {
  const m = /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(readTrimmed('/etc/os-release'));
  return m?.[1] ?? 'Linux';
}

export class NodePresence {
  private readonly o: Required<Omit<NodePresenceOptions, 'runtime' | 'labels'>> & Pick<NodePresenceOptions, 'runtime' | 'labels'>;
  private statusTimer: NodeJS.Timeout | undefined;
  private leaseTimer: NodeJS.Timeout | undefined;
  /** The last status sent, without heartbeat times, to tell a change from a heartbeat. */
  private lastSent = '';
  private lastSentAt = 0;
  private readonly transitions = new Map<string, { status: string; at: string }>();
  private computing = false;
  private stopped = false;

  constructor(opts: NodePresenceOptions) {
    this.o = {
      statusIntervalMs: 10_000,
      reportIntervalMs: 5 * 60_000,
      leaseIntervalMs: 10_000,
      leaseDurationSeconds: 40,
      ...opts,
    };
  }

  /** Registers the node, then keeps status and lease going. */
  async start(): Promise<void> {
    const status = await this.status();
    this.o.uplink.latest('node/register', {
      route: { source: 'edged', group: 'meta', operation: 'insert', resource: `default/node/${this.o.nodeName}` },
      content: this.node(status),
    });
    this.sendStatus(status, true);
    this.renewLease();
    this.statusTimer = setInterval(() => void this.tick(), this.o.statusIntervalMs);
    this.leaseTimer = setInterval(() => this.renewLease(), this.o.leaseIntervalMs);
    this.statusTimer.unref();
    this.leaseTimer.unref();
  }

  /**
   * Sends the status and lease now, changed or not: after a reconnect the cluster may have marked
   * the node NotReady while it was away, and bringing it back is the node's job.
   */
  refresh(): void {
    this.lastSentAt = 0;
    this.renewLease();
    void this.tick();
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.statusTimer);
    clearInterval(this.leaseTimer);
  }

  /** The Node object a register sends. */
  node(status: NodeStatusBody): Record<string, unknown> {
    return {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: {
        name: this.o.nodeName,
        labels: {
          ...this.o.labels,
          [EDGE_ROLE_LABEL]: '',
          'kubernetes.io/hostname': this.o.nodeName,
          'kubernetes.io/os': 'linux',
          'kubernetes.io/arch': goArch(),
        },
      },
      spec: {},
      status,
    };
  }

  /** What the node looks like now. */
  async status(now = new Date()): Promise<NodeStatusBody> {
    const at = now.toISOString().replace(/\.\d+Z$/, 'Z');
    const runtime = this.o.runtime?.view();
    const memFree = freemem();
    let diskFree = 1;
    let diskMessage = 'the data directory\'s file system has room';
    try {
      const fs = statfsSync(this.o.dataDir);
      diskFree = fs.blocks > 0 ? fs.bavail / fs.blocks : 1;
      diskMessage = `${Math.round(diskFree * 100)}% of the data directory's file system is free`;
    } catch (err) {
      diskMessage = `cannot read the data directory's file system: ${(err as Error).message}`;
    }
    const conditions: NodeCondition[] = [
      this.condition('MemoryPressure', memFree < MEMORY_PRESSURE_BYTES, memFree < MEMORY_PRESSURE_BYTES ? 'KubeletHasInsufficientMemory' : 'KubeletHasSufficientMemory', `${Math.round(memFree / 1048576)} MiB of memory available`, at),
      this.condition('DiskPressure', diskFree < DISK_PRESSURE_FRACTION, diskFree < DISK_PRESSURE_FRACTION ? 'KubeletHasDiskPressure' : 'KubeletHasNoDiskPressure', diskMessage, at),
      this.condition('PIDPressure', false, 'KubeletHasSufficientPID', 'kubelet has sufficient PID available', at),
      // The gateway serves its devices without containerd: it stays Ready, and says what is missing.
      this.condition('Ready', true, 'KubeletReady', runtime ? 'edgetwin is posting ready status' : 'edgetwin is posting ready status (devices only: edged is off)', at),
    ];
    if (runtime) {
      conditions.push(this.condition(RUNTIME_CONDITION, runtime.reachable, runtime.reachable ? 'RuntimeReachable' : 'RuntimeUnreachable',
        runtime.reachable ? `containerd answers at ${runtime.endpoint}` : `containerd does not answer at ${runtime.endpoint}: ${runtime.message ?? 'unknown reason'}; pods wait for it`, at));
    }
    let images: NodeStatusBody['images'] = [];
    if (runtime?.reachable) images = await this.o.runtime!.images().catch(() => []);
    const cpu = String(cpus().length || 1);
    const memory = `${Math.floor(totalmem() / 1024)}Ki`;
    return {
      capacity: { cpu, memory, pods: String(MAX_PODS) },
      allocatable: { cpu, memory, pods: String(MAX_PODS) },
      conditions,
      addresses: [{ type: 'InternalIP', address: this.o.address }, { type: 'Hostname', address: hostname() }],
      nodeInfo: {
        machineID: readTrimmed('/etc/machine-id'),
        systemUUID: readTrimmed('/sys/class/dmi/id/product_uuid'),
        bootID: readTrimmed('/proc/sys/kernel/random/boot_id'),
        kernelVersion: release(),
        osImage: osImage(),
        containerRuntimeVersion: runtime?.reachable && runtime.runtimeName ? `${runtime.runtimeName}://${runtime.runtimeVersion ?? ''}` : '',
        kubeletVersion: `${KUBE_VERSION}-edgetwin-${this.o.version}`,
        kubeProxyVersion: '',
        operatingSystem: 'linux',
        architecture: goArch(),
      },
      images,
      daemonEndpoints: { kubeletEndpoint: { Port: 0 } },
    };
  }

  private condition(type: string, isTrue: boolean, reason: string, message: string, at: string): NodeCondition {
    const status = isTrue ? 'True' : 'False';
    const prev = this.transitions.get(type);
    if (!prev || prev.status !== status) this.transitions.set(type, { status, at });
    return { type, status, reason, message, lastHeartbeatTime: at, lastTransitionTime: this.transitions.get(type)!.at };
  }

  private async tick(): Promise<void> {
    if (this.computing || this.stopped) return;
    this.computing = true;
    try {
      const status = await this.status();
      if (!this.stopped) this.sendStatus(status, false);
    } catch (err) {
      this.o.log.warn({ err }, 'node status: cannot compute it; trying again');
    } finally {
      this.computing = false;
    }
  }

  /** Sends the status when it changed (heartbeat times and free memory aside) or the report interval ran out. */
  private sendStatus(status: NodeStatusBody, force: boolean): void {
    const shape = JSON.stringify({ ...status, conditions: status.conditions.map((c) => ({ type: c.type, status: c.status, reason: c.reason })) });
    const due = Date.now() - this.lastSentAt >= this.o.reportIntervalMs;
    if (!force && !due && shape === this.lastSent) return;
    this.lastSent = shape;
    this.lastSentAt = Date.now();
    // A strategic-merge patch as text, as KubeEdge's edged sends it; conditions merge by type.
    this.o.uplink.latest('node/status', {
      route: { source: 'edged', group: 'meta', operation: 'patch', resource: `default/nodepatch/${this.o.nodeName}` },
      content: JSON.stringify({ status }),
    });
  }

  private renewLease(): void {
    if (this.stopped) return;
    // MicroTime: RFC 3339 with microseconds.
    const renewTime = new Date().toISOString().replace(/Z$/, '000Z');
    this.o.uplink.latest('node/lease', {
      route: { source: 'edged', group: 'meta', operation: 'update', resource: `kube-node-lease/lease/${this.o.nodeName}` },
      content: {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name: this.o.nodeName, namespace: 'kube-node-lease' },
        spec: { holderIdentity: this.o.nodeName, leaseDurationSeconds: this.o.leaseDurationSeconds, renewTime },
      },
    });
  }
}
