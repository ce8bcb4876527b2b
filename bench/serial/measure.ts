// One bench run: a fresh socat pty pair, the sender in its own process on one end, and on the
// other either the gateway path (MapperHost + serial driver + a counting sink) or the floor (a
// bare serialport with a delimiter parser). CPU is this process's, so it is the receiver's alone.

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { silentLogger } from '../../core/log.ts';
import type { DeviceState, Reading, ReadingSink } from '../../core/reading.ts';
import { MapperHost } from '../../mappers/sdk/index.ts';
import { makeDevice } from '../../mappers/sdk/testing.ts';
import { serialLoader } from '../../mappers/serial/index.ts';
import { PtyPair } from '../../examples/serial-instruments/pty.ts';
import { now, seqOf } from './frames.ts';

export type Receiver = 'gateway' | 'floor';
export type Mode = 'paced' | 'unpaced';

export interface RunResult {
  receiver: Receiver;
  mode: Mode;
  sent: number;
  received: number;
  seconds: number;
  framesPerSecond: number;
  cpuMsPer1000: number;
  p50Ms?: number;
  p99Ms?: number;
  maxMs?: number;
}

type OnFrame = (seq: number) => void;

async function openGateway(path: string, onFrame: OnFrame): Promise<() => Promise<void>> {
  let online!: () => void;
  const ready = new Promise<void>((resolve) => { online = resolve; });
  const sink: ReadingSink = {
    report(readings: readonly Reading[]) {
      for (const r of readings) if (r.quality === 'good') onFrame(r.value as number);
    },
    state(_device: string, state: DeviceState) {
      if (state === 'online') online();
    },
  };
  const host = new MapperHost({ sink, drivers: [serialLoader], log: silentLogger, dataDir: tmpdir() });
  const device = makeDevice({
    name: 'bench-stream', protocol: 'serial',
    config: { serialPort: path, baudRate: 115200, framing: { type: 'delimiter', delimiter: '\\n' }, checksum: { type: 'crc16-modbus', encoding: 'hex' }, streamTimeout: 600000 },
    properties: [{ name: 'seq', type: 'int', visitor: { stream: '^F(\\d{8}),' } }],
  });
  const { errors } = await host.apply([device]);
  if (errors.length) throw new Error(errors.map((e) => e.format()).join('\n'));
  await ready;
  return () => host.close();
}

async function openFloor(path: string, onFrame: OnFrame): Promise<() => Promise<void>> {
  const { SerialPort, DelimiterParser } = await import('serialport');
  const port = new SerialPort({ path, baudRate: 115200, autoOpen: false });
  await new Promise<void>((resolve, reject) => port.open((err) => (err ? reject(err) : resolve())));
  const parser = port.pipe(new DelimiterParser({ delimiter: '\n' }));
  parser.on('data', (line: Buffer) => onFrame(seqOf(line.toString('latin1'))));
  return () => new Promise<void>((resolve) => port.close(() => resolve()));
}

function percentile(sorted: Float64Array, p: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]! : NaN;
}

/** `sender` is the sender script: sender.ts under tsx, or its bundle. */
export async function run(receiver: Receiver, mode: Mode, seconds: number, sender = { file: join(import.meta.dirname, 'sender.ts'), execArgv: ['--import', 'tsx'] }): Promise<RunResult> {
  const dir = mkdtempSync(join(tmpdir(), 'edgetwin-bench-serial-'));
  const pty = new PtyPair(join(dir, 'gateway'), join(dir, 'instrument'));
  await pty.start();
  const child = spawn(process.execPath, [...sender.execArgv, sender.file, '--path', pty.instrument, '--mode', mode, '--seconds', String(seconds)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  try {
    if ((await lines.next()).value !== 'ready') throw new Error('the sender did not start');
    const paced = mode === 'paced';
    const arrival = paced ? new Float64Array(Math.ceil(seconds * 600) + 1000) : undefined;
    let received = 0;
    let first = 0;
    let last = 0;
    const onFrame: OnFrame = (seq) => {
      const t = now();
      if (received++ === 0) first = t;
      last = t;
      if (arrival && seq >= 0 && seq < arrival.length) arrival[seq] = t;
    };
    const close = await (receiver === 'gateway' ? openGateway : openFloor)(pty.gateway, onFrame);
    const cpu0 = process.cpuUsage();
    child.stdin!.write('go\n');
    const report = JSON.parse((await lines.next()).value as string) as { sent: number; batches: [number, number, number][] };
    // Let what is still in the pty arrive; stop once nothing has come for a second.
    for (let seen = -1; seen !== received && received < report.sent;) {
      seen = received;
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
    const cpu = process.cpuUsage(cpu0);
    await close();
    child.stdin!.end();
    await once(child, 'exit');
    const result: RunResult = {
      receiver, mode, sent: report.sent, received, seconds,
      framesPerSecond: received > 1 ? Math.round((received - 1) / ((last - first) / 1000)) : 0,
      cpuMsPer1000: Math.round(((cpu.user + cpu.system) / 1000 / Math.max(1, received)) * 1000 * 100) / 100,
    };
    if (arrival) {
      const latencies: number[] = [];
      for (const [start, count, sentAt] of report.batches) {
        for (let s = start; s < start + count; s++) if (arrival[s]) latencies.push(arrival[s]! - sentAt);
      }
      const sorted = Float64Array.from(latencies).sort();
      const round = (x: number) => Math.round(x * 100) / 100;
      Object.assign(result, { p50Ms: round(percentile(sorted, 0.5)), p99Ms: round(percentile(sorted, 0.99)), maxMs: round(sorted.at(-1) ?? NaN) });
    }
    return result;
  } finally {
    if (child.exitCode === null) child.kill();
    await pty.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
