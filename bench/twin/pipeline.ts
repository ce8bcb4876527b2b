// bench/twin: reading sink -> store commit -> one $ke/events/device/{id}/data/update per device
// per flush (QoS 0) on the embedded broker -> a subscriber. Side by side in the same run, the
// baseline does the same work bare: better-sqlite3 batched upserts plus aedes publishes of the
// same messages. Then latency, sink to subscriber, at a steady 10,000 updates/s.

import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setImmediate as tick } from 'node:timers/promises';
import { Aedes } from 'aedes';
import Database from 'better-sqlite3';
import mqtt from 'mqtt';
import type { DeviceSpecResolved } from '../../core/device.ts';
import { silentLogger, type Logger } from '../../core/log.ts';
import type { Reading } from '../../core/reading.ts';
import { startEmbeddedBroker } from '../../twin/broker.ts';
import { MqttEventBus } from '../../twin/eventbus.ts';
import { Registry } from '../../twin/metrics.ts';
import { TwinStore } from '../../twin/store.ts';
import { DeviceTwin } from '../../twin/twin.ts';
import { freePort } from '../../core/testing.ts';

export interface TwinBenchOptions {
  devices?: number;
  properties?: number;
  /** Rounds of one new value per property of every device, per throughput run. */
  rounds?: number;
  /** Throughput runs of each side, alternating; the best of each counts (the machine is shared). */
  repeats?: number;
  latencyRate?: number;
  latencySeconds?: number;
  log?: Logger;
}

export interface TwinBenchResult {
  bench: 'twin';
  devices: number;
  properties: number;
  updatesPerRun: number;
  pipeline: { updatesPerSec: number; messages: number; committed: number };
  baseline: { updatesPerSec: number };
  ratio: number;
  latency: { rate: number; achievedRate: number; samples: number; p50Ms: number; p99Ms: number; maxMs: number };
  goals: { updatesPerSec: number; ratio: number; p99Ms: number };
  pass: boolean;
}

const DATA_TOPIC = '$ke/events/device/+/+/data/update';

function specs(n: number, props: number): DeviceSpecResolved[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `bench/dev-${i}`, namespace: 'bench', name: `dev-${i}`, model: 'bench', protocol: 'virtual', protocolConfig: {}, methods: [], fingerprint: String(i),
    properties: Array.from({ length: props }, (_, j) => ({
      name: `p${j}`, type: 'double' as const, accessMode: 'ReadOnly' as const, collectCycle: 1000, reportCycle: 0, reportToCloud: false, reconcile: 'once' as const, visitor: {},
    })),
  }));
}

/** Per device, reading objects reused round after round, as a mapper's read plan would fill them. */
function batches(devs: DeviceSpecResolved[]): Reading[][] {
  return devs.map((d) => d.properties.map((p) => ({ device: d.id, property: p.name, value: 0, time: 0, quality: 'good' as const })));
}

function fill(batch: Reading[], round: number, time: number): void {
  for (let j = 0; j < batch.length; j++) {
    const r = batch[j]!;
    r.value = round * 1000 + j + 0.25;
    r.time = time;
  }
}

async function subscriber(url: string): Promise<{ client: mqtt.MqttClient; count(): number; onMessage(fn: (topic: string) => void): void }> {
  const client = await mqtt.connectAsync(url, { reconnectPeriod: 0 });
  await client.subscribeAsync(DATA_TOPIC, { qos: 0 });
  let n = 0;
  let closed = false;
  let listener: ((topic: string) => void) | undefined;
  client.on('message', (topic) => {
    n++;
    listener?.(topic);
  });
  client.on('close', () => (closed = true));
  const count = () => {
    if (closed) throw new Error(`bench/twin: the subscriber's connection closed after ${n} messages (see the broker's log): the run cannot complete`);
    return n;
  };
  return { client, count, onMessage: (fn) => (listener = fn) };
}

async function until(what: string, cond: () => boolean, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`bench/twin: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 1));
  }
}

interface Rig {
  twin: DeviceTwin;
  registry: Registry;
  sub: Awaited<ReturnType<typeof subscriber>>;
  close(): Promise<void>;
}

async function pipelineRig(devs: DeviceSpecResolved[], log: Logger): Promise<Rig> {
  const dir = mkdtempSync(join(tmpdir(), 'edgetwin-bench-'));
  // The run publishes ~33 MB at once to one subscriber in this process, which reads only between
  // rounds: the broker's slow-client bound (16 MB, a gateway's protection) must not cut it off on a
  // busy machine, or the run waits for messages that will never come.
  const broker = await startEmbeddedBroker({ port: await freePort(), log, settings: { maxQueueBytes: 256 * 2 ** 20, maxQueueMessages: 1_000_000 } });
  const store = TwinStore.open(dir);
  const registry = new Registry();
  const twin = new DeviceTwin({ store, log, nodeName: 'bench', registry });
  twin.setDevices(devs);
  const bus = new MqttEventBus({ twin, url: broker.url, inProcess: broker.aedes, nodeName: 'bench', log, registry });
  await bus.start();
  const sub = await subscriber(broker.url);
  return {
    twin, registry, sub,
    async close() {
      await sub.client.endAsync(true);
      await bus.stop();
      await twin.close();
      store.close();
      await broker.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function runPipeline(devs: DeviceSpecResolved[], rounds: number, log: Logger): Promise<{ seconds: number; messages: number; committed: number }> {
  const rig = await pipelineRig(devs, log);
  const b = batches(devs);
  try {
    const t0 = performance.now();
    for (let round = 1; round <= rounds; round++) {
      const now = Date.now();
      for (let i = 0; i < b.length; i++) {
        fill(b[i]!, round, now);
        rig.twin.report(b[i]!);
      }
      await tick();
    }
    await until('every data/update at the subscriber', () => rig.sub.count() >= rounds * devs.length);
    const seconds = (performance.now() - t0) / 1000;
    const committed = (await rig.registry.getSingleMetric('edgetwin_twin_updates_total')!.get()).values[0]!.value;
    const last = rig.twin.get(devs.at(-1)!.id)!.properties[`p${devs[0]!.properties.length - 1}`]!.reported?.value;
    if (last !== rounds * 1000 + devs[0]!.properties.length - 1 + 0.25) throw new Error(`bench/twin: the last committed value is ${String(last)}, not the last one sent`);
    return { seconds, messages: rig.sub.count(), committed };
  } finally {
    await rig.close();
  }
}

async function runBaseline(devs: DeviceSpecResolved[], rounds: number): Promise<{ seconds: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'edgetwin-bench-base-'));
  const aedes = await Aedes.createBroker();
  const server = createServer({ noDelay: true }, aedes.handle);
  const serverPort = await freePort();
  await new Promise<void>((r) => server.listen(serverPort, '127.0.0.1', () => r()));
  const url = `mqtt://127.0.0.1:${(server.address() as { port: number }).port}`;
  const db = new Database(join(dir, 'baseline.db'));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.exec('CREATE TABLE readings (device TEXT, property TEXT, value TEXT, time INTEGER, quality TEXT, PRIMARY KEY (device, property))');
  const upsert = db.prepare('INSERT INTO readings VALUES (?, ?, ?, ?, ?) ON CONFLICT (device, property) DO UPDATE SET value = excluded.value, time = excluded.time, quality = excluded.quality');
  const b = batches(devs);
  const commit = db.transaction(() => {
    for (const batch of b) for (const r of batch) upsert.run(r.device, r.property, String(r.value), r.time, r.quality);
  });
  const sub = await subscriber(url);
  try {
    const t0 = performance.now();
    for (let round = 1; round <= rounds; round++) {
      const now = Date.now();
      for (const batch of b) fill(batch, round, now);
      commit();
      for (const batch of b) {
        const data: Record<string, { value: string; metadata: { timestamp: number; type: string; quality: string } }> = {};
        for (const r of batch) data[r.property] = { value: String(r.value), metadata: { timestamp: r.time, type: 'double', quality: r.quality } };
        const payload = Buffer.from(JSON.stringify({ event_id: randomUUID(), timestamp: now, data }));
        aedes.publish({ cmd: 'publish', topic: `$ke/events/device/${batch[0]!.device}/data/update`, payload, qos: 0, retain: false, dup: false }, () => undefined);
      }
      await tick();
    }
    await until('every baseline message at the subscriber', () => sub.count() >= rounds * devs.length);
    return { seconds: (performance.now() - t0) / 1000 };
  } finally {
    await sub.client.endAsync(true);
    await new Promise<void>((r) => {
      server.close(() => r());
      aedes.close();
    });
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function runLatency(devs: DeviceSpecResolved[], rate: number, seconds: number, log: Logger): Promise<TwinBenchResult['latency']> {
  const rig = await pipelineRig(devs, log);
  const b = batches(devs);
  const sentAt = new Map<string, number>();
  const samples: number[] = [];
  let measuring = false;
  rig.sub.onMessage((topic) => {
    const id = topic.split('/').slice(3, 5).join('/');
    const t = sentAt.get(id);
    if (t !== undefined && measuring) samples.push(performance.now() - t);
  });
  const perDevice = devs[0]!.properties.length;
  const devicesPerSec = rate / perDevice;
  const warmup = 1;
  let sent = 0;
  let round = 0;
  try {
    const t0 = performance.now();
    let measuredFrom = 0;
    let sentAtMeasureStart = 0;
    while (performance.now() - t0 < (warmup + seconds) * 1000) {
      const elapsed = (performance.now() - t0) / 1000;
      if (!measuring && elapsed >= warmup) {
        measuring = true;
        measuredFrom = performance.now();
        sentAtMeasureStart = sent;
      }
      const due = Math.floor(elapsed * devicesPerSec);
      const now = Date.now();
      while (sent < due) {
        const i = sent % b.length;
        if (i === 0) round++;
        fill(b[i]!, round, now);
        sentAt.set(devs[i]!.id, performance.now());
        rig.twin.report(b[i]!);
        sent++;
      }
      await new Promise((r) => setTimeout(r, 1));
    }
    const achievedRate = ((sent - sentAtMeasureStart) * perDevice) / ((performance.now() - measuredFrom) / 1000);
    await new Promise((r) => setTimeout(r, 200));
    samples.sort((x, y) => x - y);
    const pct = (q: number) => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))] ?? NaN;
    return { rate, achievedRate: Math.round(achievedRate), samples: samples.length, p50Ms: round2(pct(0.5)), p99Ms: round2(pct(0.99)), maxMs: round2(samples.at(-1) ?? NaN) };
  } finally {
    await rig.close();
  }
}

const round2 = (n: number) => Math.round(n * 100) / 100;

export async function runTwinBench(opts: TwinBenchOptions = {}): Promise<TwinBenchResult> {
  const nDevices = opts.devices ?? 1000;
  const nProps = opts.properties ?? 10;
  const rounds = opts.rounds ?? 30;
  const repeats = opts.repeats ?? 2;
  const log = opts.log ?? silentLogger;
  const devs = specs(nDevices, nProps);
  const updates = nDevices * nProps * rounds;
  let best = { seconds: Infinity, messages: 0, committed: 0 };
  let baseline = Infinity;
  for (let i = 0; i < repeats; i++) {
    baseline = Math.min(baseline, (await runBaseline(devs, rounds)).seconds);
    const p = await runPipeline(devs, rounds, log);
    if (p.seconds < best.seconds) best = p;
  }
  const latency = await runLatency(devs, opts.latencyRate ?? 10_000, opts.latencySeconds ?? 5, log);
  const pipelineRate = Math.round(updates / best.seconds);
  const baselineRate = Math.round(updates / baseline);
  const goals = { updatesPerSec: 50_000, ratio: 0.7, p99Ms: 20 };
  const ratio = round2(pipelineRate / baselineRate);
  return {
    bench: 'twin',
    devices: nDevices,
    properties: nProps,
    updatesPerRun: updates,
    pipeline: { updatesPerSec: pipelineRate, messages: best.messages, committed: best.committed },
    baseline: { updatesPerSec: baselineRate },
    ratio,
    latency,
    goals,
    pass: pipelineRate >= goals.updatesPerSec && ratio >= goals.ratio && latency.p99Ms < goals.p99Ms,
  };
}

export function formatTable(r: TwinBenchResult): string {
  const rows: [string, string, string][] = [
    ['pipeline updates/s', String(r.pipeline.updatesPerSec), `>= ${r.goals.updatesPerSec}`],
    ['baseline updates/s', String(r.baseline.updatesPerSec), ''],
    ['pipeline / baseline', r.ratio.toFixed(2), `>= ${r.goals.ratio}`],
    [`latency p50 at ${r.latency.achievedRate}/s`, `${r.latency.p50Ms} ms`, ''],
    [`latency p99 at ${r.latency.achievedRate}/s`, `${r.latency.p99Ms} ms`, `< ${r.goals.p99Ms} ms`],
    ['latency max', `${r.latency.maxMs} ms`, ''],
  ];
  const w0 = Math.max(...rows.map((x) => x[0].length));
  const w1 = Math.max(...rows.map((x) => x[1].length));
  const head = `bench/twin: ${r.devices} devices x ${r.properties} properties, ${r.updatesPerRun} updates per run, ${r.pipeline.committed} committed, ${r.pipeline.messages} data/update messages`;
  return [head, ...rows.map(([a, b, c]) => `  ${a.padEnd(w0)}  ${b.padStart(w1)}  ${c}`), `  ${r.pass ? 'PASS' : 'FAIL'}`].join('\n');
}
