// The cloud path of bench/edged: the Kubernetes API stand-in, `edgetwin cloud` with its
// EdgeController and one gateway (`edgetwin run --cloud`, edged on) as child processes of the
// built bin, on a containerd of its own. N pods bound to the gateway are created in the API at
// once; latency = from each pod's creation in the API to the first time its status there says
// Running (read from the stand-in's store, the same objects kubectl reads). The gateway's extra
// resident memory and CPU per pod come from /proc.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort, waitFor } from '../../core/testing.ts';
import { join as joinCloud } from '../../hub/join/client.ts';
import { TEST_IMAGE, type TestContainerd } from '../../hub/edged/testing/containerd.ts';
import { startKubeApiServer } from '../../hub/testing/kube-apiserver/index.ts';
import { storageKey } from '../../hub/testing/kube-apiserver/resources.ts';

const ROOT = resolve(import.meta.dirname, '..', '..');
const BIN = join(ROOT, 'cli', 'bin', 'edgetwin.js');
const NODE = 'bench-gw';

function start(args: string[], env: NodeJS.ProcessEnv): { child: ChildProcess; log: () => string } {
  const child = spawn(BIN, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout!.on('data', (c: Buffer) => (log = (log + c).slice(-2_000_000)));
  child.stderr!.on('data', (c: Buffer) => (log = (log + c).slice(-2_000_000)));
  return { child, log: () => log };
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await Promise.race([gone, new Promise((r) => setTimeout(r, 10_000))]);
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

/** Resident memory (KB) and CPU time (ms) of one process, from /proc. */
function usage(pid: number): { rssKb: number; cpuMs: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return { rssKb, cpuMs: (ticks * 1000) / 100 };
}

export async function viaCloud(ctd: TestContainerd, bridge: string, podCidr: string, pods: number): Promise<{ latencies: number[]; rssPerPodKb: number; cpuMsPerPod: number }> {
  const work = mkdtempSync(join(tmpdir(), 'edgetwin-bench-edged-cloud-'));
  const api = await startKubeApiServer();
  const children: ChildProcess[] = [];
  try {
    const env = { KUBECONFIG: api.kubeconfigPath };
    const [port, joinPort, httpPort, apiPort, mqttPort] = [await freePort(), await freePort(), await freePort(), await freePort(), await freePort()];
    const stateDir = join(work, 'cloud');
    // The cloud keeps its ACK record in ObjectSync objects: the CRDs come first, as for a user.
    const crds = start(['cloud', 'install-crds'], env);
    await new Promise((r) => crds.child.once('exit', r));
    const cloud = start(['cloud', '--port', String(port), '--join-port', String(joinPort), '--http-port', String(httpPort), '--state-dir', stateDir, '--advertise', '127.0.0.1', '--log-level', 'warn'], env);
    children.push(cloud.child);
    await waitFor('the cloud', async () => (await fetch(`http://127.0.0.1:${httpPort}/healthz`).catch(() => undefined))?.ok, 60_000, 100);
    // With Kubernetes the CA lives in the Secret edgetwin-ca: the token comes from there.
    const token = start(['cloud', 'token'], env);
    await new Promise((r) => token.child.once('exit', r));
    const data = join(work, 'gw');
    await joinCloud({ cloud: `127.0.0.1:${joinPort}`, token: token.log().trim().split('\n').at(-1)!, nodeName: NODE, dataDir: data });
    const config = join(work, 'edgetwin.yaml');
    writeFileSync(config, `edged:\n  containerd: ${ctd.endpoint}\n  cniConfDir: ${ctd.cniConfDir}\n  bridge: ${bridge}\n  podCidr: ${podCidr}\n`);
    const gw = start(['run', '--cloud', `wss://127.0.0.1:${port}`, '--config', config, '--data-dir', data, '--api-port', String(apiPort), '--mqtt-port', String(mqttPort), '--no-live', '--log-level', process.env.EDGED_BENCH_LOG ? 'debug' : 'warn'], {});
    children.push(gw.child);
    const nodes = api.registry.catalog.find('', 'v1', 'nodes')!;
    const podType = api.registry.catalog.find('', 'v1', 'pods')!;
    await waitFor('the gateway registered, containerd reachable', () => {
      if (gw.child.exitCode !== null) throw new Error(`the gateway exited: ${gw.log()}`);
      const n = api.registry.list(nodes).find((x) => x.metadata.name === NODE);
      return n?.status?.nodeInfo?.containerRuntimeVersion ? n : undefined;
    }, 60_000, 100);
    // Let the gateway settle before its baseline.
    await new Promise((r) => setTimeout(r, 2000));
    const before = usage(gw.child.pid!);

    const created = new Map<string, number>();
    for (let i = 0; i < pods; i++) {
      const name = `pod-${i}`;
      api.registry.create(podType, 'default', {
        apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'default' },
        spec: { nodeName: NODE, terminationGracePeriodSeconds: 0, containers: [{ name: 'main', image: TEST_IMAGE, command: ['/bin/sleep', '3600'] }] },
      });
      created.set(name, performance.now());
    }
    const running = new Map<string, number>();
    const seen = (p: { metadata: { name: string; namespace?: string }; status?: { phase?: string; containerStatuses?: { state?: { running?: unknown } }[] } }) => {
      const name = p.metadata.name;
      if (p.metadata.namespace !== 'default' || running.has(name) || !created.has(name)) return;
      if (p.status?.phase === 'Running' && (p.status.containerStatuses ?? []).every((c) => c.state?.running)) running.set(name, performance.now() - created.get(name)!);
    };
    // Every write of a pod, as the stand-in's store makes it: exact times, and no polling. (A 5 ms
    // poll of list() copied every pod 200 times a second in this process, the API server's, and
    // took CPU from the gateway and containerd being measured.)
    const unsubscribe = api.registry.store.subscribe({ key: storageKey(podType), deliver: (e) => seen(e.object as Parameters<typeof seen>[0]), end: () => undefined });
    try {
      for (const p of api.registry.list(podType, 'default')) seen(p as Parameters<typeof seen>[0]);
      await waitFor('every pod Running in the API', () => running.size === pods, 180_000, 100);
    } finally {
      unsubscribe();
    }
    const after = usage(gw.child.pid!);
    // EDGED_BENCH_LOG=<file>: the gateway's log and the pods' creation times, to see where time goes.
    if (process.env.EDGED_BENCH_LOG) writeFileSync(process.env.EDGED_BENCH_LOG, `${JSON.stringify({ createdAt: Date.now() - (performance.now() - Math.min(...created.values())) })}\n${gw.log()}`);
    return {
      latencies: [...running.values()],
      rssPerPodKb: Math.round((after.rssKb - before.rssKb) / pods),
      cpuMsPerPod: Math.round((after.cpuMs - before.cpuMs) / pods),
    };
  } finally {
    for (const c of children.reverse()) await stop(c);
    await api.stop();
    rmSync(work, { recursive: true, force: true });
  }
}
