// One side of bench/opcua's unpaced mode alone, for profiling: `node --import tsx bench/opcua/side.ts
// floor|edgetwin [seconds]` starts the unpaced servers, measures that side alone for `seconds` (default
// 8) after the usual warm-up, and prints its result as one JSON line. With node's
// --perf-basic-prof-only-functions, `perf record -p <pid>` (the pid is printed on stderr at the start
// of the window) sees the side and nothing else; the full comparison stays bench/opcua/index.ts's.

import { rmSync } from 'node:fs';
import { startTestServer } from '../../mappers/opcua/testing/spawn.ts';
import { benchDataDir, measureEdgetwin, measureFloor } from './measure.ts';

const side = process.argv[2];
if (side !== 'floor' && side !== 'edgetwin') {
  process.stderr.write('usage: node --import tsx bench/opcua/side.ts floor|edgetwin [seconds]\n');
  process.exit(2);
}
const measureMs = Number(process.argv[3] ?? 8) * 1000;
const SERVERS = Number(process.env.BENCH_OPCUA_SERVERS ?? 2);
const ITEMS = 10_000;
const PERIOD_MS = 50;

const dataDir = benchDataDir();
const servers = await Promise.all(Array.from({ length: SERVERS }, () => startTestServer({ trustAll: true, bench: ITEMS / SERVERS, benchPeriod: PERIOD_MS })));
try {
  const settings = {
    urls: servers.map((s) => s.url), serverPids: servers.map((s) => s.child.pid!), items: ITEMS, periodMs: PERIOD_MS, queueSize: 1,
    warmupMs: 6000, measureMs, dataDir,
  };
  process.stderr.write(`pid ${process.pid}: ${side} measures from ${settings.warmupMs / 1000} s after subscribing, for ${measureMs / 1000} s\n`);
  const result = side === 'floor' ? await measureFloor(settings) : await measureEdgetwin(settings);
  console.log(JSON.stringify({ side, ...result }));
} finally {
  await Promise.all(servers.map((s) => s.stop()));
  rmSync(dataDir, { recursive: true, force: true });
}
