// `edgetwin run --pods` as a user runs it: the gateway process with its pods on a real containerd,
// `edgetwin pods` and `edgetwin logs`, a gateway killed with -9 that adopts its running
// containers, and a gateway whose containerd is missing that keeps its devices running.

import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { waitFor } from '../core/testing.ts';
import { connectCri } from '../hub/edged/cri/client.ts';
import type { PodStatus } from '../hub/edged/pod.ts';
import { containerdMissing, startContainerd, TEST_IMAGE } from '../hub/edged/testing/containerd.ts';
import { cli, ROOT, startGatewayProcess, type GatewayProcess } from './helpers/gateway-process.ts';

interface PodJson { namespace: string; name: string; status?: PodStatus }

const podsOf = async (apiUrl: string): Promise<PodJson[]> => {
  const r = await cli(['pods', '--json', '--api-url', apiUrl]);
  assert.equal(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout) as { pods: PodJson[] }).pods;
};

const POD = `
apiVersion: v1
kind: Pod
metadata: { name: web, namespace: default }
spec:
  terminationGracePeriodSeconds: 1
  containers:
    - name: main
      image: ${TEST_IMAGE}
      command: ["/bin/sh", "-c", "i=0; while true; do echo line $i; i=$((i+1)); sleep 0.2; done"]
`;

function tempDirs() {
  const dirs = {
    devices: mkdtempSync(join(tmpdir(), 'edgetwin-edged-dev-')),
    pods: mkdtempSync(join(tmpdir(), 'edgetwin-edged-pods-')),
    data: mkdtempSync(join(tmpdir(), 'edgetwin-edged-data-')),
    conf: mkdtempSync(join(tmpdir(), 'edgetwin-edged-conf-')),
  };
  return { ...dirs, remove: () => Object.values(dirs).forEach((d) => rmSync(d, { recursive: true, force: true })) };
}

describe('edgetwin run --pods', () => {
  it('with no containerd reachable: a warning, devices keep running, pods wait; never an exit', async (t) => {
    const d = tempDirs();
    t.after(d.remove);
    cpSync(join(ROOT, 'examples', 'quickstart'), d.devices, { recursive: true });
    writeFileSync(join(d.pods, 'web.yaml'), POD);
    const config = join(d.conf, 'edgetwin.yaml');
    writeFileSync(config, `edged:\n  containerd: unix://${d.conf}/no-such.sock\n  cniConfDir: ${d.conf}/cni\n  bridge: etnone0\n  podCidr: 10.250.9.0/24\n`);
    const gw = await startGatewayProcess({ devices: [d.devices], dataDir: d.data, extra: ['--pods', d.pods, '--config', config] });
    t.after(() => gw.stop());
    await waitFor('the containerd warning', () => gw.log().includes('cannot reach containerd'), 30_000, 100);
    await waitFor('devices online', async () => {
      const r = await cli(['devices', '--json', '--api-url', gw.apiUrl]);
      return (JSON.parse(r.stdout) as { devices: { state: string }[] }).devices.every((x) => x.state === 'online');
    }, 30_000, 200);
    const table = await cli(['pods', '--api-url', gw.apiUrl]);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /default\s+web\s+0\/1\s+Pending/);
    const [web] = await podsOf(gw.apiUrl);
    assert.match(web!.status!.conditions.find((c) => c.type === 'PodReadyToStartContainers')!.message!, /cannot be reached/);
    assert.equal(gw.child.exitCode, null, 'the gateway is still running');
  });

  const missing = containerdMissing();
  it('runs the pods, lists them, prints their logs, adopts them after kill -9 and rebuilds them after all containers died', { skip: missing, timeout: 240_000 }, async (t) => {
    const d = tempDirs();
    const ctd = await startContainerd();
    const bridge = `etgw${process.pid % 1000}`;
    const alive: { gw?: GatewayProcess } = {};
    // The gateway goes first: a live one would rebuild the pods containerd is being emptied of.
    t.after(async () => {
      await alive.gw?.stop();
      await ctd.stop({ bridge });
      d.remove();
    });
    writeFileSync(join(d.pods, 'web.yaml'), POD);
    const config = join(d.conf, 'edgetwin.yaml');
    writeFileSync(config, [
      'edged:',
      `  containerd: ${ctd.endpoint}`,
      `  cniConfDir: ${ctd.cniConfDir}`,
      `  bridge: ${bridge}`,
      `  podCidr: 10.251.${process.pid % 200}.0/24`,
      '  syncIntervalMs: 200',
      '',
    ].join('\n'));
    const start = async () => (alive.gw = await startGatewayProcess({ devices: [d.devices], dataDir: d.data, extra: ['--pods', d.pods, '--config', config] }));
    const runningWeb = async (apiUrl: string) => {
      const web = (await podsOf(apiUrl)).find((p) => p.name === 'web');
      return web?.status?.phase === 'Running' && web.status.containerStatuses[0]?.state.running ? web.status : undefined;
    };

    let gw = await start();
    const first = await waitFor('web Running', () => runningWeb(gw.apiUrl), 60_000, 200);
    const table = await cli(['pods', '--api-url', gw.apiUrl]);
    assert.match(table.stdout, /NAMESPACE\s+NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\s+IP/);
    assert.match(table.stdout, new RegExp(`default\\s+web\\s+1/1\\s+Running\\s+0\\s+\\S+\\s+${first.podIP!.replace(/\./g, '\\.')}`));
    await waitFor('three log lines', async () => /line 2\n/.test((await cli(['logs', 'default/web', '--api-url', gw.apiUrl])).stdout), 30_000, 200);
    const logs = await cli(['logs', 'default/web', '-c', 'main', '--api-url', gw.apiUrl]);
    assert.match(logs.stdout, /^line 0\nline 1\nline 2\n/);
    // -f keeps printing what the container writes after the command started.
    const { spawn } = await import('node:child_process');
    const follow = spawn(process.execPath, [join(ROOT, 'cli', 'bin', 'edgetwin.js'), 'logs', 'default/web', '-f', '--api-url', gw.apiUrl], { stdio: ['ignore', 'pipe', 'pipe'] });
    let followed = '';
    follow.stdout.on('data', (c: Buffer) => (followed += c));
    const seen = (await cli(['logs', 'default/web', '--api-url', gw.apiUrl])).stdout.split('\n').filter(Boolean).length;
    await waitFor('followed lines beyond the first read', () => followed.includes(`line ${seen + 5}\n`), 30_000, 100);
    follow.kill('SIGINT');
    assert.equal(await new Promise((r) => follow.once('exit', r)), 0);

    const metrics = await (await fetch(`${gw.apiUrl}/metrics`)).text();
    assert.match(metrics, /edgetwin_edged_pods\{phase="Running"\} 1/);
    assert.match(metrics, /edgetwin_edged_runtime_up 1/);
    const bad = await cli(['logs', 'default/web', '-c', 'nope', '--api-url', gw.apiUrl]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /no container nope; its containers: main/);

    await gw.stop('SIGKILL');
    gw = await start();
    const adopted = await waitFor('web Running after kill -9', () => runningWeb(gw.apiUrl), 60_000, 200);
    assert.equal(adopted.containerStatuses[0]!.containerID, first.containerStatuses[0]!.containerID, 'adopted, not restarted');
    assert.equal(adopted.containerStatuses[0]!.restartCount, 0);

    await gw.stop('SIGKILL');
    const cri = await connectCri(ctd.endpoint);
    for (const c of await cri.runtime.listContainers()) await cri.runtime.stopContainer(c.id, 0);
    for (const s of await cri.runtime.listPodSandbox()) await cri.runtime.stopPodSandbox(s.id);
    cri.close();
    gw = await start();
    const rebuilt = await waitFor('web Running again', async () => {
      const s = await runningWeb(gw.apiUrl);
      return s && s.containerStatuses[0]!.containerID !== first.containerStatuses[0]!.containerID ? s : undefined;
    }, 60_000, 200);
    assert.equal(rebuilt.phase, 'Running');
  });
});
