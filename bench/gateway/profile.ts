// Where a value's CPU goes: sums a V8 CPU profile of `edgetwin run` (from bench/gateway with
// BENCH_CPU_PROF_DIR=<dir>) by the part of the hot path each sample's own function belongs to,
// mapped back to its source file through the bundle's source maps.
//   node --import tsx bench/gateway/profile.ts <file.cpuprofile> [--last <seconds>]
// --last keeps only the profile's final seconds: the measured window, without start-up.

import { existsSync, readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { fileURLToPath } from 'node:url';
import { renderTable } from '../../cli/table.ts';

interface CallFrame { functionName: string; url: string; lineNumber: number; columnNumber: number }
interface ProfileNode { id: number; callFrame: CallFrame; children?: number[] }
interface Profile { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] }

const file = process.argv[2];
if (!file) {
  process.stderr.write('usage: profile.ts <file.cpuprofile> [--last <seconds>]\n');
  process.exit(2);
}
const lastAt = process.argv.indexOf('--last');
const lastUs = lastAt > 0 ? Number(process.argv[lastAt + 1]) * 1e6 : Infinity;
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;

const maps = new Map<string, SourceMap | undefined>();
function sourceOf(f: CallFrame): string {
  if (!f.url.startsWith('file://')) return f.url || `(${f.functionName || 'native'})`;
  const path = fileURLToPath(f.url);
  if (!maps.has(path)) maps.set(path, existsSync(`${path}.map`) ? new SourceMap(JSON.parse(readFileSync(`${path}.map`, 'utf8'))) : undefined);
  const entry = maps.get(path)?.findEntry(f.lineNumber, f.columnNumber) as { originalSource?: string } | undefined;
  // Sources named relative to the generated file (a package's ../source/x.ts) keep their package in the path.
  return entry?.originalSource ? new URL(entry.originalSource, f.url).pathname : path;
}

/** The hot path's parts, first match wins; a source path or a V8 pseudo-function name. */
const PARTS: [string, RegExp][] = [
  ['idle', /^\((idle|program)\)$/],
  ['devices folder watch (fs.watch recursive)', /recursive_watch/],
  ['garbage collection', /^\(garbage collector\)$/],
  ['Modbus client (frames, sockets)', /mappers\/modbus\/|modbus-serial/],
  ['decode (codec)', /mappers\/sdk\/(codec|convert)/],
  ['report filter', /mappers\/sdk\/report|core\/values/],
  ['mapper runtime (scheduler, runner, metrics)', /mappers\/sdk\//],
  ['twin (reported, delta, changes)', /twin\/(twin|entry|desired|reconcile|types)/],
  ['SQLite (store, better-sqlite3)', /twin\/store|better-sqlite3/],
  ['MQTT encode (data/update JSON, eventbus)', /twin\/(kubeedge|eventbus|bus-transport)/],
  ['the floor itself (bench/gateway/floor.ts)', /floor\.mjs$|bench\/gateway\/floor/],
  ['broker (aedes, mqtt-packet)', /aedes|mqtt-packet|mqemitter|qlobber|fastfall|fastparallel|reusify|bl\/|readable-stream/],
  ['OPC UA client (node-opcua)', /node-opcua/],
  ['OPC UA driver', /mappers\/opcua\//],
  ['bench harness', /bench\/(opcua|modbus)\//],
  ['metrics (prom-client)', /prom-client/],
  ['log (pino)', /pino/],
  ['node core (net, streams, timers)', /^node:|^internal\//],
];

const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parentOf = new Map<number, ProfileNode>();
for (const n of profile.nodes) for (const c of n.children ?? []) parentOf.set(c, n);
/** A native function or Node's own JavaScript (a syscall binding, a stream) counts for the code that called it. */
function owner(n: ProfileNode): ProfileNode {
  if (/^\((idle|program|garbage collector|root)\)$/.test(n.callFrame.functionName)) return n;
  let at: ProfileNode | undefined = n;
  while (at && !/^file:|recursive_watch/.test(at.callFrame.url)) at = parentOf.get(at.id);
  return at ?? n;
}
const total = profile.timeDeltas.reduce((a, b) => a + b, 0);
const parts = new Map<string, number>();
const functions = new Map<string, number>();
let elapsed = 0;
let kept = 0;
for (let i = 0; i < profile.samples.length; i++) {
  elapsed += profile.timeDeltas[i]!;
  if (total - elapsed > lastUs) continue;
  const dt = profile.timeDeltas[i + 1] ?? 0;
  const node = byId.get(profile.samples[i]!)!;
  const f = node.callFrame;
  const o = owner(node).callFrame;
  const source = sourceOf(o);
  const key = o.url ? source : o.functionName;
  const part = PARTS.find(([, re]) => re.test(key))?.[0] ?? (o.url ? 'other JavaScript' : 'other native');
  parts.set(part, (parts.get(part) ?? 0) + dt);
  const fn = `${f.functionName || '(anonymous)'}${f.url ? '' : ` in ${o.functionName || '(anonymous)'}`} ${source.replace(/^.*\/(node_modules\/)?/, '')}`;
  functions.set(fn, (functions.get(fn) ?? 0) + dt);
  kept += dt;
}
const busy = kept - (parts.get('idle') ?? 0);
const pct = (us: number) => ((100 * us) / busy).toFixed(1);
const rows = [...parts].filter(([p]) => p !== 'idle').sort((a, b) => b[1] - a[1]).map(([p, us]) => [p, (us / 1000).toFixed(0), pct(us)]);
process.stdout.write(`${(kept / 1e6).toFixed(1)} s of profile, ${(busy / 1e6).toFixed(2)} s busy (idle left out of the shares)\n\n`);
process.stdout.write(renderTable(['part', 'self ms', '% of busy'], rows));
process.stdout.write('\n');
const top = [...functions].filter(([f]) => !f.startsWith('(idle)') && !f.startsWith('(program)')).sort((a, b) => b[1] - a[1]).slice(0, 30);
process.stdout.write(renderTable(['function source', 'self ms', '% of busy'], top.map(([f, us]) => [f, (us / 1000).toFixed(0), pct(us)])));
