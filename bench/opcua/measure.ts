// bench/opcua: N monitored items changing every period on node-opcua servers (each its own
// process, each change stamped with its source timestamp; the items split evenly across them). Two
// subscribers, one after the other against the same servers, with the same sampling and publishing
// intervals and queue size:
//  - the floor: a bare node-opcua client subscription (ClientMonitoredItemGroup), counting values;
//  - edgetwin: the OPC UA driver under the mapper runtime, counting readings at the ReadingSink,
//    which is where values reach the twin.
// Each side reports values/s, latency (p50, p99) from the value's source timestamp and from the
// arrival of the publish response that carried it, its own CPU per 1,000 values and the servers'
// CPU (% of one core each) in the same window, so a side limited by its servers shows.
//
// Why two latencies: a sampled item's source-to-arrival time is set mostly by where the server's
// sampling and publishing timers fall against its change timer, a phase fixed by chance when the
// subscription is created (within one run p50 and p99 differ by a few ms, from run to run they move
// by up to a publishing interval). From the publish response's arrival on (node-opcua's
// 'received_notifications', before it hands out the values), the time is the subscriber's own:
// node-opcua's dispatch, and in edgetwin's case the driver and the runtime up to the sink. (The
// server's publishTime would include the transport, but node-opcua's test server's arrives as 1601.)

import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AttributeIds, ClientMonitoredItemGroup, OPCUAClient, TimestampsToReturn, type ClientSession, type ClientSubscription, type DataValue } from 'node-opcua-client';
import { silentLogger } from '../../core/log.ts';
import type { Reading, ReadingSink } from '../../core/reading.ts';
import { makeDevice } from '../../mappers/sdk/conformance/harness.ts';
import { MapperHost } from '../../mappers/sdk/host.ts';
import { LinkRegistry } from '../../mappers/sdk/links.ts';
import { certificateManager } from '../../mappers/opcua/client.ts';
import { opcuaLoader } from '../../mappers/opcua/index.ts';

export interface SideResult {
  values: number;
  seconds: number;
  valuesPerSec: number;
  p50Ms: number;
  p99Ms: number;
  /** Latency from the arrival of the publish response that carried the value. */
  arrivalP50Ms: number;
  arrivalP99Ms: number;
  /** CPU (user + system) of the subscribing process per 1,000 values received. */
  cpuMsPer1000: number;
  /** Each server's CPU in the window, % of one core. */
  serverCpuPct: number[];
}

export interface BenchSettings {
  /** The servers; each serves items / urls.length of the bench items. */
  urls: string[];
  /** The servers' process ids, for their CPU. */
  serverPids: number[];
  items: number;
  periodMs: number;
  queueSize: number;
  warmupMs: number;
  measureMs: number;
  dataDir: string;
}

/** CPU seconds (user + system) a process has used, from /proc. */
function cpuSecondsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

/** Counts values and latencies inside the measurement window only, and the CPU spent in it. */
class Window {
  #start = 0;
  #end = 0;
  #cpu0 = process.cpuUsage();
  #servers0: number[] = [];
  #cpuMs = 0;
  #serverCpuPct: number[] = [];
  readonly latencies: number[] = [];
  readonly arrivalLatencies: number[] = [];
  /** When the latest publish response with data arrived: its values are delivered before the next one is read. */
  #arrivedAt = NaN;

  constructor(private readonly serverPids: number[]) {}

  open(measureMs: number): void {
    this.#start = Date.now();
    this.#end = this.#start + measureMs;
    this.#cpu0 = process.cpuUsage();
    this.#servers0 = this.serverPids.map(cpuSecondsOf);
  }

  /** Ends the CPU count (the value count ends at its deadline on its own). */
  close(): void {
    const cpu = process.cpuUsage(this.#cpu0);
    this.#cpuMs = (cpu.user + cpu.system) / 1000;
    const seconds = (Date.now() - this.#start) / 1000;
    this.#serverCpuPct = this.serverPids.map((pid, i) => Math.round((100 * (cpuSecondsOf(pid) - this.#servers0[i]!)) / seconds));
  }

  /** A subscription received a publish response with data (its 'received_notifications'). */
  arrived(): void {
    this.#arrivedAt = Date.now();
  }

  record(sourceTime: number): void {
    const now = Date.now();
    if (this.#start && now >= this.#start && now < this.#end) {
      this.latencies.push(now - sourceTime);
      this.arrivalLatencies.push(now - this.#arrivedAt);
    }
  }

  result(measureMs: number): SideResult {
    const quantiles = (xs: number[]) => {
      const sorted = Float64Array.from(xs).sort();
      return (q: number) => (sorted.length ? Math.round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!) : NaN);
    };
    const at = quantiles(this.latencies);
    const fromArrival = quantiles(this.arrivalLatencies);
    const values = this.latencies.length;
    return {
      values, seconds: measureMs / 1000, valuesPerSec: Math.round(values / (measureMs / 1000)), p50Ms: at(0.5), p99Ms: at(0.99), arrivalP50Ms: fromArrival(0.5), arrivalP99Ms: fromArrival(0.99),
      cpuMsPer1000: values ? Math.round((this.#cpuMs / values) * 1000 * 100) / 100 : NaN, serverCpuPct: this.#serverCpuPct,
    };
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const perServer = (s: BenchSettings) => s.items / s.urls.length;

export async function measureFloor(s: BenchSettings): Promise<SideResult> {
  const cm = await certificateManager(s.dataDir);
  const window = new Window(s.serverPids);
  const clients = await Promise.all(s.urls.map(async (url) => {
    const client = OPCUAClient.create({ applicationName: 'bench-floor', clientCertificateManager: cm, endpointMustExist: false, connectionStrategy: { maxRetry: 0 } });
    await client.connect(url);
    return { client, session: await client.createSession() };
  }));
  try {
    const subs = await Promise.all(clients.map(async ({ session }) => {
      const sub = await session.createSubscription2({ requestedPublishingInterval: s.periodMs, requestedMaxKeepAliveCount: 10, requestedLifetimeCount: 60, maxNotificationsPerPublish: 0, publishingEnabled: true, priority: 10 });
      sub.on('received_notifications', () => window.arrived());
      const group = ClientMonitoredItemGroup.create(sub,
        Array.from({ length: perServer(s) }, (_, i) => ({ nodeId: `ns=1;s=Bench.${i}`, attributeId: AttributeIds.Value })),
        { samplingInterval: s.periodMs, queueSize: s.queueSize, discardOldest: true },
        TimestampsToReturn.Both);
      group.on('changed', (_item: unknown, dv: DataValue) => window.record((dv.sourceTimestamp ?? dv.serverTimestamp)!.getTime()));
      return sub;
    }));
    await sleep(s.warmupMs);
    window.open(s.measureMs);
    await sleep(s.measureMs + 50);
    window.close();
    await Promise.all(subs.map((sub) => sub.terminate()));
  } finally {
    for (const { client, session } of clients) {
      await session.close();
      await client.disconnect();
    }
  }
  return window.result(s.measureMs);
}

export async function measureEdgetwin(s: BenchSettings): Promise<SideResult> {
  const window = new Window(s.serverPids);
  const sink: ReadingSink = {
    report(readings: readonly Reading[]) {
      for (const r of readings) if (r.quality === 'good') window.record(r.time);
    },
    state() {},
  };
  const host = new MapperHost({ sink, drivers: [opcuaLoader], log: silentLogger, dataDir: s.dataDir, links: new TappedLinks((sub) => sub.on('received_notifications', () => window.arrived())) });
  // One device per server, as a plant has one per OPC UA server.
  const devices = s.urls.map((url, k) => makeDevice({
    name: `bench-${k}`,
    protocol: 'opcua',
    config: { url, publishingInterval: s.periodMs, keepAliveCount: 10 },
    properties: Array.from({ length: perServer(s) }, (_, i) => ({ name: `b${i}`, type: 'double' as const, collectCycle: s.periodMs, visitor: { nodeID: `ns=1;s=Bench.${i}`, queueSize: s.queueSize } })),
  }));
  try {
    const { errors } = await host.apply(devices);
    if (errors.length) throw new Error(errors.map((e) => e.format()).join('\n'));
    await sleep(s.warmupMs);
    window.open(s.measureMs);
    await sleep(s.measureMs + 50);
    window.close();
  } finally {
    await host.close();
  }
  return window.result(s.measureMs);
}

/**
 * The driver's sessions are links the runtime shares: this registry hands each subscription made on
 * them to `tap`, so the bench hears each publish response arrive as the floor does, without a hook
 * in the driver.
 */
class TappedLinks extends LinkRegistry {
  constructor(private readonly tap: (sub: ClientSubscription) => void) {
    super();
  }

  override share<T extends { close(): Promise<void> | void }>(base: string, open: (fail: (err: Error) => void) => Promise<T>, lost: (err: Error) => void, what?: string) {
    return super.share(base, async (fail) => {
      const link = await open(fail);
      const session = (link as { session?: ClientSession }).session;
      if (session) {
        const create = session.createSubscription2.bind(session) as (...args: unknown[]) => Promise<ClientSubscription>;
        session.createSubscription2 = (async (...args: unknown[]) => {
          const sub = await create(...args);
          this.tap(sub);
          return sub;
        }) as typeof session.createSubscription2;
      }
      return link;
    }, lost, what);
  }
}

export function benchDataDir(): string {
  return mkdtempSync(join(tmpdir(), 'edgetwin-bench-opcua-'));
}
