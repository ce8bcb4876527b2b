// `npm run bench -- broker` or `node --import tsx bench/broker/index.ts` (BENCH_QUICK=1 for a
// short run): messages/s that the embedded broker delivers to 50 fast subscribers while one more
// subscriber (a real mosquitto_sub) is stopped with SIGSTOP, from the stop until that subscriber
// is disconnected and for 30 s after, against the same offered load with no one stopped.
// Goal: ratio >= 0.9. Prints a table, then one JSON line.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { silentLogger } from '../../core/log.ts';
import { freePort, waitFor } from '../../core/testing.ts';
import { startEmbeddedBroker, type EmbeddedBroker } from '../../twin/broker.ts';

const QUICK = process.env.BENCH_QUICK === '1';
const FAST = 50;
const RATE = 400; // messages/s offered, each to every subscriber
const PAYLOAD = Buffer.alloc(2048, 0x61);
const AFTER_S = QUICK ? 5 : 30;
// The default queue bound in a full run; a smaller one makes the quick run quick.
const MAX_QUEUE_BYTES = QUICK ? 2 * 1024 * 1024 : undefined;
const GOAL = 0.9;

interface Fast {
  child: ChildProcess;
  received(): number;
  stop(): Promise<void>;
}

async function startFast(url: string): Promise<Fast> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'subscribers.ts'), url, String(FAST), 'bench/#'], { stdio: ['pipe', 'pipe', 'inherit'] });
  let received = 0;
  let ready = false;
  createInterface({ input: child.stdout! }).on('line', (l) => (l === 'ready' ? (ready = true) : (received = Number(l))));
  await waitFor('the fast subscribers', () => ready, 60_000, 50);
  return {
    child,
    received: () => received,
    async stop() {
      child.stdin!.end();
      await new Promise((r) => child.once('exit', r));
    },
  };
}

/** Publishes RATE messages/s in-process, as the gateway's event bus does. */
function publishAtRate(broker: EmbeddedBroker): { stop(): void; published(): number } {
  let n = 0;
  const start = Date.now();
  const timer = setInterval(() => {
    const due = Math.floor(((Date.now() - start) / 1000) * RATE);
    for (; n < due; n++) broker.aedes.publish({ cmd: 'publish', topic: 'bench/data', payload: PAYLOAD, qos: 0, retain: false, dup: false }, () => {});
  }, 10);
  return { stop: () => clearInterval(timer), published: () => n };
}

interface Run {
  seconds: number;
  published: number;
  delivered: number;
  perSec: number;
  disconnectedAfterSeconds?: number;
}

async function run(stopOne: boolean, fixedSeconds?: number): Promise<Run> {
  const registry = new Registry();
  const broker = await startEmbeddedBroker({ port: await freePort(), log: silentLogger, registry, settings: MAX_QUEUE_BYTES ? { maxQueueBytes: MAX_QUEUE_BYTES } : {} });
  const fast = await startFast(broker.url);
  let slow: ChildProcess | undefined;
  let disconnectedAt: number | undefined;
  broker.aedes.on('clientDisconnect', (c) => {
    if (c.id === 'stopped') disconnectedAt ??= Date.now();
  });
  if (stopOne) {
    slow = spawn('mosquitto_sub', ['-h', '127.0.0.1', '-p', String(broker.port), '-i', 'stopped', '-t', 'bench/#'], { stdio: ['ignore', 'ignore', 'inherit'] });
    let subscribed = false;
    broker.aedes.on('subscribe', (_subs, c) => (subscribed ||= c.id === 'stopped'));
    await waitFor('the subscriber to stop', () => subscribed, 30_000, 50);
    slow.kill('SIGSTOP');
  }
  const from = fast.received();
  const t0 = Date.now();
  const pub = publishAtRate(broker);
  if (fixedSeconds === undefined) {
    await waitFor('the stopped subscriber to be disconnected', () => disconnectedAt !== undefined, 600_000, 100);
    await new Promise((r) => setTimeout(r, AFTER_S * 1000));
  } else {
    await new Promise((r) => setTimeout(r, fixedSeconds * 1000));
  }
  pub.stop();
  const seconds = (Date.now() - t0) / 1000;
  const delivered = fast.received() - from;
  if (slow) {
    slow.kill('SIGKILL');
    slow.kill('SIGCONT');
  }
  await fast.stop();
  await broker.close();
  return { seconds, published: pub.published(), delivered, perSec: Math.round(delivered / seconds), disconnectedAfterSeconds: disconnectedAt === undefined ? undefined : (disconnectedAt - t0) / 1000 };
}

const stopped = await run(true);
const baseline = await run(false, stopped.seconds);
const ratio = Math.round((stopped.perSec / baseline.perSec) * 1000) / 1000;
const pass = ratio >= GOAL && stopped.disconnectedAfterSeconds !== undefined;
const row = (name: string, r: Run) => `  ${name.padEnd(28)} ${String(r.perSec).padStart(9)} ${String(r.published).padStart(9)} ${String(r.delivered).padStart(10)} ${r.seconds.toFixed(1).padStart(7)}`;
console.log(`\nbroker bench: ${FAST} fast subscribers, ${RATE} msg/s of ${PAYLOAD.length} B offered${QUICK ? ' (BENCH_QUICK)' : ''}`);
console.log(`  ${'run'.padEnd(28)} ${'deliv/s'.padStart(9)} ${'published'.padStart(9)} ${'delivered'.padStart(10)} ${'seconds'.padStart(7)}`);
console.log(row('1 subscriber SIGSTOPped', stopped));
console.log(row('none stopped', baseline));
console.log(`  stopped subscriber disconnected after ${stopped.disconnectedAfterSeconds?.toFixed(1) ?? 'never'} s; ratio ${ratio} (goal >= ${GOAL}) ${pass ? '' : 'MISSED'}`);
console.log(
  JSON.stringify({
    bench: 'broker',
    quick: QUICK,
    fastSubscribers: FAST,
    offeredPerSec: RATE,
    payloadBytes: PAYLOAD.length,
    maxQueueBytes: MAX_QUEUE_BYTES ?? 16 * 1024 * 1024,
    stopped: { perSec: stopped.perSec, seconds: stopped.seconds, delivered: stopped.delivered },
    baseline: { perSec: baseline.perSec, seconds: baseline.seconds, delivered: baseline.delivered },
    disconnectedAfterSeconds: stopped.disconnectedAfterSeconds ?? null,
    ratio,
    goals: { ratio: GOAL },
    pass,
  }),
);
process.exit(pass ? 0 : 1);
