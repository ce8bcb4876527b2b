// Sums a Linux `perf` profile of edgetwin run (or the floor) by part of the hot path. V8's own
// --cpu-prof (profile.ts) files native work it cannot see under idle; perf samples every thread
// and native frame (SQLite, the kernel's socket writes, V8's collector on its worker thread).
//   BENCH_QUICK=1 BENCH_CYCLES=100 BENCH_NODE_FLAGS=--perf-basic-prof-only-functions node --import tsx bench/gateway/index.ts
//   perf record -F 999 -g -p <the pid it prints> -o /tmp/gw.data -- sleep 5
//   perf script -i /tmp/gw.data -F tid,ip,sym > /tmp/gw.txt
//   node --import tsx bench/gateway/perf-parts.ts /tmp/gw.txt <CPU % of a core> <values/s>
// (CPU % and values/s from the bench's table, to turn shares into microseconds per value.) A sample
// counts for the first part, in the order below, that any frame of its stack belongs to.

import { readFileSync } from 'node:fs';
import { renderTable } from '../../cli/table.ts';

const PARTS: [string, RegExp][] = [
  ['garbage collection', /v8::internal::(Heap::|Scavenge|MarkCompact|ConcurrentMarking|Sweeper|IncrementalMarking|MinorGC|ArrayBufferSweeper|MemoryAllocator|MarkingVisitor|ScavengerCollector|GCTracer|Evacuat)|MarkingWorklist/],
  ['SQLite', /Statement::JS_run|better_sqlite3|sqlite3|sqliteTransaction|Binder::/],
  ['MQTT out (data/update, event bus, aedes)', /aedes|mqtt-packet|mqemitter|writeToStream|JS:\*publish |JS:\*pub |dataUpdate|publishChange|onChange |DataUpdateWriter|JS:\*write chunk|floor\.mjs.*publish/],
  ['read path (requests, decode, report filter)', /modbus-serial|tcpport|JS:\*ask |JS:\*request |#poll|#receive|ingest|toReading|blockReading|decodeAt|#deliver|#startNext|#arm/],
  ['sparkline history', /PropertyHistory/],
  ['metrics', /prom-client|perf\/observe/],
  ['twin (flush, reported state)', /flushNow|flushCb|writeMarked|committed/],
];

const [file, cpuPct, valuesPerSec] = process.argv.slice(2);
if (!file || !cpuPct || !valuesPerSec) {
  process.stderr.write('usage: perf-parts.ts <perf script output> <CPU % of a core> <values/s>\n');
  process.exit(2);
}
const stacks: string[][] = [];
let current: string[] | undefined;
for (const line of readFileSync(file, 'utf8').split('\n')) {
  if (!line.trim()) {
    if (current) stacks.push(current);
    current = undefined;
  } else if (!current) current = [];
  else current.push(line.trim().split(' ').slice(1).join(' '));
}
if (current) stacks.push(current);

const counts = new Map<string, number>();
for (const frames of stacks) {
  const whole = frames.join('\n');
  const part = PARTS.find(([, re]) => re.test(whole))?.[0] ?? (frames.some((f) => f.startsWith('JS:')) ? 'other JavaScript (node core, timers, streams)' : 'other native (kernel, libuv, malloc)');
  counts.set(part, (counts.get(part) ?? 0) + 1);
}
const usPerValue = (Number(cpuPct) / 100) * 1e6 / Number(valuesPerSec);
const rows = [...counts].sort((a, b) => b[1] - a[1]).map(([part, n]) => [part, (100 * n / stacks.length).toFixed(1), (usPerValue * n / stacks.length).toFixed(2)]);
rows.push(['all', '100', usPerValue.toFixed(2)]);
process.stdout.write(`${stacks.length} samples; ${cpuPct}% of a core at ${valuesPerSec} values/s\n`);
process.stdout.write(renderTable(['part', '% of samples', 'us per value'], rows));
process.stdout.write(`${JSON.stringify({ samples: stacks.length, usPerValue, parts: Object.fromEntries([...counts].map(([k, n]) => [k, +(usPerValue * n / stacks.length).toFixed(3)])) })}\n`);
