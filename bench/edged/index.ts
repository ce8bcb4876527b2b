// bench/edged: 20 pods (busybox, sleep) assigned at once to one gateway through the Kubernetes API
// stand-in (`edgetwin cloud` and `edgetwin run --cloud` as processes, bench/edged/cloud-path.ts):
// time from each pod's creation in the API to Running in its status there, and the gateway's
// extra CPU and memory per pod. Side by side, the floor: the same 20 pods started by bare CRI calls
// (RunPodSandbox with the same CNI config, CreateContainer, StartContainer), and edged standalone
// (pods from a folder, in this process: assignment -> Running in edged's own view). Each side on a
// fresh containerd of its own.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger, silentLogger } from '../../core/log.ts';
import { waitFor } from '../../core/testing.ts';
import { writeConflist } from '../../hub/edged/cni.ts';
import { connectCri, type Cri } from '../../hub/edged/cri/client.ts';
import { startEdged } from '../../hub/edged/edged.ts';
import { DirPodSource } from '../../hub/edged/source.ts';
import { containerdMissing, startContainerd, TEST_IMAGE, type TestContainerd } from '../../hub/edged/testing/containerd.ts';
import { viaCloud } from './cloud-path.ts';

const PODS = Number(process.env.EDGED_BENCH_PODS ?? 20);
const GOALS = { p50OverFloorMs: 500, p99OverFloorMs: 1000 };

const missing = containerdMissing();
if (missing) {
  console.log(`bench/edged skipped: ${missing}`);
  console.log(JSON.stringify({ bench: 'edged', skipped: missing }));
  process.exit(0);
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
};

async function emptyRuntime(cri: Cri): Promise<void> {
  for (const c of await cri.runtime.listContainers()) {
    await cri.runtime.stopContainer(c.id, 0);
    await cri.runtime.removeContainer(c.id);
  }
  for (const s of await cri.runtime.listPodSandbox()) {
    await cri.runtime.stopPodSandbox(s.id);
    await cri.runtime.removePodSandbox(s.id);
  }
}

async function floor(cri: Cri, logDir: string): Promise<number[]> {
  return Promise.all(Array.from({ length: PODS }, async (_, i) => {
    const t0 = performance.now();
    const config = { metadata: { name: `floor-${i}`, uid: `floor-uid-${i}`, namespace: 'bench', attempt: 0 }, hostname: `floor-${i}`, logDirectory: join(logDir, `floor-${i}`), linux: {} };
    const sb = await cri.runtime.runPodSandbox(config);
    const c = await cri.runtime.createContainer(sb, { metadata: { name: 'main' }, image: { image: TEST_IMAGE }, command: ['/bin/sleep', '3600'], logPath: 'main/0.log' }, config);
    await cri.runtime.startContainer(c);
    return performance.now() - t0;
  }));
}

async function viaEdged(endpoint: string, cniConfDir: string, bridge: string, podCidr: string): Promise<{ latencies: number[]; rssPerPodKb: number; cpuMsPerPod: number }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'edgetwin-bench-edged-'));
  const podsDir = mkdtempSync(join(tmpdir(), 'edgetwin-bench-pods-'));
  const source = new DirPodSource([podsDir]);
  const edged = await startEdged({ containerd: endpoint, cniBinDir: '/usr/lib/cni', cniConfDir, bridge, podCidr, dataDir, nodeName: 'bench', syncIntervalMs: 1000 }, source, process.env.EDGED_BENCH_LOG ? createLogger({ level: 'info' }) : silentLogger);
  try {
    await waitFor('edged to reach containerd', () => edged.runtime().reachable, 30_000, 50);
    const docs = Array.from({ length: PODS }, (_, i) => `apiVersion: v1\nkind: Pod\nmetadata: { name: pod-${i}, namespace: bench }\nspec:\n  terminationGracePeriodSeconds: 0\n  containers: [{ name: main, image: ${TEST_IMAGE}, command: ["/bin/sleep", "3600"] }]\n`);
    writeFileSync(join(podsDir, 'pods.yaml'), docs.join('---\n'));
    global.gc?.();
    const rss0 = process.memoryUsage().rss;
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    source.reload();
    const runningAt = new Map<string, number>();
    await waitFor('all pods Running', () => {
      for (const p of edged.pods()) {
        if (!runningAt.has(p.name) && p.status?.phase === 'Running' && p.status.containerStatuses.every((c) => c.state.running)) runningAt.set(p.name, performance.now() - t0);
      }
      return runningAt.size === PODS;
    }, 120_000, 5);
    const cpu = process.cpuUsage(cpu0);
    const rssPerPodKb = Math.round((process.memoryUsage().rss - rss0) / 1024 / PODS);
    writeFileSync(join(podsDir, 'pods.yaml'), '');
    source.reload();
    await waitFor('all pods removed', () => edged.pods().length === 0, 120_000, 50);
    return { latencies: [...runningAt.values()], rssPerPodKb, cpuMsPerPod: Math.round((cpu.user + cpu.system) / 1000 / PODS) };
  } finally {
    await edged.close();
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(podsDir, { recursive: true, force: true });
  }
}

/** Each side gets a fresh containerd of its own: a second run on one would pay for the first's teardown. */
async function withContainerd<T>(fn: (ctd: TestContainerd, bridge: string, podCidr: string) => Promise<T>): Promise<T> {
  const ctd = await startContainerd();
  const bridge = `etbench${process.pid % 100}`;
  const podCidr = `10.252.${process.pid % 200}.0/24`;
  try {
    return await fn(ctd, bridge, podCidr);
  } finally {
    await ctd.stop({ bridge });
  }
}

const floorMs = await withContainerd(async (ctd, bridge, podCidr) => {
  const cri = await connectCri(ctd.endpoint);
  const logDir = mkdtempSync(join(tmpdir(), 'edgetwin-bench-floor-'));
  try {
    writeConflist({ bridge, podCidr, confDir: ctd.cniConfDir, ipamDir: join(logDir, 'ipam') });
    // containerd picks the conflist up on its own; the floor must not race it.
    await waitFor('containerd network ready', async () => (await cri.runtime.status()).find((c) => c.type === 'NetworkReady')?.status === true, 30_000, 100);
    const ms = await floor(cri, logDir);
    await emptyRuntime(cri);
    return ms;
  } finally {
    cri.close();
    rmSync(logDir, { recursive: true, force: true });
  }
});
const e = await withContainerd((ctd, bridge, podCidr) => viaEdged(ctd.endpoint, ctd.cniConfDir, bridge, podCidr));
const c = await withContainerd((ctd, bridge, podCidr) => viaCloud(ctd, bridge, podCidr, PODS));
{
  const r = {
    bench: 'edged',
    source: 'API stand-in -> edgetwin cloud -> edgetwin run --cloud',
    pods: PODS,
    p50Ms: Math.round(pct(c.latencies, 50)),
    p99Ms: Math.round(pct(c.latencies, 99)),
    floorP50Ms: Math.round(pct(floorMs, 50)),
    floorP99Ms: Math.round(pct(floorMs, 99)),
    rssPerPodKb: c.rssPerPodKb,
    cpuMsPerPod: c.cpuMsPerPod,
    standaloneP50Ms: Math.round(pct(e.latencies, 50)),
    standaloneP99Ms: Math.round(pct(e.latencies, 99)),
  };
  const met = r.p50Ms - r.floorP50Ms <= GOALS.p50OverFloorMs && r.p99Ms - r.floorP99Ms <= GOALS.p99OverFloorMs;
  console.log(`  ${PODS} pods at once                                  p50 ms   p99 ms`);
  console.log(`  through the API (created -> Running in the API)  ${String(r.p50Ms).padStart(6)}   ${String(r.p99Ms).padStart(6)}`);
  console.log(`  edged standalone (assigned -> Running)           ${String(r.standaloneP50Ms).padStart(6)}   ${String(r.standaloneP99Ms).padStart(6)}`);
  console.log(`  floor (bare CRI calls)                           ${String(r.floorP50Ms).padStart(6)}   ${String(r.floorP99Ms).padStart(6)}`);
  console.log(`  goal: p50 within ${GOALS.p50OverFloorMs} ms, p99 within ${GOALS.p99OverFloorMs} ms of the floor ${met ? 'met' : 'MISSED'}`);
  console.log(`  gateway per pod: ${r.rssPerPodKb} KB RSS, ${r.cpuMsPerPod} ms CPU (standalone edged: ${e.rssPerPodKb} KB, ${e.cpuMsPerPod} ms)`);
  console.log(JSON.stringify({ ...r, goals: GOALS, pass: met }));
}
