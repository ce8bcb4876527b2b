// bench/gateway's application: an MQTT subscriber in its own process on
// $ke/events/device/+/+/data/update that checks every value it receives against the simulator's
// clocked block (bench/modbus/clocked.ts) and measures latency from the simulator's clock.
//   argv[2]: {"url": "mqtt://127.0.0.1:<port>"}; IPC: {open} starts a window, {close} ends it -> {result}
// A value is delivered when its message carries a counter newer than any seen before for the
// device and the value follows that counter's formula; a repeated or older counter (stale) or a
// value off the formula counts as wrong, and so does a value whose message has no counter.

import mqtt from 'mqtt';
import { CLOCKED_PROPERTIES, clockTime, expectedOf } from '../modbus/clocked.ts';
import { unitOf } from './devices.ts';

const args = JSON.parse(process.argv[2]!) as { url: string };
const BY_NAME = new Map(CLOCKED_PROPERTIES.map((p) => [p.name, p]));
const TOPIC = '$ke/events/device/+/+/data/update';
/** Latency histogram in 1 ms buckets, the last one for everything at or past it. */
const MAX_MS = 60_000;

let open = false;
let delivered = 0;
let wrong = 0;
let messages = 0;
let firstError: string | undefined;
let latency = new Float64Array(MAX_MS + 1);
const lastCounter = new Map<string, number>();

interface Entry { value: string; metadata?: { quality?: string } }
interface Checked { good: number; bad: number; why?: string; latencyMs?: number }

/** Checks one message; stale detection sees every message, inside the window or not. */
function check(topic: string, payload: Buffer, now: number): Checked {
  const device = topic.split('/')[4]!;
  const data = (JSON.parse(payload.toString('utf8')) as { data: Record<string, Entry> }).data;
  const names = Object.keys(data);
  const counterText = data.counter?.value;
  if (counterText === undefined) return { good: 0, bad: names.length, why: `${device}: a message without the counter` };
  const counter = Number(counterText);
  const last = lastCounter.get(device);
  if (last !== undefined && counter <= last) return { good: 0, bad: names.length, why: `${device}: stale, counter ${counter} after ${last}` };
  lastCounter.set(device, counter);
  const unit = unitOf(device);
  const out: Checked = { good: 0, bad: 0 };
  const fail = (why: string) => { out.bad++; out.why ??= `${device}: ${why}`; };
  for (const name of names) {
    const e = data[name]!;
    const p = BY_NAME.get(name);
    if (e.metadata?.quality !== undefined && e.metadata.quality !== 'good') fail(`${name} quality ${e.metadata.quality}`);
    else if (!p) fail(`unknown property ${name}`);
    else if (name === 'clock' || name === 'counter') out.good++;
    else if (Number(e.value) !== expectedOf(unit, counter, p)) fail(`${name} = ${e.value}, expected ${expectedOf(unit, counter, p)} for counter ${counter}`);
    else out.good++;
  }
  const clock = data.clock?.value;
  if (clock !== undefined) out.latencyMs = Math.max(0, Math.min(MAX_MS, Math.round(now - clockTime(Number(clock), now))));
  return out;
}

function percentile(q: number): number | undefined {
  const total = latency.reduce((n, c) => n + c, 0);
  if (total === 0) return undefined;
  let seen = 0;
  for (let ms = 0; ms <= MAX_MS; ms++) {
    seen += latency[ms]!;
    if (seen >= q * total) return ms;
  }
  return MAX_MS;
}

const client = mqtt.connect(args.url, { clientId: `bench-subscriber-${process.pid}`, reconnectPeriod: 500 });
client.on('message', (topic, payload) => {
  const c = check(topic, payload, Date.now());
  if (!open) return;
  messages++;
  delivered += c.good;
  wrong += c.bad;
  firstError ??= c.why;
  if (c.latencyMs !== undefined && c.good > 0) latency[c.latencyMs]! += c.good;
});
client.on('error', (err) => process.stderr.write(`bench subscriber: ${err.message}\n`));
client.on('connect', () => {
  client.subscribe(TOPIC, { qos: 0 }, (err) => {
    if (err) throw err;
    process.send!({ ready: true });
  });
});

let cpu0 = process.cpuUsage();
let t0 = 0;
process.on('message', (m: { open?: boolean; close?: boolean }) => {
  if (m.open) {
    delivered = 0; wrong = 0; messages = 0; firstError = undefined; latency = new Float64Array(MAX_MS + 1);
    open = true;
    cpu0 = process.cpuUsage();
    t0 = performance.now();
    process.send!({ opened: true });
  }
  if (m.close) {
    open = false;
    const seconds = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    process.send!({ result: { delivered, wrong, messages, seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6, p50Ms: percentile(0.5), p99Ms: percentile(0.99), maxMs: percentile(1), firstError } });
  }
});
process.on('disconnect', () => { client.end(true); process.exit(0); });
