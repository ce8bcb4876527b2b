// `npm run bench -- opcua` or `node --import tsx bench/opcua/index.ts` (BENCH_QUICK=1 for a short
// run). Two modes, one after the other, each side in turn against the same servers:
//  - paced: 1,000 monitored items changing every 100 ms on one node-opcua server, read by a bare
//    node-opcua subscription (the floor) and by edgetwin's OPC UA driver under the mapper runtime,
//    with the same sampling and publishing intervals and queue size (10,000 values/s: both keep up,
//    and the comparison is latency: the goal is judged from each publish response's arrival, since
//    the source-to-sink figure is mostly the server's timer phase, see measure.ts);
//  - unpaced: 10,000 items changing every 50 ms (200,000 values/s) on SERVERS servers, so the
//    subscribers, not the servers, are the limit (the servers' CPU is shown to prove it): values/s
//    received and the subscriber's CPU per 1,000 values.
// Three runs a side in each mode (one with BENCH_QUICK=1). Prints tables, then one JSON line.

import { rmSync } from 'node:fs';
import { loadavg } from 'node:os';
import { startTestServer, type TestServer } from '../../mappers/opcua/testing/spawn.ts';
import { benchDataDir, measureEdgetwin, measureFloor, type BenchSettings, type SideResult } from './measure.ts';

const quick = process.env.BENCH_QUICK === '1';
const repeats = quick ? 1 : 3;
const GOALS = { ratio: 0.9, p99DeltaMs: 50 };
const UNPACED_GOALS = { ratio: 0.9, cpuRatio: 1.2 };
/** Servers for the unpaced mode: each serves 10,000 / SERVERS items. */
const SERVERS = Number(process.env.BENCH_OPCUA_SERVERS ?? 2);
/** A server's CPU above this share of a core may be what limits a side. */
const SERVER_HEADROOM_PCT = 80;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;
const dataDir = benchDataDir();

async function runBoth(settings: BenchSettings): Promise<{ floors: SideResult[]; edgetwins: SideResult[] }> {
  const floors: SideResult[] = [];
  const edgetwins: SideResult[] = [];
  for (let i = 0; i < repeats; i++) {
    floors.push(await measureFloor(settings));
    edgetwins.push(await measureEdgetwin(settings));
  }
  return { floors, edgetwins };
}

async function withServers<T>(count: number, items: number, periodMs: number, fn: (servers: TestServer[]) => Promise<T>): Promise<T> {
  const servers = await Promise.all(Array.from({ length: count }, () => startTestServer({ trustAll: true, bench: items / count, benchPeriod: periodMs })));
  try {
    return await fn(servers);
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
  }
}
const settingsFor = (servers: TestServer[], items: number, periodMs: number, queueSize: number): BenchSettings => ({
  urls: servers.map((s) => s.url), serverPids: servers.map((s) => s.child.pid!), items, periodMs, queueSize,
  // Creating thousands of monitored items takes the servers a few seconds: warm up past it.
  warmupMs: items > 1000 ? 6000 : quick ? 2000 : 4000, measureMs: quick ? 4000 : 8000, dataDir,
});

let paced: BenchSettings & { floors: SideResult[]; edgetwins: SideResult[] };
let unpaced: BenchSettings & { floors: SideResult[]; edgetwins: SideResult[] };
try {
  process.stderr.write('paced: 1,000 items every 100 ms...\n');
  paced = await withServers(1, 1000, 100, async (servers) => {
    const s = { ...settingsFor(servers, 1000, 100, 1), measureMs: quick ? 4000 : 10_000 };
    return { ...s, ...(await runBoth(s)) };
  });
  process.stderr.write(`unpaced: 10,000 items every 50 ms on ${SERVERS} servers...\n`);
  unpaced = await withServers(SERVERS, 10_000, 50, async (servers) => {
    const s = settingsFor(servers, 10_000, 50, 1);
    return { ...s, ...(await runBoth(s)) };
  });
} finally {
  rmSync(dataDir, { recursive: true, force: true });
}

// Source-to-sink latency depends on where the server's sampling and publishing timers fall relative
// to its change timer, a phase set by chance when the subscription is created, and moves by up to a
// publishing interval from run to run whoever subscribes; the median run of each side is shown. The
// goal compares what each subscriber adds once the publish response has arrived: latency from its
// arrival to the sink. Throughput takes the best run (the machine is shared).
const summary = (runs: SideResult[]) => ({
  valuesPerSec: Math.max(...runs.map((r) => r.valuesPerSec)),
  p50Ms: median(runs.map((r) => r.p50Ms)),
  p99Ms: median(runs.map((r) => r.p99Ms)),
  arrivalP50Ms: median(runs.map((r) => r.arrivalP50Ms)),
  arrivalP99Ms: median(runs.map((r) => r.arrivalP99Ms)),
});
const floor = summary(paced.floors);
const edgetwin = summary(paced.edgetwins);
const ratio = Math.round((edgetwin.valuesPerSec / floor.valuesPerSec) * 1000) / 1000;
/** Source to sink: shown, not judged (the timer phase dominates it). */
const p99DeltaMs = edgetwin.p99Ms - floor.p99Ms;
/** Publish response's arrival to sink: what edgetwin adds; the goal. */
const arrivalP99DeltaMs = edgetwin.arrivalP99Ms - floor.arrivalP99Ms;
const pacedPass = ratio >= GOALS.ratio && arrivalP99DeltaMs <= GOALS.p99DeltaMs;

// Unpaced, each side by its median run, values/s and CPU per value alike.
const u = (runs: SideResult[]) => ({
  valuesPerSec: median(runs.map((r) => r.valuesPerSec)),
  cpuMsPer1000: median(runs.map((r) => r.cpuMsPer1000)),
  serverCpuPctMax: Math.max(...runs.flatMap((r) => r.serverCpuPct)),
});
const uf = u(unpaced.floors);
const ue = u(unpaced.edgetwins);
const uRatio = Math.round((ue.valuesPerSec / uf.valuesPerSec) * 1000) / 1000;
const uCpuRatio = Math.round((ue.cpuMsPer1000 / uf.cpuMsPer1000) * 1000) / 1000;
const unpacedPass = uRatio >= UNPACED_GOALS.ratio && uCpuRatio <= UNPACED_GOALS.cpuRatio;
const headroom = Math.max(uf.serverCpuPctMax, ue.serverCpuPctMax) < SERVER_HEADROOM_PCT;
const pass = pacedPass && unpacedPass;

function print(title: string, rows: string[][]): void {
  const w = [0, 1, 2].map((c) => Math.max(...rows.map((r) => r[c]!.length)));
  console.log(title);
  for (const r of rows) console.log(`  ${r[0]!.padEnd(w[0]!)}  ${r[1]!.padStart(w[1]!)}  ${r[2]!.padStart(w[2]!)}  ${r[3]}`);
}
print(`bench/opcua, paced: 1000 monitored items changing every 100 ms, sampling and publishing 100 ms, queue size ${paced.queueSize}, ${paced.measureMs / 1000} s per run, ${repeats} run(s) each: best values/s, median latency`, [
  ['', 'floor (bare node-opcua)', 'edgetwin', 'goal'],
  ['values/s', String(floor.valuesPerSec), String(edgetwin.valuesPerSec), `edgetwin >= ${GOALS.ratio * 100}% of floor (${(ratio * 100).toFixed(1)}%)`],
  ['latency p50, from source', `${floor.p50Ms} ms`, `${edgetwin.p50Ms} ms`, 'mostly the server\'s timer phase, set by chance per run'],
  ['latency p99, from source', `${floor.p99Ms} ms`, `${edgetwin.p99Ms} ms`, `(${p99DeltaMs >= 0 ? '+' : ''}${p99DeltaMs} ms, not judged)`],
  ['latency p50, from arrival', `${floor.arrivalP50Ms} ms`, `${edgetwin.arrivalP50Ms} ms`, ''],
  ['latency p99, from arrival', `${floor.arrivalP99Ms} ms`, `${edgetwin.arrivalP99Ms} ms`, `edgetwin <= floor + ${GOALS.p99DeltaMs} ms (${arrivalP99DeltaMs >= 0 ? '+' : ''}${arrivalP99DeltaMs} ms)`],
]);
console.log(`  ${pacedPass ? 'PASS' : 'FAIL'}\n`);
print(`bench/opcua, unpaced: 10,000 monitored items changing every 50 ms (200,000 values/s offered) on ${SERVERS} servers, sampling and publishing 50 ms, queue size ${unpaced.queueSize}, ${unpaced.measureMs / 1000} s per run, ${repeats} run(s) each: median run`, [
  ['', 'floor (bare node-opcua)', 'edgetwin', 'goal'],
  ['values/s', String(uf.valuesPerSec), String(ue.valuesPerSec), `edgetwin >= ${UNPACED_GOALS.ratio * 100}% of floor (${(uRatio * 100).toFixed(1)}%)`],
  ['CPU ms per 1,000 values', uf.cpuMsPer1000.toFixed(2), ue.cpuMsPer1000.toFixed(2), `edgetwin <= ${UNPACED_GOALS.cpuRatio} x floor (${uCpuRatio.toFixed(2)} x)`],
  ['busiest server CPU %', String(uf.serverCpuPctMax), String(ue.serverCpuPctMax), `< ${SERVER_HEADROOM_PCT}% of a core: ${headroom ? 'the servers have headroom' : 'a server may be the limit'}`],
]);
console.log(`  ${unpacedPass ? 'PASS' : 'FAIL'}`);
// On a shared machine a starved server shows little CPU yet delivers little: the load says so.
console.log(`  load average at the end: ${loadavg().map((l) => l.toFixed(1)).join(', ')} on this machine's cores`);
console.log(JSON.stringify({
  bench: 'opcua', quick, items: paced.items, periodMs: paced.periodMs, queueSize: paced.queueSize, measureSeconds: paced.measureMs / 1000, floor, edgetwin, ratio, p99DeltaMs, arrivalP99DeltaMs,
  runs: { floor: paced.floors, edgetwin: paced.edgetwins }, goals: GOALS, pacedPass,
  unpaced: {
    items: unpaced.items, periodMs: unpaced.periodMs, servers: SERVERS, measureSeconds: unpaced.measureMs / 1000,
    valuesPerSec: ue.valuesPerSec, floorValuesPerSec: uf.valuesPerSec, cpuMsPer1000: ue.cpuMsPer1000, floorCpuMsPer1000: uf.cpuMsPer1000,
    ratio: uRatio, cpuRatio: uCpuRatio, serverCpuPctMax: { floor: uf.serverCpuPctMax, edgetwin: ue.serverCpuPctMax }, serverHeadroom: headroom,
    runs: { floor: unpaced.floors, edgetwin: unpaced.edgetwins }, goals: UNPACED_GOALS, pass: unpacedPass,
  },
  loadAverage: loadavg()[0], pass,
}));
process.exit(pass ? 0 : 1);
