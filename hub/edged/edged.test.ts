// Edged against a real containerd and runc (each test starts its own, with its own bridge and
// subnet, and removes them). Skipped with the reason printed where the binaries are missing.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { silentLogger } from '../../core/log.ts';
import { waitFor } from '../../core/testing.ts';
import { connectCri, type Cri } from './cri/client.ts';
import { startEdged, type Edged } from './edged.ts';
import type { PodStatus } from './pod.ts';
import { DirPodSource, type StatusSink } from './source.ts';
import { containerdMissing, MISSING_IMAGE, startContainerd, TEST_IMAGE, type TestContainerd } from './testing/containerd.ts';

const missing = containerdMissing();
if (missing) console.log(`# skipping edged tests: ${missing}`);

let subnet = 40 + (process.pid % 150);

/** One containerd, one bridge, one gateway data dir, one pods folder per test. */
async function setup(t: { after(fn: () => Promise<void>): void }, opts: { backoffBaseMs?: number } = {}) {
  const n = subnet++;
  const bridge = `ettest${n}`;
  const ctd = await startContainerd();
  const dataDir = mkdtempSync(join(tmpdir(), 'edgetwin-edged-data-'));
  const podsDir = mkdtempSync(join(tmpdir(), 'edgetwin-edged-pods-'));
  const source = new DirPodSource([podsDir]);
  const patches: { key: string; status: PodStatus }[] = [];
  const removed: string[] = [];
  const sink: StatusSink = {
    podStatus: (pod, status) => patches.push({ key: `${pod.namespace}/${pod.name}`, status }),
    podRemoved: (pod) => removed.push(`${pod.namespace}/${pod.name}`),
    runtime: () => undefined,
  };
  const cfg = {
    containerd: ctd.endpoint,
    cniBinDir: ctd.cniBinDir,
    cniConfDir: ctd.cniConfDir,
    bridge,
    podCidr: `10.${n}.7.0/24`,
    dataDir,
    nodeName: 'edge-test',
    syncIntervalMs: 200,
    backoffBaseMs: opts.backoffBaseMs ?? 1000,
    extraEnv: { EDGETWIN_API_URL: 'http://10.0.0.1:7180' },
  };
  let edged: Edged | undefined = await startEdged(cfg, source, silentLogger, sink);
  const cri: Cri = await connectCri(ctd.endpoint);
  t.after(async () => {
    await edged?.close();
    cri.close();
    await ctd.stop({ bridge });
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(podsDir, { recursive: true, force: true });
  });
  const write = (file: string, yaml: string) => {
    writeFileSync(join(podsDir, file), yaml);
    const problems = source.reload();
    assert.deepEqual(problems, []);
  };
  const remove = (file: string) => {
    rmSync(join(podsDir, file));
    source.reload();
  };
  const pod = (name: string, ns = 'default') => edged!.pods().find((p) => p.name === name && p.namespace === ns);
  const exec = async (podName: string, container: string, cmd: string[]) => {
    const cs = pod(podName)!.status!.containerStatuses.find((c) => c.name === container)!;
    const r = await cri.runtime.execSync(cs.containerID!.replace('containerd://', ''), cmd, 10);
    return { out: r.stdout.toString(), code: r.exitCode };
  };
  const restart = async () => {
    await edged!.close();
    edged = await startEdged(cfg, source, silentLogger, sink);
  };
  return { ctd, cri, cfg, bridge, dataDir, podsDir, source, patches, removed, write, remove, pod, exec, restart, edged: () => edged! };
}

const running = (s: PodStatus | undefined) => s?.phase === 'Running' && s.containerStatuses.every((c) => c.state.running);

describe('edged with a real containerd', { skip: missing, timeout: 300_000 }, () => {
  test('a pod with a command runs, its status goes Running with podIP and startTime, and its log is written', async (t) => {
    const e = await setup(t);
    e.write('hello.yaml', `
apiVersion: v1
kind: Pod
metadata: { name: hello, namespace: default }
spec:
  containers:
    - name: main
      image: ${TEST_IMAGE}
      command: ["/bin/sh", "-c"]
      args: ["echo hello from a pod; exec sleep 3600"]
      resources: { requests: { cpu: 100m }, limits: { cpu: 500m, memory: 64Mi } }
`);
    const st = await waitFor('pod hello Running', () => { const s = e.pod('hello')?.status; return running(s) && s; }, 60_000, 100);
    assert.match(st.podIP ?? '', new RegExp(`^10\\.${e.cfg.podCidr.split('.')[1]}\\.7\\.`));
    assert.ok(st.startTime);
    assert.equal(st.containerStatuses[0]!.restartCount, 0);
    assert.equal(st.conditions.find((c) => c.type === 'Ready')?.status, 'True');
    // The status was sent as patches along the way: first Pending, then Running.
    const phases = e.patches.filter((p) => p.key === 'default/hello').map((p) => p.status.phase);
    assert.equal(phases[0], 'Pending');
    assert.equal(phases.at(-1), 'Running');
    const mem = await e.exec('hello', 'main', ['/bin/cat', '/sys/fs/cgroup/memory/memory.limit_in_bytes']);
    if (mem.code === 0) assert.equal(mem.out.trim(), String(64 * 1024 * 1024));
    const env = await e.exec('hello', 'main', ['/bin/sh', '-c', 'echo $EDGETWIN_API_URL']);
    assert.equal(env.out.trim(), 'http://10.0.0.1:7180');
    const { readFileSync } = await import('node:fs');
    const dir = e.edged().logDirectory('default', 'hello')!;
    await waitFor('log line', () => readFileSync(join(dir, 'main', '0.log'), 'utf8').includes('hello from a pod'), 20_000, 100);
  });
});
