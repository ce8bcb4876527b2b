// One bench variant in its own process, driven by bench/modbus/index.ts over IPC:
//   a   edgetwin (MapperHost + the Modbus driver), coalesced plan, polling back to back
//   b   the same with coalesce: false (one request per property, as KubeEdge and ThingsBoard poll)
//   c   a bare modbus-serial client issuing exactly the requests of (a), one at a time per link
//   a8  (a) with maxInFlight 8
//   am  (a) with every register and bit changing on every poll (simulator in moving mode)
//   late (a) at 1 s cycles: poll lateness
// It sends {phase: 'start'} when its measured window opens and {phase: 'end', ...} when it closes.

import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { Reading, ReadingSink } from '../../core/reading.ts';
import { silentLogger } from '../../core/log.ts';
import type { ConfigData } from '../../core/model/types.ts';
import { MapperHost, type PropertyBinding } from '../../mappers/sdk/index.ts';
import { modbusLoader } from '../../mappers/modbus/index.ts';
import { limitsOf, planReads, type Span } from '../../mappers/modbus/plan.ts';
import type { ModbusVisitor } from '../../mappers/modbus/config.ts';
import { devices, expectedValue, MAP } from './map.ts';

interface Args { variant: 'a' | 'b' | 'c' | 'a8' | 'am' | 'late'; ports: number[]; seconds: number; warmup: number }
const args = JSON.parse(process.argv[2]!) as Args;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

let rssMax = 0;
const rssTimer = setInterval(() => { rssMax = Math.max(rssMax, process.memoryUsage().rss); }, 100);

async function window<T>(measure: () => T, run: () => Promise<void>): Promise<{ before: T; after: T; cpu: number; seconds: number }> {
  await sleep(args.warmup * 1000);
  rssMax = 0;
  const before = measure();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  process.send!({ phase: 'start' });
  await run();
  const after = measure();
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  return { before, after, cpu: (cpu.user + cpu.system) / 1e6, seconds };
}

class CheckingSink implements ReadingSink {
  bad = 0;
  wrong = 0;
  checked = 0;
  firstError?: string;
  report(readings: readonly Reading[]): void {
    for (const r of readings) {
      if (r.quality !== 'good') { this.bad++; this.firstError ??= `${r.device} ${r.property}: ${r.error?.code} ${r.error?.message}`; continue; }
      // The simulator moves every value for (am): they are decoded and reported, not checked.
      if (args.variant === 'am') continue;
      const unit = Number(r.device.split('-').at(-1));
      const p = MAP.find((x) => x.name === r.property)!;
      const expected = expectedValue(unit, p);
      if (expected === undefined) continue;
      this.checked++;
      if (r.value !== expected) { this.wrong++; this.firstError ??= `${r.device} ${r.property}: read ${String(r.value)}, expected ${String(expected)}`; }
    }
  }
  state(): void {}
}

async function edgetwin(config: ConfigData, collectCycle: number) {
  const sink = new CheckingSink();
  const host = new MapperHost({ sink, drivers: [modbusLoader], log: silentLogger, dataDir: '.' });
  const lateness: number[] = [];
  if (args.variant === 'late') {
    // Raw samples instead of the histogram's coarse buckets, for an exact p99.
    const observe = host.metrics.lateness.observe.bind(host.metrics.lateness);
    host.metrics.lateness.observe = ((labels: never, value: number) => { lateness.push(value * 1000); observe(labels, value); }) as typeof observe;
  }
  const { errors } = await host.apply(devices(args.ports, config, collectCycle));
  if (errors.length) throw new Error(errors.map((e) => e.format()).join('\n'));
  const reads = async () => (await host.metrics.reads.get()).values.reduce((n, v) => n + v.value, 0);
  // Lateness counts from the measured window on, like every other figure.
  let opened = false;
  // The event loop's own delay tells a stalled process (a busy shared machine) from a late scheduler.
  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  const w = await window(() => { if (!opened) { opened = true; lateness.length = 0; loopDelay.enable(); } return reads(); }, () => sleep(args.seconds * 1000));
  loopDelay.disable();
  const values = (await w.after) - (await w.before);
  const { bad, wrong, checked, firstError } = sink;
  await host.close();
  const sorted = lateness.sort((x, y) => x - y);
  const pct = (q: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! : undefined);
  return {
    values, seconds: w.seconds, cpu: w.cpu, rss: rssMax, bad, wrong, checked, firstError,
    ...(args.variant === 'late' ? {
      latenessP50: pct(0.5), latenessP99: pct(0.99), latenessMax: sorted.at(-1), polls: sorted.length,
      over10ms: sorted.filter((ms) => ms > 10).length, loopDelayP99: loopDelay.percentile(99) / 1e6, loopDelayMax: loopDelay.max / 1e6,
    } : {}),
  };
}

interface BareClient {
  connectTCP(host: string, opts: { port: number }): Promise<void>;
  setTimeout(ms: number): void;
  setID(unit: number): void;
  readHoldingRegisters(address: number, count: number): Promise<unknown>;
  readInputRegisters(address: number, count: number): Promise<unknown>;
  readCoils(address: number, count: number): Promise<unknown>;
  readDiscreteInputs(address: number, count: number): Promise<unknown>;
  close(cb: () => void): void;
}

async function bareModbusSerial() {
  const ModbusRTU = (await import('modbus-serial')).default as unknown as new () => BareClient;
  // Exactly (a)'s requests: the driver's plan for each device, taken round-robin across the
  // devices of a link, one request per device per turn, as the link scheduler serves them.
  const all = devices(args.ports, {}, 1);
  const perLink = args.ports.map((_, l) => {
    const plans = all.slice(l * 10, l * 10 + 10).map((d) => ({
      unit: d.protocolConfig.slaveID as number,
      plan: planReads(d.properties.map((p) => ({ name: p.name, spec: p, visitor: p.visitor as unknown as ModbusVisitor })) as PropertyBinding<ModbusVisitor>[], limitsOf({})),
    }));
    const list: { unit: number; span: Span; values: number }[] = [];
    for (let k = 0; k < Math.max(...plans.map((p) => p.plan.length)); k++) {
      for (const { unit, plan } of plans) if (plan[k]) list.push({ unit, span: plan[k]!.detail as Span, values: plan[k]!.properties.length });
    }
    return list;
  });
  const clients = await Promise.all(args.ports.map(async (port) => {
    const c = new ModbusRTU();
    await c.connectTCP('127.0.0.1', { port });
    c.setTimeout(5000);
    return c;
  }));
  let values = 0;
  let failures = 0;
  let stop = false;
  const loops = clients.map(async (c, l) => {
    const list = perLink[l]!;
    for (let i = 0; !stop; i = (i + 1) % list.length) {
      const { unit, span, values: n } = list[i]!;
      c.setID(unit);
      try {
        if (span.table === 'HoldingRegister') await c.readHoldingRegisters(span.address, span.count);
        else if (span.table === 'InputRegister') await c.readInputRegisters(span.address, span.count);
        else if (span.table === 'CoilRegister') await c.readCoils(span.address, span.count);
        else await c.readDiscreteInputs(span.address, span.count);
        values += n;
      } catch {
        failures++;
      }
    }
  });
  const w = await window(() => values, () => sleep(args.seconds * 1000));
  stop = true;
  await Promise.all(loops);
  await Promise.all(clients.map((c) => new Promise<void>((r) => c.close(() => r()))));
  return { values: w.after - w.before, seconds: w.seconds, cpu: w.cpu, rss: rssMax, bad: failures, wrong: 0, checked: 0 };
}

const result = args.variant === 'c' ? await bareModbusSerial()
  : args.variant === 'late' ? await edgetwin({}, 1000)
  : await edgetwin({ ...(args.variant === 'b' ? { coalesce: false } : {}), ...(args.variant === 'a8' ? { maxInFlight: 8 } : {}) }, 1);
clearInterval(rssTimer);
process.send!({ phase: 'end', ...result }, () => process.exit(0));
