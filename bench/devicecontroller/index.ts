// `npm run bench -- devicecontroller` (BENCH_QUICK=1: 20 gateways, shorter runs). 200 simulated
// gateways x 50 devices x 10 properties report into the DeviceController, which writes
// DeviceStatus objects into the Kubernetes API stand-in (in this process; the controller runs in a
// child). Two scenarios: dense (every property of every device changes every second: 100,000
// changes/s in 10,000 twin messages/s) and sparse (a fixed 1% of the devices change every second).
// Latency = from an edge change until the DeviceStatus, read back through a watch on the API,
// shows that value or a newer one. Writes are counted at the API server (every status write the
// stand-in stores), per wall-clock second. KubeEdge's scheme (one status patch per edge twin
// message) is counted from the same stream, without sending it. Prints a table and one JSON line.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { silentLogger } from '../../core/log.ts';
import { waitFor } from '../../core/testing.ts';
import { Informer } from '../../hub/controllers/informer.ts';
import { installCrds } from '../../hub/controllers/install-crds.ts';
import { collectionPath, loadKube } from '../../hub/controllers/kube.ts';
import { startKubeApiServer } from '../../hub/testing/kube-apiserver/index.ts';

const here = dirname(fileURLToPath(import.meta.url));
const quick = process.env.BENCH_QUICK === '1';
const GATEWAYS = Number(process.env.BENCH_GATEWAYS ?? (quick ? 20 : 200));
const DEVICES = 50;
const PROPS = 10;
const BUDGET = 50;
const N = GATEWAYS * DEVICES;
const DENSE_SECONDS = quick ? 10 : 30;
const SPARSE_SECONDS = quick ? 15 : 30;
const G = 'devices.kubeedge.io';
const STATUS_KEY = `${G}/devicestatuses`;

const work = mkdtempSync(join(tmpdir(), 'edgetwin-bench-devctl-'));
const api = await startKubeApiServer({ historyLimit: 200_000 });
const kube = loadKube(api.kubeconfigPath);
await installCrds(kube);
process.stdout.write(`creating ${N} Devices on ${GATEWAYS} nodes...\n`);
await kube.request('POST', collectionPath(G, 'v1beta1', 'devicemodels', 'default'), {
  body: { apiVersion: `${G}/v1beta1`, kind: 'DeviceModel', metadata: { name: 'm' }, spec: { protocol: 'virtual', properties: Array.from({ length: PROPS }, (_, p) => ({ name: `p${p}`, type: 'INT', accessMode: 'ReadOnly' })) } },
});
const names: string[] = [];
for (let g = 0; g < GATEWAYS; g++) for (let d = 0; d < DEVICES; d++) names.push(`g${g}-d${d}`);
for (let i = 0; i < names.length; i += 16) {
  await Promise.all(names.slice(i, i + 16).map((name) => kube.request('POST', collectionPath(G, 'v1beta1', 'devices', 'default'), {
    body: { apiVersion: `${G}/v1beta1`, kind: 'Device', metadata: { name }, spec: { nodeName: `gw-${name.slice(1, name.indexOf('-'))}`, deviceModelRef: { name: 'm' }, protocol: { protocolName: 'virtual' }, properties: Array.from({ length: PROPS }, (_, p) => ({ name: `p${p}` })) } },
  })));
}

// Every status write as the API server stores it, by wall-clock time.
const writeTimes: number[] = [];
api.store.subscribe({ key: STATUS_KEY, deliver: (e) => { if (e.type === 'MODIFIED') writeTimes.push(Date.now()); }, end: () => undefined });
// What the API shows, read back through a watch: per device, when each newer value appeared.
const seen = new Map<string, Array<{ at: number; newest: number }>>();
const informer = new Informer<{ metadata?: { name?: string }; status?: { twins?: Array<{ reported?: { metadata?: { timestamp?: string } } }> } }>(kube, {
  path: collectionPath(G, 'v1beta1', 'devicestatuses'), resyncMs: 0, backoff: { firstMs: 200, maxMs: 2000 }, log: silentLogger,
});
informer.on({
  update: (o) => {
    const newest = Math.max(...(o.status?.twins ?? []).map((t) => Number(t.reported?.metadata?.timestamp ?? 0)));
    if (!Number.isFinite(newest) || newest <= 0) return;
    const list = seen.get(o.metadata!.name!) ?? [];
    if (list.length === 0 || list.at(-1)!.newest < newest) list.push({ at: Date.now(), newest });
    seen.set(o.metadata!.name!, list);
  },
});
await informer.start();

const child = spawn(process.execPath, ['--import', 'tsx', join(here, 'gateways.ts'), api.kubeconfigPath, String(GATEWAYS), String(DEVICES), String(PROPS), String(BUDGET), work], { stdio: ['pipe', 'pipe', 'inherit'] });
const lines: Array<Record<string, any>> = [];
createInterface({ input: child.stdout! }).on('line', (l) => { try { lines.push(JSON.parse(l)); } catch { /* not ours */ } });
const line = (key: string, timeoutMs: number) => waitFor(`"${key}" from the controller child`, () => lines.find((l) => key in l)?.[key] ?? (child.exitCode !== null ? Promise.reject(new Error('the child exited')) : undefined), timeoutMs, 100);
await line('ready', 300_000);
await waitFor('every DeviceStatus created', () => api.store.list(STATUS_KEY).length >= N, 600_000, 200);

interface Result { scenario: string; messages: number; kubeedgeWritesPerSec: number; apiWritesPerSec: number; p50Ms: number; p99Ms: number; maxMs: number; unseen: number }

async function scenario(name: 'dense' | 'sparse', seconds: number, drainMs: number): Promise<Result> {
  process.stdout.write(`${name}: ${seconds} s of changes, then up to ${Math.round(drainMs / 1000)} s for the last to show...\n`);
  lines.length = 0;
  const firstWrite = writeTimes.length;
  child.stdin!.write(`${JSON.stringify({ run: { scenario: name, seconds } })}\n`);
  const ran = await line('ran', (seconds + 120) * 1000) as { changes: Record<string, number[]>; messages: number; seconds: number };
  // Drain: until every device shows its last change (or the bound passes).
  const last = Object.entries(ran.changes).map(([d, times]) => [d, times.at(-1)!] as const);
  await waitFor('every last change visible', () => last.every(([d, t]) => (seen.get(d)?.at(-1)?.newest ?? 0) >= t), drainMs, 500).catch(() => undefined);
  const latencies: number[] = [];
  let unseen = 0;
  for (const [d, times] of Object.entries(ran.changes)) {
    const views = seen.get(d) ?? [];
    let v = 0;
    for (const t of times) {
      while (v < views.length && views[v]!.newest < t) v++;
      if (v >= views.length) { unseen++; continue; }
      latencies.push(views[v]!.at - t);
    }
  }
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))]! : NaN;
  const writes = writeTimes.slice(firstWrite);
  const perSecond = new Map<number, number>();
  for (const t of writes) perSecond.set(Math.floor(t / 1000), (perSecond.get(Math.floor(t / 1000)) ?? 0) + 1);
  return {
    scenario: name, messages: ran.messages,
    kubeedgeWritesPerSec: Math.round(ran.messages / ran.seconds),
    apiWritesPerSec: Math.max(0, ...perSecond.values()),
    p50Ms: pct(0.5), p99Ms: pct(0.99), maxMs: latencies.at(-1) ?? NaN, unseen,
  };
}

const denseBoundMs = Math.round(1.5 * (N / BUDGET) * 1000 + 2000);
const sparse = await scenario('sparse', SPARSE_SECONDS, 60_000);
const dense = await scenario('dense', DENSE_SECONDS, denseBoundMs + 30_000);
child.stdin!.write(`${JSON.stringify({ stop: true })}\n`);
await new Promise((r) => child.once('exit', r));
await informer.stop();
await api.stop();
rmSync(work, { recursive: true, force: true });

console.log(`\n${GATEWAYS} gateways x ${DEVICES} devices x ${PROPS} properties = ${N} devices; budget ${BUDGET} writes/s, 1 write/device/s`);
console.log('scenario | edge msgs | KubeEdge scheme writes/s | API writes/s (max in a second) | p50 ms | p99 ms | max ms | changes never shown');
for (const r of [sparse, dense]) console.log(`${r.scenario} | ${r.messages} | ${r.kubeedgeWritesPerSec} | ${r.apiWritesPerSec} | ${r.p50Ms} | ${r.p99Ms} | ${r.maxMs} | ${r.unseen}`);
const goals = {
  writesWithinBudget: Math.max(sparse.apiWritesPerSec, dense.apiWritesPerSec) <= BUDGET,
  sparseP99Under5s: sparse.p99Ms < 5000,
  denseP99WithinBound: dense.p99Ms <= denseBoundMs,
};
console.log(JSON.stringify({
  bench: 'devicecontroller', gateways: GATEWAYS, devices: N, properties: PROPS,
  apiWritesPerSec: Math.max(sparse.apiWritesPerSec, dense.apiWritesPerSec), budgetWritesPerSec: BUDGET,
  p99Ms: sparse.p99Ms, denseP99Ms: dense.p99Ms, denseBoundMs,
  kubeedgeSchemeWritesPerSec: dense.kubeedgeWritesPerSec,
  sparse, dense, goals,
}));
process.exit(Object.values(goals).every(Boolean) ? 0 : 1);
