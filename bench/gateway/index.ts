// bench/gateway: the whole gateway, from a register changing to an application receiving it.
// A real `edgetwin run` (cli/bin/edgetwin.js on the bundle, as users start it) polls 100 devices x
// 100 properties on bench/modbus's socket-level simulator in clocked mode (clocked.ts: every register
// changes at every poll; per device a clock, a counter and values that follow the counter), at
// collectCycle 1000, 250 and 100 ms. An MQTT subscriber in its own process checks every value on
// $ke/events/device/+/+/data/update and measures latency from the simulator's clock. Side by side,
// the floor (floor.ts): a bare modbus-serial + better-sqlite3 + aedes process, measured the same way.
// Each cycle runs edgetwin and the floor in turns (3 turns at 100 ms; BENCH_QUICK=1: 1 turn, short
// windows), each figure the median of its turns (wrong values: the sum). Gateway CPU and RSS come from /proc.
//   node --import tsx bench/gateway/index.ts     (BENCH_CYCLES=100 for some cycles only;
//   BENCH_CPU_PROF_DIR=<dir> runs edgetwin and the floor with --cpu-prof into that directory;
//   bench/gateway/profile.ts sums a profile by hot-path part; BENCH_NODE_FLAGS="<flags>" starts both
//   measured processes with those node flags, e.g. --perf-basic-prof for Linux perf or --trace-gc, with
//   edgetwin's stdout shown, and prints each one's pid for `perf record -p`)
// Prints a table and one JSON line. Needs the bundle: `npm run bench` builds it first.

import { fork, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { cpus, loadavg } from 'node:os';
import { build } from 'esbuild';
import { renderTable } from '../../cli/table.ts';
import { freePort, waitFor } from '../../core/testing.ts';
import { benchDevices, writeDeviceYaml } from './devices.ts';
import { CLOCKED_PROPERTIES } from '../modbus/clocked.ts';

const QUICK = process.env.BENCH_QUICK === '1';
const PROFILE_DIR = process.env.BENCH_CPU_PROF_DIR;
const NODE_FLAGS = process.env.BENCH_NODE_FLAGS?.split(/\s+/).filter(Boolean) ?? [];
const CYCLES = (process.env.BENCH_CYCLES?.split(',').map(Number) ?? [1000, 250, 100]);
const WARMUP_S = QUICK ? 3 : 5;
const MEASURE_S = QUICK ? 5 : 15;
const turnsOf = (cycle: number) => (QUICK ? 1 : cycle === 100 ? 3 : 1);
const ENDPOINTS = 10;
const SIMULATOR_PROCESSES = 2;
const GOALS = { deliveredPct: 95, cpuRatio: 0.8, p99Ms: 150, rssMb: 200 };
const ROOT = resolve(import.meta.dirname, '..', '..');
const HERE = import.meta.dirname;

const BUNDLE = join(ROOT, 'dist', 'main.js');
if (!existsSync(BUNDLE)) {
  process.stderr.write(`bench/gateway runs edgetwin from its bundle, and ${BUNDLE} is missing: run \`node scripts/build.mjs\` (npm run bench does)\n`);
  process.exit(2);
}

// The helper processes run bundled (no TypeScript loader in the measured processes), dependencies
// external, from inside the repository so they resolve node_modules.
const CACHE = join(ROOT, 'node_modules', '.cache');
mkdirSync(CACHE, { recursive: true });
const BUILD = mkdtempSync(join(CACHE, 'edgetwin-bench-gateway-'));
await build({
  absWorkingDir: ROOT,
  entryPoints: { simulator: join(HERE, '..', 'modbus', 'simulator.ts'), subscriber: join(HERE, 'subscriber.ts'), floor: join(HERE, 'floor.ts') },
  outdir: BUILD, bundle: true, format: 'esm', platform: 'node', target: 'node20', packages: 'external', logLevel: 'warning',
  outExtension: { '.js': '.mjs' },
});
const forkJs = (file: string, args: string[], profile = false) => fork(join(BUILD, file), args, { cwd: ROOT, execArgv: !profile ? [] : PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}`, '--cpu-prof-name=floor.cpuprofile', ...NODE_FLAGS] : NODE_FLAGS, env: { ...process.env, EDGETWIN_BENCH_MODBUS_MAP: join(HERE, '..', 'modbus', 'register-map.json') }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });

function once<T>(child: ChildProcess, pick: (m: Record<string, unknown>) => boolean): Promise<T> {
  return new Promise((resolve, reject) => {
    const onExit = (code: number | null) => reject(new Error(`${child.spawnargs.join(' ')} exited with ${code}`));
    const onMessage = (m: Record<string, unknown>) => {
      if (!pick(m)) return;
      child.off('message', onMessage);
      child.off('exit', onExit);
      resolve(m as T);
    };
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}
const ask = <T>(child: ChildProcess, message: object, pick: (m: Record<string, unknown>) => boolean) => {
  const r = once<T>(child, pick);
  child.send(message);
  return r;
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const exited = (child: ChildProcess) => new Promise((r) => (child.exitCode !== null || child.signalCode !== null ? r(undefined) : child.once('exit', r)));

/** CPU seconds a process has used in user and in system (kernel) mode, from /proc. */
function cpuParts(pid: number): { user: number; sys: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { user: Number(f[11]) / 100, sys: Number(f[12]) / 100 };
}
/** CPU seconds (user + system) a process has used. */
function cpuSeconds(pid: number): number {
  const { user, sys } = cpuParts(pid);
  return user + sys;
}
function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : 0;
}

const ports = await Promise.all(Array.from({ length: ENDPOINTS }, freePort));
const simulators = Array.from({ length: SIMULATOR_PROCESSES }, (_, i) => forkJs('simulator.mjs', ports.filter((_, k) => k % SIMULATOR_PROCESSES === i).map(String)));
await Promise.all(simulators.map((s) => once(s, (m) => m.ready === true)));
await Promise.all(simulators.map((s) => ask(s, { clocked: true }, (m) => m.clocked === true)));
const offeredPerCycle = benchDevices(ports).length * CLOCKED_PROPERTIES.length;

interface Outcome {
  side: 'edgetwin' | 'floor';
  cycle: number;
  valuesPerSec: number;
  deliveredPct: number;
  wrong: number;
  p50Ms?: number;
  p99Ms?: number;
  cpuPct: number;
  /** The part of cpuPct spent in the kernel (system time). */
  sysCpuPct: number;
  rssMb: number;
  valuesPerCpuSecond: number;
  subscriberCpuPct: number;
  heapUsedMb?: number;
  externalMb?: number;
  simulatorCpuPct: number;
  firstError?: string;
}

async function startEdgetwin(cycle: number, dir: string, mqttPort: number): Promise<{ child: ChildProcess; apiPort: number }> {
  const devicesFile = join(dir, 'devices.yaml');
  writeDeviceYaml(devicesFile, ports, cycle);
  const apiPort = await freePort();
  const bin = join(ROOT, 'cli', 'bin', 'edgetwin.js');
  // Profiled, node takes --cpu-prof on its command line (NODE_OPTIONS refuses it), with the
  // bin's own shebang flags, so the process is otherwise the one users start.
  const shebangFlags = readFileSync(bin, 'utf8').split('\n')[0]!.split(/\s+/).filter((a) => a.startsWith('--'));
  const profileFlags = PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}`] : [];
  const [command, prefix] = PROFILE_DIR || NODE_FLAGS.length ? [process.execPath, [...shebangFlags, ...profileFlags, ...NODE_FLAGS, bin]] : [bin, []];
  const child = spawn(command, [...prefix, 'run', '--devices', devicesFile, '--data-dir', join(dir, 'data'), '--api-port', String(apiPort), '--mqtt-port', String(mqttPort), '--node-name', 'bench', '--no-live', '--log-level', 'warn'], { cwd: ROOT, stdio: ['ignore', NODE_FLAGS.length ? 'inherit' : 'ignore', 'inherit'] });
  const failed = new Promise<never>((_, reject) => child.once('exit', (code) => reject(new Error(`edgetwin run exited with ${code} before it was up (its stderr is above)`))));
  await Promise.race([failed, waitFor('edgetwin to start', async () => (await fetch(`http://127.0.0.1:${apiPort}/healthz`).catch(() => undefined))?.ok, 60_000, 100)]);
  failed.catch(() => undefined);
  if (NODE_FLAGS.length) process.stderr.write(`edgetwin run: pid ${child.pid}\n`);
  return { child, apiPort };
}

async function heapOf(apiPort: number): Promise<{ heapUsedMb?: number; externalMb?: number }> {
  const text = await (await fetch(`http://127.0.0.1:${apiPort}/metrics`)).text();
  const mb = (name: string) => { const m = new RegExp(`^${name} ([0-9.e+]+)`, 'm').exec(text); return m ? Number(m[1]) / 2 ** 20 : undefined; };
  return { heapUsedMb: mb('nodejs_heap_size_used_bytes'), externalMb: mb('nodejs_external_memory_bytes') };
}

async function startFloor(cycle: number, dir: string, mqttPort: number): Promise<{ child: ChildProcess }> {
  const child = forkJs('floor.mjs', [JSON.stringify({ ports, cycleMs: cycle, mqttPort, dbFile: join(dir, 'floor.db') })], true);
  await once(child, (m) => m.ready === true);
  if (NODE_FLAGS.length) process.stderr.write(`floor: pid ${child.pid}\n`);
  return { child };
}

async function measure(side: 'edgetwin' | 'floor', cycle: number): Promise<Outcome> {
  process.stderr.write(`${side} at ${cycle} ms cycles...\n`);
  const dir = mkdtempSync(join(CACHE, 'edgetwin-bench-gateway-run-'));
  const mqttPort = await freePort();
  const started: { child: ChildProcess; apiPort?: number } = side === 'edgetwin' ? await startEdgetwin(cycle, dir, mqttPort) : await startFloor(cycle, dir, mqttPort);
  const gateway = started.child;
  const subscriber = forkJs('subscriber.mjs', [JSON.stringify({ url: `mqtt://127.0.0.1:${mqttPort}` })]);
  try {
    await once(subscriber, (m) => m.ready === true);
    await sleep(WARMUP_S * 1000);
    const simPids = simulators.map((s) => s.pid!);
    const sim0 = simPids.map(cpuSeconds);
    const cpu0 = cpuSeconds(gateway.pid!);
    const sys0 = cpuParts(gateway.pid!).sys;
    const t0 = performance.now();
    await ask(subscriber, { open: true }, (m) => m.opened === true);
    let rss = rssMb(gateway.pid!);
    const end = Date.now() + MEASURE_S * 1000;
    while (Date.now() < end) {
      await sleep(500);
      rss = Math.max(rss, rssMb(gateway.pid!));
    }
    const { result: r } = await ask<{ result: { delivered: number; wrong: number; seconds: number; cpuSeconds: number; p50Ms?: number; p99Ms?: number; firstError?: string } }>(subscriber, { close: true }, (m) => m.result !== undefined);
    const seconds = (performance.now() - t0) / 1000;
    const cpu = cpuSeconds(gateway.pid!) - cpu0;
    // The kernel's share (socket and file writes): CPU that a JavaScript profile does not show.
    const sys = cpuParts(gateway.pid!).sys - sys0;
    // Where edgetwin's resident memory goes: its V8 heap and the memory outside it (buffers, SQLite).
    const heap = started.apiPort ? await heapOf(started.apiPort) : undefined;
    const simCpu = Math.max(...simPids.map((p, i) => cpuSeconds(p) - sim0[i]!));
    const valuesPerSec = r.delivered / r.seconds;
    return {
      side, cycle, valuesPerSec, deliveredPct: (100 * valuesPerSec) / (offeredPerCycle * (1000 / cycle)), wrong: r.wrong, p50Ms: r.p50Ms, p99Ms: r.p99Ms,
      cpuPct: (100 * cpu) / seconds, sysCpuPct: (100 * sys) / seconds, rssMb: rss, valuesPerCpuSecond: cpu > 0 ? r.delivered / (cpu * (r.seconds / seconds)) : 0,
      ...heap, subscriberCpuPct: (100 * r.cpuSeconds) / r.seconds, simulatorCpuPct: (100 * simCpu) / seconds, firstError: r.firstError,
    };
  } finally {
    subscriber.kill();
    gateway.kill('SIGTERM');
    await Promise.all([exited(subscriber), exited(gateway)]);
    rmSync(dir, { recursive: true, force: true });
  }
}

const runs: Outcome[] = [];
try {
  for (const cycle of CYCLES) {
    for (let t = 0; t < turnsOf(cycle); t++) {
      runs.push(await measure('edgetwin', cycle));
      runs.push(await measure('floor', cycle));
    }
  }
} finally {
  for (const s of simulators) s.kill();
  rmSync(BUILD, { recursive: true, force: true });
}

/** Each figure's median over the turns: the machine is shared, and one bad window must not decide. */
const medianOf = (side: string, cycle: number): Outcome => {
  const xs = runs.filter((r) => r.side === side && r.cycle === cycle);
  const mid = <T>(pick: (o: Outcome) => T | undefined): T | undefined => {
    const v = xs.map(pick).filter((x): x is T => x !== undefined).sort((a, b) => Number(a) - Number(b));
    return v[Math.floor(v.length / 2)];
  };
  return {
    side: xs[0]!.side, cycle, valuesPerSec: mid((o) => o.valuesPerSec)!, deliveredPct: mid((o) => o.deliveredPct)!, wrong: xs.reduce((n, o) => n + o.wrong, 0),
    p50Ms: mid((o) => o.p50Ms), p99Ms: mid((o) => o.p99Ms), cpuPct: mid((o) => o.cpuPct)!, sysCpuPct: mid((o) => o.sysCpuPct)!, rssMb: mid((o) => o.rssMb)!, valuesPerCpuSecond: mid((o) => o.valuesPerCpuSecond)!,
    subscriberCpuPct: mid((o) => o.subscriberCpuPct)!, simulatorCpuPct: mid((o) => o.simulatorCpuPct)!, heapUsedMb: mid((o) => o.heapUsedMb), externalMb: mid((o) => o.externalMb),
  };
};
const f0 = (n: number | undefined) => (n === undefined ? '-' : Math.round(n).toString());
const f1 = (n: number) => n.toFixed(1);
const rows: string[][] = [];
const cycles: Record<string, object> = {};
let pass = true;
for (const cycle of CYCLES) {
  const e = medianOf('edgetwin', cycle);
  const f = medianOf('floor', cycle);
  for (const o of [e, f]) rows.push([String(cycle), o.side, f0(offeredPerCycle * (1000 / cycle)), f0(o.valuesPerSec), f1(o.deliveredPct), String(o.wrong), f0(o.p50Ms), f0(o.p99Ms), f0(o.cpuPct), f0(o.rssMb), f0(o.valuesPerCpuSecond), f0(o.subscriberCpuPct), f0(o.simulatorCpuPct)]);
  const cpuRatio = e.valuesPerCpuSecond / f.valuesPerCpuSecond;
  const met = e.deliveredPct >= GOALS.deliveredPct && e.wrong === 0 && cpuRatio >= GOALS.cpuRatio && (e.p99Ms ?? Infinity) < GOALS.p99Ms && e.rssMb < GOALS.rssMb;
  if (cycle === 100) pass = met;
  cycles[String(cycle)] = {
    deliveredPct: round1(e.deliveredPct), wrong: e.wrong, p50Ms: e.p50Ms, p99Ms: e.p99Ms, rssMb: round1(e.rssMb), cpuPct: round1(e.cpuPct),
    valuesPerSec: Math.round(e.valuesPerSec), valuesPerCpuSecond: Math.round(e.valuesPerCpuSecond),
    floorValuesPerCpuSecond: Math.round(f.valuesPerCpuSecond), floorDeliveredPct: round1(f.deliveredPct), floorWrong: f.wrong, floorP99Ms: f.p99Ms, floorRssMb: round1(f.rssMb), floorCpuPct: round1(f.cpuPct),
    cpuRatio: Math.round(cpuRatio * 1000) / 1000, goalsMet: met,
  };
}
function round1(n: number): number { return Math.round(n * 10) / 10; }

process.stdout.write(`\nbench/gateway: edgetwin run vs the floor, ${benchDevices(ports).length} devices x ${CLOCKED_PROPERTIES.length} properties on ${ENDPOINTS} endpoints, ${MEASURE_S} s windows after ${WARMUP_S} s${QUICK ? ' (BENCH_QUICK)' : ''}; medians of ${CYCLES.map((c) => `${turnsOf(c)} turn(s) at ${c} ms`).join(', ')}\n\n`);
process.stdout.write(renderTable(['cycle ms', 'side', 'offered/s', 'values/s', 'delivered %', 'wrong', 'p50 ms', 'p99 ms', 'CPU %', 'RSS MB', 'values/CPU-s', 'subscriber CPU %', 'simulator CPU %'], rows));
for (const r of runs) if (r.firstError) process.stdout.write(`${r.side} at ${r.cycle} ms, first wrong value: ${r.firstError}\n`);
if (runs.some((r) => r.cycle === 100)) {
  process.stdout.write(`\ngoals at 100 ms: delivered >= ${GOALS.deliveredPct}%, 0 wrong, values/CPU-s >= ${GOALS.cpuRatio * 100}% of the floor's, p99 < ${GOALS.p99Ms} ms, RSS < ${GOALS.rssMb} MB: ${pass ? 'met' : 'MISSED'}\n`);
  process.stdout.write(`each turn at 100 ms, delivered % and values/CPU-s: edgetwin ${runs.filter((r) => r.cycle === 100 && r.side === 'edgetwin').map((r) => f1(r.deliveredPct)).join(', ')}; floor ${runs.filter((r) => r.cycle === 100 && r.side === 'floor').map((r) => f1(r.deliveredPct)).join(', ')}\n`);
  process.stdout.write(`values/CPU-s of each turn at 100 ms: edgetwin ${runs.filter((r) => r.cycle === 100 && r.side === 'edgetwin').map((r) => f0(r.valuesPerCpuSecond)).join(', ')}; floor ${runs.filter((r) => r.cycle === 100 && r.side === 'floor').map((r) => f0(r.valuesPerCpuSecond)).join(', ')}\n`);
}
process.stdout.write(`load average at the end: ${loadavg().map((l) => l.toFixed(1)).join(', ')} on ${cpus().length} cores (figures from a loaded machine are noisy; CPU per value is the steadiest)\n`);
process.stdout.write(`${JSON.stringify({ bench: 'gateway', loadAverage: loadavg()[0], quick: QUICK, devices: benchDevices(ports).length, properties: CLOCKED_PROPERTIES.length, measureSeconds: MEASURE_S, cycles, goals: GOALS, pass, runs })}\n`);
process.exit(pass ? 0 : 1);
