// bench/opcua: N monitored items changing every period on one node-opcua server (its own process,
// each change stamped with its source timestamp). Two subscribers, one after the other against the
// same server, with the same sampling and publishing intervals and queue size:
//  - the floor: a bare node-opcua client subscription (ClientMonitoredItemGroup), counting values;
//  - edgetwin: the OPC UA driver under the mapper runtime, counting readings at the ReadingSink,
//    which is where values reach the twin.
// Each side reports values/s and source-to-arrival latency (p50, p99).

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AttributeIds, ClientMonitoredItemGroup, OPCUAClient, TimestampsToReturn, type DataValue } from 'node-opcua-client';
import { silentLogger } from '../../core/log.ts';
import type { Reading, ReadingSink } from '../../core/reading.ts';
import { makeDevice } from '../../mappers/sdk/conformance/harness.ts';
import { MapperHost } from '../../mappers/sdk/host.ts';
import { certificateManager } from '../../mappers/opcua/client.ts';
import { opcuaLoader } from '../../mappers/opcua/index.ts';

export interface SideResult {
  values: number;
  seconds: number;
  valuesPerSec: number;
  p50Ms: number;
  p99Ms: number;
}

export interface BenchSettings {
  url: string;
  items: number;
  periodMs: number;
  queueSize: number;
  warmupMs: number;
  measureMs: number;
  dataDir: string;
}

/** Counts values and latencies inside the measurement window only. */
class Window {
  #start = 0;
  #end = 0;
  readonly latencies: number[] = [];

  open(measureMs: number): void {
    this.#start = Date.now();
    this.#end = this.#start + measureMs;
  }

  record(sourceTime: number): void {
    const now = Date.now();
    if (this.#start && now >= this.#start && now < this.#end) this.latencies.push(now - sourceTime);
  }

  result(measureMs: number): SideResult {
    const sorted = Float64Array.from(this.latencies).sort();
    const at = (q: number) => (sorted.length ? Math.round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!) : NaN);
    return { values: sorted.length, seconds: measureMs / 1000, valuesPerSec: Math.round(sorted.length / (measureMs / 1000)), p50Ms: at(0.5), p99Ms: at(0.99) };
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function measureFloor(s: BenchSettings): Promise<SideResult> {
  const cm = await certificateManager(s.dataDir);
  const client = OPCUAClient.create({ applicationName: 'bench-floor', clientCertificateManager: cm, endpointMustExist: false, connectionStrategy: { maxRetry: 0 } });
  await client.connect(s.url);
  const session = await client.createSession();
  const window = new Window();
  try {
    const sub = await session.createSubscription2({ requestedPublishingInterval: s.periodMs, requestedMaxKeepAliveCount: 10, requestedLifetimeCount: 60, maxNotificationsPerPublish: 0, publishingEnabled: true, priority: 10 });
    const group = ClientMonitoredItemGroup.create(sub,
      Array.from({ length: s.items }, (_, i) => ({ nodeId: `ns=1;s=Bench.${i}`, attributeId: AttributeIds.Value })),
      { samplingInterval: s.periodMs, queueSize: s.queueSize, discardOldest: true },
      TimestampsToReturn.Both);
    group.on('changed', (_item: unknown, dv: DataValue) => window.record((dv.sourceTimestamp ?? dv.serverTimestamp)!.getTime()));
    await sleep(s.warmupMs);
    window.open(s.measureMs);
    await sleep(s.measureMs + 50);
    await sub.terminate();
  } finally {
    await session.close();
    await client.disconnect();
  }
  return window.result(s.measureMs);
}

export async function measureEdgetwin(s: BenchSettings): Promise<SideResult> {
  const window = new Window();
  const sink: ReadingSink = {
    report(readings: readonly Reading[]) {
      for (const r of readings) if (r.quality === 'good') window.record(r.time);
    },
    state() {},
  };
  const host = new MapperHost({ sink, drivers: [opcuaLoader], log: silentLogger, dataDir: s.dataDir });
  const device = makeDevice({
    name: 'bench',
    protocol: 'opcua',
    config: { url: s.url, publishingInterval: s.periodMs, keepAliveCount: 10 },
    properties: Array.from({ length: s.items }, (_, i) => ({ name: `b${i}`, type: 'double' as const, collectCycle: s.periodMs, visitor: { nodeID: `ns=1;s=Bench.${i}`, queueSize: s.queueSize } })),
  });
  try {
    const { errors } = await host.apply([device]);
    if (errors.length) throw new Error(errors.map((e) => e.format()).join('\n'));
    await sleep(s.warmupMs);
    window.open(s.measureMs);
    await sleep(s.measureMs + 50);
  } finally {
    await host.close();
  }
  return window.result(s.measureMs);
}

export function benchDataDir(): string {
  return mkdtempSync(join(tmpdir(), 'edgetwin-bench-opcua-'));
}
