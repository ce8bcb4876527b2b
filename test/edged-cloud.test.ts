// Pods from Kubernetes on a gateway, as a user runs it: the Kubernetes API stand-in, `edgetwin
// cloud` with its EdgeController (a child process of the built bin), a gateway joined to it and
// run with `--cloud` on a real containerd, driven with the real kubectl.
// - the gateway registers its Node (kubectl get nodes: Ready, role edge);
// - a pod created with kubectl runs on the gateway with env from a ConfigMap and a Secret the
//   cloud delivered, and kubectl get pods -o wide shows it Running on the node;
// - a pod bound to another node never runs here;
// - autonomy: cloud stopped, gateway killed -9, every container killed, gateway started again with
//   the cloud still down: every pod Running again from MetaManager; a pod deleted meanwhile is
//   stopped once the cloud is back, and the statuses converge;
// - the gateway stopped: its lease lapses and the node goes NotReady.

import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { freePort, waitFor } from '../core/testing.ts';
import { connectCri } from '../hub/edged/cri/client.ts';
import type { PodStatus } from '../hub/edged/pod.ts';
import { containerdMissing, startContainerd, TEST_IMAGE } from '../hub/edged/testing/containerd.ts';
import { startKubeApiServer } from '../hub/testing/kube-apiserver/index.ts';
import { BIN, cli, ROOT, startGatewayProcess, type GatewayProcess } from './helpers/gateway-process.ts';

interface PodJson { namespace: string; name: string; uid: string; status?: PodStatus }

function skipReason(): string | undefined {
  const missing = containerdMissing();
  if (missing) return missing;
  if (spawnSync('kubectl', ['version', '--client'], { stdio: 'ignore' }).status !== 0) return 'kubectl is not installed';
  return undefined;
}

const MANIFESTS = (otherNode: string) => `
apiVersion: v1
kind: ConfigMap
metadata: { name: app-config, namespace: default }
data: { level: debug }
---
apiVersion: v1
kind: Secret
metadata: { name: app-secret, namespace: default }
stringData: { pw: s3cret }
---
apiVersion: v1
kind: Pod
metadata: { name: app, namespace: default }
spec:
  nodeName: test-node
  terminationGracePeriodSeconds: 1
  containers:
    - name: main
      image: ${TEST_IMAGE}
      command: ["/bin/sh", "-c", "echo level=$LEVEL pw=$PASSWORD; trap 'exit 0' TERM; while true; do sleep 0.2; done"]
      env:
        - { name: LEVEL, valueFrom: { configMapKeyRef: { name: app-config, key: level } } }
        - { name: PASSWORD, valueFrom: { secretKeyRef: { name: app-secret, key: pw } } }
---
apiVersion: v1
kind: Pod
metadata: { name: worker, namespace: default }
spec:
  nodeName: test-node
  terminationGracePeriodSeconds: 1
  containers:
    - name: main
      image: ${TEST_IMAGE}
      command: ["/bin/sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.2; done"]
---
apiVersion: v1
kind: Pod
metadata: { name: far, namespace: default }
spec:
  nodeName: ${otherNode}
  containers:
    - { name: main, image: ${TEST_IMAGE}, command: ["/bin/sleep", "3600"] }
`;

describe('pods from Kubernetes through edgetwin cloud', () => {
  const skip = skipReason();
  it('kubectl runs pods on the gateway; autonomy across kill -9 with the cloud down; NotReady when the lease lapses', { skip, timeout: 420_000 }, async (t) => {
    const work = mkdtempSync(join(tmpdir(), 'edgetwin-edged-cloud-'));
    const api = await startKubeApiServer({ leaseGraceMs: 3_000 });
    const ctd = await startContainerd();
    const bridge = `etcl${process.pid % 1000}`;
    const alive: { gw?: GatewayProcess; cloud?: ChildProcess } = {};
    t.after(async () => {
      await alive.gw?.stop('SIGKILL');
      if (alive.cloud && alive.cloud.exitCode === null && alive.cloud.signalCode === null) {
        const gone = new Promise((r) => alive.cloud!.once('exit', r));
        alive.cloud.kill('SIGKILL');
        await gone;
      }
      await ctd.stop({ bridge });
      await api.stop();
      rmSync(work, { recursive: true, force: true });
    });
    const env = { ...process.env, KUBECONFIG: api.kubeconfigPath };
    // Asynchronous: the stand-in answers kubectl from this very process.
    const kubectl = (...args: string[]) => new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
      const child = spawn('kubectl', args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.on('data', (c: Buffer) => (out += c));
      child.stderr.on('data', (c: Buffer) => (err += c));
      child.once('exit', (code) => resolve({ code, out, err }));
    });

    // The cloud with its controllers, and the gateway joined to it.
    const [port, joinPort, httpPort] = [await freePort(), await freePort(), await freePort()];
    const stateDir = join(work, 'cloud');
    let cloudLog = '';
    const startCloud = async () => {
      const child = spawn(BIN, ['cloud', '--port', String(port), '--join-port', String(joinPort), '--http-port', String(httpPort), '--state-dir', stateDir, '--advertise', '127.0.0.1'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
      child.stdout!.on('data', (c: Buffer) => (cloudLog += c));
      child.stderr!.on('data', (c: Buffer) => (cloudLog += c));
      alive.cloud = child;
      await waitFor('the cloud with its controllers', () => {
        if (child.exitCode !== null) throw new Error(`the cloud exited: ${cloudLog}`);
        return cloudLog.includes('controllers running against Kubernetes');
      }, 60_000, 100);
      return child;
    };
    // The cloud keeps its ACK record in ObjectSync objects: the CRDs come first, as for a user.
    const crds = await cli(['cloud', 'install-crds', '--kubeconfig', api.kubeconfigPath]);
    assert.equal(crds.code, 0, crds.stderr);
    let cloud = await startCloud();
    // With Kubernetes the CA lives in the Secret edgetwin-ca: the token comes from there.
    const token = await cli(['cloud', 'token', '--kubeconfig', api.kubeconfigPath]);
    assert.equal(token.code, 0, token.stderr);
    const data = join(work, 'gw');
    const joined = await cli(['join', '--cloud', `127.0.0.1:${joinPort}`, '--token', token.stdout.trim(), '--node-name', 'test-node', '--data-dir', data]);
    assert.equal(joined.code, 0, joined.stderr);
    const config = join(work, 'edgetwin.yaml');
    writeFileSync(config, [
      'cloud:',
      '  reconnect: { first: 0.2, max: 1 }',
      '  node: { statusUpdate: 1, lease: 1 }',
      'edged:',
      `  containerd: ${ctd.endpoint}`,
      `  cniConfDir: ${ctd.cniConfDir}`,
      `  bridge: ${bridge}`,
      `  podCidr: 10.252.${process.pid % 200}.0/24`,
      '  syncIntervalMs: 200',
      '',
    ].join('\n'));
    const devices = join(work, 'devices');
    spawnSync('cp', ['-r', join(ROOT, 'examples', 'quickstart'), devices]);
    const startGateway = async () => (alive.gw = await startGatewayProcess({ devices: [devices], dataDir: data, extra: ['--cloud', `wss://127.0.0.1:${port}`, '--config', config] }));
    let gw = await startGateway();

    // On a failure, what the two processes said.
    t.after(() => {
      if (process.env.EDGETWIN_TEST_LOGS) writeFileSync(process.env.EDGETWIN_TEST_LOGS, `--- cloud\n${cloudLog}\n--- gateway\n${alive.gw?.log() ?? ''}`);
    });

    // The node registers itself; kubectl shows it Ready with the edge role.
    let nodesOut = '';
    await waitFor('kubectl get nodes: test-node Ready', async () => /^test-node\s+Ready\s+edge\s/m.test((nodesOut = (await kubectl('get', 'nodes', '-o', 'wide')).out)), 60_000, 300)
      .catch(async (err: Error) => {
      throw new Error(`${err.message}; kubectl get nodes -o wide:\n${nodesOut}\n${(await kubectl('get', 'node', 'test-node', '-o', 'yaml')).out}`);
    });
    type NodeJson = { status: { nodeInfo: Record<string, string>; capacity: Record<string, string>; conditions: Array<{ type: string; status: string }> } };
    // The runtime's version follows in a status patch once edged reached containerd.
    const node = await waitFor('the node status with containerd', async () => {
      const n = JSON.parse((await kubectl('get', 'node', 'test-node', '-o', 'json')).out) as NodeJson;
      return n.status.nodeInfo.containerRuntimeVersion ? n : undefined;
    }, 60_000, 300);
    assert.match(node.status.nodeInfo.kubeletVersion!, /-edgetwin-/);
    assert.match(node.status.nodeInfo.containerRuntimeVersion!, /^containerd:\/\//);
    assert.equal(node.status.conditions.find((c) => c.type === 'ContainerRuntimeReachable')?.status, 'True');
    assert.ok(Number(node.status.capacity.pods) > 0);

    // A second edge node that never connects: its pods stay in the cloud.
    writeFileSync(join(work, 'other.yaml'), 'apiVersion: v1\nkind: Node\nmetadata: { name: other-node, labels: { node-role.kubernetes.io/edge: "" } }\n');
    assert.equal((await kubectl('apply', '-f', join(work, 'other.yaml'))).code, 0);
    writeFileSync(join(work, 'pods.yaml'), MANIFESTS('other-node'));
    const applied = (await kubectl('apply', '-f', join(work, 'pods.yaml')));
    assert.equal(applied.code, 0, applied.err);

    const wideLine = async (name: string) => (await kubectl('get', 'pods', '-o', 'wide')).out.split('\n').find((l) => l.startsWith(`${name} `)) ?? '';
    await waitFor('kubectl get pods -o wide: app Running on test-node', async () => /\s1\/1\s+Running\s+0\s+\S+\s+\d+\.\d+\.\d+\.\d+\s+test-node\b/.test(await wideLine('app')), 120_000, 300).catch(async (err: Error) => {
      throw new Error(`${err.message}:\n${(await kubectl('get', 'pods', '-o', 'wide')).out}\n${(await kubectl('get', 'pod', 'app', '-o', 'yaml')).out}`);
    });
    await waitFor('worker Running', async () => /\sRunning\s/.test(await wideLine('worker')), 120_000, 300);
    await waitFor('the env from the ConfigMap and the Secret', async () => /level=debug pw=s3cret/.test((await cli(['logs', 'default/app', '--api-url', gw.apiUrl])).stdout), 30_000, 300);

    const podsHere = async (apiUrl: string): Promise<PodJson[]> => {
      const r = await cli(['pods', '--json', '--api-url', apiUrl]);
      assert.equal(r.code, 0, r.stderr);
      return (JSON.parse(r.stdout) as { pods: PodJson[] }).pods;
    };
    assert.deepEqual((await podsHere(gw.apiUrl)).map((p) => p.name).sort(), ['app', 'worker'], 'the pod of other-node never runs here');
    assert.doesNotMatch(await wideLine('far'), /Running/);
    const appBefore = JSON.parse((await kubectl('get', 'pod', 'app', '-o', 'json')).out) as { status: PodStatus };
    const idBefore = appBefore.status.containerStatuses[0]!.containerID;

    // Autonomy: the cloud goes away, the gateway is killed, and so is every container.
    cloud.kill('SIGKILL');
    await new Promise((r) => cloud.once('exit', r));
    await gw.stop('SIGKILL');
    const cri = await connectCri(ctd.endpoint);
    for (const c of await cri.runtime.listContainers()) await cri.runtime.stopContainer(c.id, 0);
    for (const s of await cri.runtime.listPodSandbox()) await cri.runtime.stopPodSandbox(s.id);
    cri.close();
    // Deleted in the cluster while the gateway cannot hear of it.
    assert.equal((await kubectl('delete', 'pod', 'worker', '--wait=false')).code, 0);

    const restartedAt = Date.now();
    gw = await startGateway();
    const running = (p: PodJson | undefined) => p?.status?.phase === 'Running' && Boolean(p.status.containerStatuses[0]?.state.running);
    await waitFor('every pod Running again from MetaManager, the cloud still down', async () => {
      const pods = await podsHere(gw.apiUrl);
      return pods.length === 2 && pods.every(running);
    }, 120_000, 200);
    t.diagnostic(`pods Running again ${Date.now() - restartedAt} ms after the gateway was started (cloud down)`);
    const appOffline = (await podsHere(gw.apiUrl)).find((p) => p.name === 'app')!;
    assert.notEqual(appOffline.status!.containerStatuses[0]!.containerID, idBefore, 'a new container: the old one was killed');

    // The cloud is back: the pod deleted meanwhile is stopped and removed, the statuses converge.
    cloud = await startCloud();
    await waitFor('worker stopped on the gateway', async () => !(await podsHere(gw.apiUrl)).some((p) => p.name === 'worker'), 120_000, 300);
    await waitFor('worker gone from the cluster', async () => /NotFound/.test((await kubectl('get', 'pod', 'worker')).err), 60_000, 300);
    await waitFor('app\'s status in the cluster names the new container', async () => {
      const now = JSON.parse((await kubectl('get', 'pod', 'app', '-o', 'json')).out) as { status: PodStatus };
      return now.status.phase === 'Running' && now.status.containerStatuses[0]?.containerID === appOffline.status!.containerStatuses[0]!.containerID;
    }, 60_000, 300);
    assert.match((await kubectl('get', 'nodes')).out, /^test-node\s+Ready\s/m);

    // The gateway stops: its lease lapses and the cluster marks the node NotReady.
    await gw.stop('SIGTERM');
    await waitFor('kubectl get nodes: test-node NotReady', async () => /^test-node\s+NotReady\s/m.test((await kubectl('get', 'nodes')).out), 60_000, 300);
    assert.doesNotMatch(cloudLog, /"level":50/, 'no error in the cloud log');
  });
});
