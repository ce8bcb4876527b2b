// `npm run bench -- opcua` or `node --import tsx bench/opcua/index.ts` (BENCH_QUICK=1 for a short
// run): 1,000 monitored items changing every 100 ms on one node-opcua server, read by a bare
// node-opcua subscription (the floor) and by edgetwin's OPC UA driver under the mapper runtime, with
// the same sampling and publishing intervals and queue size. The two sides alternate, three runs
// each (one with BENCH_QUICK=1). Prints a table, then one JSON line.

import { rmSync } from 'node:fs';
import { startTestServer } from '../../mappers/opcua/testing/spawn.ts';
import { benchDataDir, measureEdgetwin, measureFloor, type BenchSettings, type SideResult } from './measure.ts';

const quick = process.env.BENCH_QUICK === '1';
const items = 1000;
const periodMs = 100;
const repeats = quick ? 1 : 3;
const GOALS = { ratio: 0.9, p99DeltaMs: 50 };

const server = await startTestServer({ trustAll: true, bench: items, benchPeriod: periodMs });
const settings: BenchSettings = { url: server.url, items, periodMs, queueSize: 1, warmupMs: quick ? 2000 : 4000, measureMs: quick ? 4000 : 10_000, dataDir: benchDataDir() };
const floors: SideResult[] = [];
const edgetwins: SideResult[] = [];
try {
  for (let i = 0; i < repeats; i++) {
    floors.push(await measureFloor(settings));
    edgetwins.push(await measureEdgetwin(settings));
  }
} finally {
  await server.stop();
  rmSync(settings.dataDir, { recursive: true, force: true });
}

// Latency depends on where each subscription's publishing timer falls relative to the server's
// change timer, a phase set by chance when the subscription is created: the median run of each side
// is the fair comparison. Throughput takes the best run (the machine is shared).
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;
const summary = (runs: SideResult[]) => ({
  valuesPerSec: Math.max(...runs.map((r) => r.valuesPerSec)),
  p50Ms: median(runs.map((r) => r.p50Ms)),
  p99Ms: median(runs.map((r) => r.p99Ms)),
});
const floor = summary(floors);
const edgetwin = summary(edgetwins);
const ratio = Math.round((edgetwin.valuesPerSec / floor.valuesPerSec) * 1000) / 1000;
const p99DeltaMs = edgetwin.p99Ms - floor.p99Ms;
const pass = ratio >= GOALS.ratio && p99DeltaMs <= GOALS.p99DeltaMs;

const rows: [string, string, string, string][] = [
  ['', 'floor (bare node-opcua)', 'edgetwin', 'goal'],
  ['values/s', String(floor.valuesPerSec), String(edgetwin.valuesPerSec), `edgetwin >= ${GOALS.ratio * 100}% of floor (${(ratio * 100).toFixed(1)}%)`],
  ['latency p50', `${floor.p50Ms} ms`, `${edgetwin.p50Ms} ms`, ''],
  ['latency p99', `${floor.p99Ms} ms`, `${edgetwin.p99Ms} ms`, `edgetwin <= floor + ${GOALS.p99DeltaMs} ms (${p99DeltaMs >= 0 ? '+' : ''}${p99DeltaMs} ms)`],
];
const w = [0, 1, 2].map((c) => Math.max(...rows.map((r) => r[c]!.length)));
console.log(`bench/opcua: ${items} monitored items changing every ${periodMs} ms, sampling and publishing ${periodMs} ms, queue size ${settings.queueSize}, ${settings.measureMs / 1000} s per run, ${repeats} run(s) each: best values/s, median latency`);
for (const r of rows) console.log(`  ${r[0].padEnd(w[0]!)}  ${r[1].padStart(w[1]!)}  ${r[2].padStart(w[2]!)}  ${r[3]}`);
console.log(`  ${pass ? 'PASS' : 'FAIL'}`);
console.log(JSON.stringify({ bench: 'opcua', quick, items, periodMs, queueSize: settings.queueSize, measureSeconds: settings.measureMs / 1000, floor, edgetwin, ratio, p99DeltaMs, runs: { floor: floors, edgetwin: edgetwins }, goals: GOALS, pass }));
process.exit(pass ? 0 : 1);
