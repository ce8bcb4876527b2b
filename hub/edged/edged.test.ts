// Edged against a real containerd and runc (each test starts its own, with its own bridge and
// subnet, and removes them). Skipped with the reason printed where the binaries are missing.

import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { silentLogger } from '../../core/log.ts';
import { waitFor } from '../../core/testing.ts';
import { connectCri, type Cri } from './cri/client.ts';
import { startEdged, type Edged } from './edged.ts';
import type { PodStatus } from './pod.ts';
import { DirPodSource, type StatusSink } from './source.ts';
import { containerdMissing, MISSING_IMAGE, SANDBOX_IMAGE, startContainerd, TEST_IMAGE, type TestContainerd } from './testing/containerd.ts';

const missing = containerdMissing();
if (missing) console.log(`# skipping edged tests: ${missing}`);

let subnet = 40 + (process.pid % 150);

/** One containerd, one bridge, one gateway data dir, one pods folder per test. */
async function setup(t: { after(fn: () => Promise<void>): void }, opts: { backoffBaseMs?: number; syncIntervalMs?: number; onStatus?: (key: string) => void; gateway?: { api: string; mqtt?: string; caFile?: string } } = {}) {
  const n = subnet++;
  const bridge = `ettest${n}`;
  const ctd = await startContainerd();
  const dataDir = mkdtempSync(join(tmpdir(), 'edgetwin-edged-data-'));
  const podsDir = mkdtempSync(join(tmpdir(), 'edgetwin-edged-pods-'));
  const source = new DirPodSource([podsDir]);
  const patches: { key: string; status: PodStatus }[] = [];
  const removed: string[] = [];
  const sink: StatusSink = {
    podStatus: (pod, status) => {
      patches.push({ key: `${pod.namespace}/${pod.name}`, status });
      opts.onStatus?.(`${pod.namespace}/${pod.name}`);
    },
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
    syncIntervalMs: opts.syncIntervalMs ?? 200,
    backoffBaseMs: opts.backoffBaseMs ?? 1000,
    ...(opts.gateway ? { gateway: opts.gateway } : { extraEnv: { EDGETWIN_API_URL: 'http://10.0.0.1:7180' } }),
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
    const [ns, name] = podName.includes('/') ? podName.split('/') as [string, string] : ['default', podName];
    const cs = pod(name, ns)!.status!.containerStatuses.find((c) => c.name === container)!;
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

  test('pods sent to TLS listeners find them on the bridge address, with the certificates to trust mounted at /var/run/edgetwin/ca.crt', async (t) => {
    const caDir = mkdtempSync(join(tmpdir(), 'edgetwin-edged-ca-'));
    t.after(() => rmSync(caDir, { recursive: true, force: true }));
    const caFile = join(caDir, 'pods-ca.crt');
    const pem = '-----BEGIN CERTIFICATE-----\nMIIBfake-for-the-mount\n-----END CERTIFICATE-----\n';
    writeFileSync(caFile, pem, { mode: 0o644 });
    const e = await setup(t, { gateway: { api: 'https://0.0.0.0:17443', mqtt: 'mqtts://0.0.0.0:18883', caFile } });
    e.write('tls.yaml', `
apiVersion: v1
kind: Pod
metadata: { name: tls-app, namespace: default }
spec:
  containers: [{ name: main, image: ${TEST_IMAGE}, command: ["/bin/sleep", "3600"] }]
`);
    await waitFor('pod tls-app Running', () => running(e.pod('tls-app')?.status), 60_000, 100);
    const bridgeIp = e.cfg.podCidr.replace(/\.0\/24$/, '.1');
    const env = await e.exec('tls-app', 'main', ['/bin/sh', '-c', 'echo "$EDGETWIN_API_URL $EDGETWIN_MQTT_URL $EDGETWIN_CA_FILE"']);
    assert.equal(env.out.trim(), `https://${bridgeIp}:17443 mqtts://${bridgeIp}:18883 /var/run/edgetwin/ca.crt`);
    const mounted = await e.exec('tls-app', 'main', ['/bin/cat', '/var/run/edgetwin/ca.crt']);
    assert.equal(mounted.out, pem);
    const readOnly = await e.exec('tls-app', 'main', ['/bin/sh', '-c', 'echo x > /var/run/edgetwin/ca.crt']);
    assert.notEqual(readOnly.code, 0, 'the mount is read-only');
  });

  test('a pod that arrives while a sync is running starts at once, not on the next interval', async (t) => {
    // The interval is far beyond the deadline: only the change itself can start the second pod.
    // It is written from inside the first pod's first status, that is while the sync that found
    // the first pod is still running (a cloud-linked gateway gets 20 pods one message at a time).
    let second: (() => void) | undefined;
    const e = await setup(t, { syncIntervalMs: 600_000, onStatus: (key) => { if (key === 'default/first') { const s = second; second = undefined; s?.(); } } });
    const podYaml = (name: string) => `
apiVersion: v1
kind: Pod
metadata: { name: ${name}, namespace: default }
spec:
  terminationGracePeriodSeconds: 0
  containers: [{ name: main, image: ${TEST_IMAGE}, command: ["/bin/sleep", "3600"] }]
`;
    second = () => e.write('second.yaml', podYaml('second'));
    e.write('first.yaml', podYaml('first'));
    await waitFor('both pods Running', () => running(e.pod('first')?.status) && running(e.pod('second')?.status), 120_000, 100);
    assert.equal(second, undefined);
  });

  test('env from a ConfigMap and a Secret, the downward API, and volumes of each kind are visible inside; a ConfigMap update reaches the mounted file', async (t) => {
    const e = await setup(t);
    const hostDir = mkdtempSync(join(tmpdir(), 'edgetwin-edged-host-'));
    t.after(() => rmSync(hostDir, { recursive: true, force: true }));
    writeFileSync(join(hostDir, 'from-host.txt'), 'host file\n');
    const cm = (level: string) => `
apiVersion: v1
kind: ConfigMap
metadata: { name: app-config, namespace: plant }
data:
  level: "${level}"
  app.conf: |
    level=${level}
`;
    e.write('cm.yaml', cm('info'));
    e.write('secret.yaml', `
apiVersion: v1
kind: Secret
metadata: { name: app-secret, namespace: plant }
data:
  password: ${Buffer.from('s3cret').toString('base64')}
`);
    e.write('app.yaml', `
apiVersion: v1
kind: Pod
metadata: { name: app, namespace: plant }
spec:
  containers:
    - name: main
      image: ${TEST_IMAGE}
      command: ["/bin/sleep", "3600"]
      env:
        - { name: LITERAL, value: plain }
        - { name: LEVEL, valueFrom: { configMapKeyRef: { name: app-config, key: level } } }
        - { name: PASSWORD, valueFrom: { secretKeyRef: { name: app-secret, key: password } } }
        - { name: POD_NAME, valueFrom: { fieldRef: { fieldPath: metadata.name } } }
        - { name: POD_NS, valueFrom: { fieldRef: { fieldPath: metadata.namespace } } }
        - { name: NODE, valueFrom: { fieldRef: { fieldPath: spec.nodeName } } }
        - { name: POD_IP, valueFrom: { fieldRef: { fieldPath: status.podIP } } }
      volumeMounts:
        - { name: config, mountPath: /etc/app }
        - { name: creds, mountPath: /var/run/creds }
        - { name: scratch, mountPath: /scratch }
        - { name: host, mountPath: /host }
  volumes:
    - { name: config, configMap: { name: app-config } }
    - { name: creds, secret: { secretName: app-secret, defaultMode: 0400 } }
    - { name: scratch, emptyDir: {} }
    - { name: host, hostPath: { path: ${hostDir}, type: Directory } }
`);
    const st = await waitFor('pod app Running', () => { const s = e.pod('app', 'plant')?.status; return running(s) && s; }, 60_000, 100);
    const env = await e.exec('plant/app', 'main', ['/bin/sh', '-c', 'echo "$LITERAL|$LEVEL|$PASSWORD|$POD_NAME|$POD_NS|$NODE|$POD_IP"']);
    assert.equal(env.out.trim(), `plain|info|s3cret|app|plant|edge-test|${st.podIP}`);
    assert.equal((await e.exec('plant/app', 'main', ['/bin/cat', '/etc/app/app.conf'])).out, 'level=info\n');
    assert.equal((await e.exec('plant/app', 'main', ['/bin/cat', '/var/run/creds/password'])).out, 's3cret');
    assert.equal((await e.exec('plant/app', 'main', ['/bin/stat', '-L', '-c', '%a', '/var/run/creds/password'])).out.trim(), '400');
    assert.equal((await e.exec('plant/app', 'main', ['/bin/cat', '/host/from-host.txt'])).out, 'host file\n');
    assert.equal((await e.exec('plant/app', 'main', ['/bin/sh', '-c', 'echo x > /scratch/f && cat /scratch/f'])).out, 'x\n');
    // ConfigMap volumes are read-only inside, as in Kubernetes.
    assert.notEqual((await e.exec('plant/app', 'main', ['/bin/sh', '-c', 'echo y > /etc/app/new'])).code, 0);

    e.write('cm.yaml', cm('debug'));
    await waitFor('updated ConfigMap file inside the container', async () => (await e.exec('plant/app', 'main', ['/bin/cat', '/etc/app/app.conf'])).out === 'level=debug\n', 30_000, 200);
  });

  test('a crashing container goes to CrashLoopBackOff with growing delays and a growing restartCount', async (t) => {
    const e = await setup(t, { backoffBaseMs: 300 });
    e.write('crash.yaml', `
apiVersion: v1
kind: Pod
metadata: { name: crash }
spec:
  containers:
    - { name: main, image: ${TEST_IMAGE}, command: ["/bin/sh", "-c", "echo dying; exit 3"] }
`);
    const delays = new Set<string>();
    await waitFor('three back-off delays', () => {
      for (const p of e.patches) {
        const w = p.status.containerStatuses[0]?.state.waiting;
        if (p.key === 'default/crash' && w?.reason === 'CrashLoopBackOff') delays.add(/back-off (\S+)/.exec(w.message ?? '')![1]!);
      }
      return delays.size >= 3;
    }, 90_000, 100);
    // Each delay doubles the one before (a slow machine may skip showing one, never shrink one).
    const ms = [...delays].map((d) => (d.endsWith('ms') ? Number(d.slice(0, -2)) : Number(d.slice(0, -1)) * 1000));
    for (let i = 1; i < ms.length; i++) assert.ok(ms[i]! > ms[i - 1]! && Math.log2(ms[i]! / 300) % 1 === 0, `delays ${[...delays].join(', ')}`);
    assert.ok(Math.log2(ms[0]! / 300) % 1 === 0, `the first delay is the base or a doubling of it: ${[...delays].join(", ")}`);
    const st = e.pod('crash')!.status!;
    const cs = st.containerStatuses[0]!;
    assert.ok(cs.restartCount >= 3, `restartCount ${cs.restartCount}`);
    assert.equal(st.phase, 'Running');
    const last = (cs.state.terminated ?? cs.lastState.terminated)!;
    assert.equal(last.exitCode, 3);
    assert.equal(last.reason, 'Error');
    const counts = e.patches.filter((p) => p.key === 'default/crash').map((p) => p.status.containerStatuses[0]?.restartCount ?? 0);
    assert.deepEqual(counts, [...counts].sort((a, b) => a - b), 'restartCount never goes down');
  });

  test('restartPolicy Never leaves a failed container terminated and the pod Failed; OnFailure leaves a succeeded one alone', async (t) => {
    const e = await setup(t, { backoffBaseMs: 200 });
    e.write('never.yaml', `
apiVersion: v1
kind: Pod
metadata: { name: never }
spec:
  restartPolicy: Never
  containers:
    - { name: main, image: ${TEST_IMAGE}, command: ["/bin/sh", "-c", "exit 1"] }
---
apiVersion: v1
kind: Pod
metadata: { name: once }
spec:
  restartPolicy: OnFailure
  containers:
    - { name: main, image: ${TEST_IMAGE}, command: ["/bin/true"] }
`);
    const never = await waitFor('pod never Failed', () => { const s = e.pod('never')?.status; return s?.phase === 'Failed' && s; }, 60_000, 100);
    assert.equal(never.containerStatuses[0]!.state.terminated?.exitCode, 1);
    const once = await waitFor('pod once Succeeded', () => { const s = e.pod('once')?.status; return s?.phase === 'Succeeded' && s; }, 60_000, 100);
    assert.equal(once.containerStatuses[0]!.restartCount, 0);
    // Given time to misbehave, neither restarts.
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(e.pod('never')!.status!.containerStatuses[0]!.restartCount, 0);
    assert.equal(e.pod('once')!.status!.containerStatuses[0]!.restartCount, 0);
  });

  test('a failing liveness probe restarts the container; readiness shows in the Ready condition', async (t) => {
    const e = await setup(t, { backoffBaseMs: 200 });
    e.write('probed.yaml', `
apiVersion: v1
kind: Pod
metadata: { name: probed }
spec:
  terminationGracePeriodSeconds: 1
  containers:
    - name: web
      image: ${TEST_IMAGE}
      command: ["/bin/sh", "-c", "touch /tmp/alive; exec httpd -f -p 8080 -h /www"]
      ports: [{ name: http, containerPort: 8080 }]
      readinessProbe: { httpGet: { path: /ready.html, port: http }, periodSeconds: 1, failureThreshold: 1 }
      livenessProbe: { exec: { command: ["/bin/test", "-f", "/tmp/alive"] }, periodSeconds: 1, failureThreshold: 2 }
      startupProbe: { tcpSocket: { port: 8080 }, periodSeconds: 1, failureThreshold: 30 }
`);
    const st = await waitFor('pod probed Running', () => { const s = e.pod('probed')?.status; return running(s) && s!.containerStatuses[0]!.started && s; }, 60_000, 100);
    assert.equal(st.conditions.find((c) => c.type === 'Ready')?.status, 'False', 'not ready while /ready.html is missing');
    assert.equal(st.containerStatuses[0]!.ready, false);
    await e.exec('probed', 'web', ['/bin/sh', '-c', 'echo ok > /www/ready.html']);
    await waitFor('Ready True', () => e.pod('probed')?.status?.conditions.find((c) => c.type === 'Ready')?.status === 'True', 30_000, 100);
    await e.exec('probed', 'web', ['/bin/rm', '/www/ready.html']);
    await waitFor('Ready False again', () => e.pod('probed')?.status?.conditions.find((c) => c.type === 'Ready')?.status === 'False', 30_000, 100);

    await e.exec('probed', 'web', ['/bin/rm', '/tmp/alive']);
    const after = await waitFor('restart after liveness failure', () => { const s = e.pod('probed')?.status; return s && s.containerStatuses[0]!.restartCount >= 1 && s.containerStatuses[0]!.state.running && s; }, 60_000, 100);
    assert.ok(after.containerStatuses[0]!.lastState.terminated, 'lastState keeps the killed container');
  });

  test('deleting a pod stops it within its grace period (SIGTERM first, SIGKILL after the grace period)', async (t) => {
    const e = await setup(t);
    e.write('grace.yaml', `
apiVersion: v1
kind: Pod
metadata: { name: grace }
spec:
  terminationGracePeriodSeconds: 2
  containers:
    - { name: main, image: ${TEST_IMAGE}, command: ["/bin/sh", "-c", "trap '' TERM; while true; do sleep 0.2; done"] }
`);
    await waitFor('pod grace Running', () => running(e.pod('grace')?.status), 60_000, 100);
    const start = Date.now();
    e.remove('grace.yaml');
    await waitFor('pod grace removed', () => e.removed.includes('default/grace'), 60_000, 50);
    const took = Date.now() - start;
    // It ignores SIGTERM, so it can only be gone once the grace period ran out.
    assert.ok(took >= 2000, `stopped after ${took} ms, before its 2 s grace period`);
    assert.equal(e.pod('grace'), undefined);
    assert.deepEqual(await e.cri.runtime.listContainers(), []);
    assert.deepEqual(await e.cri.runtime.listPodSandbox(), []);
  });

  test('a missing image gives ErrImagePull then ImagePullBackOff with the reason, never a hang', async (t) => {
    const e = await setup(t, { backoffBaseMs: 300 });
    e.write('missing.yaml', `
apiVersion: v1
kind: Pod
metadata: { name: missing }
spec:
  containers:
    - { name: main, image: ${MISSING_IMAGE} }
`);
    const reasons = new Set<string>();
    await waitFor('ErrImagePull and ImagePullBackOff', () => {
      for (const p of e.patches) if (p.key === 'default/missing') {
        const w = p.status.containerStatuses[0]?.state.waiting;
        if (w) reasons.add(w.reason);
      }
      return reasons.has('ErrImagePull') && reasons.has('ImagePullBackOff');
    }, 60_000, 100);
    const w = e.pod('missing')!.status!.containerStatuses[0]!.state.waiting!;
    assert.match(w.message ?? '', /127\.0\.0\.1:1.*(connection refused|connect)/);
    assert.equal(e.pod('missing')!.status!.phase, 'Pending');
  });

  test('a restarted gateway adopts running containers; after all containers were killed it brings the pods back', async (t) => {
    const e = await setup(t);
    e.write('keep.yaml', `
apiVersion: v1
kind: Pod
metadata: { name: keep }
spec:
  containers:
    - { name: main, image: ${TEST_IMAGE}, command: ["/bin/sleep", "3600"] }
`);
    const before = await waitFor('pod keep Running', () => { const s = e.pod('keep')?.status; return running(s) && s; }, 60_000, 100);
    await e.restart();
    const adopted = await waitFor('pod keep Running after restart', () => { const s = e.pod('keep')?.status; return running(s) && s; }, 60_000, 100);
    assert.equal(adopted.containerStatuses[0]!.containerID, before.containerStatuses[0]!.containerID, 'the same container, not a new one');
    assert.equal(adopted.containerStatuses[0]!.restartCount, 0);
    assert.equal(adopted.podIP, before.podIP);

    await e.edged().close();
    for (const c of await e.cri.runtime.listContainers()) await e.cri.runtime.stopContainer(c.id, 0);
    for (const s of await e.cri.runtime.listPodSandbox()) await e.cri.runtime.stopPodSandbox(s.id);
    await e.restart();
    const back = await waitFor('pod keep Running again', () => { const s = e.pod('keep')?.status; return running(s) && s!.containerStatuses[0]!.containerID !== before.containerStatuses[0]!.containerID && s; }, 60_000, 100);
    assert.equal(back.phase, 'Running');
  });

  test('an unsupported field is a reason in the status, not a silent difference', async (t) => {
    const e = await setup(t);
    e.write('init.yaml', `
apiVersion: v1
kind: Pod
metadata: { name: init }
spec:
  initContainers: [{ name: setup, image: ${TEST_IMAGE} }]
  containers: [{ name: main, image: ${TEST_IMAGE} }]
`);
    const st = await waitFor('pod init Failed', () => e.pod('init')?.status?.phase === 'Failed' && e.pod('init')!.status!, 30_000, 100);
    assert.equal(st.reason, 'Unsupported');
    assert.match(st.message ?? '', /initContainers/);
  });

  test('hostNetwork: the pod shares the host network, its podIP is the host address, probes reach it on loopback', async (t) => {
    const e = await setup(t);
    const { freePort } = await import('../../core/testing.ts');
    const port = await freePort();
    e.write('hostnet.yaml', `
apiVersion: v1
kind: Pod
metadata: { name: hostnet }
spec:
  hostNetwork: true
  terminationGracePeriodSeconds: 1
  containers:
    - name: web
      image: ${TEST_IMAGE}
      command: ["/bin/httpd", "-f", "-p", "127.0.0.1:${port}", "-h", "/www"]
      readinessProbe: { httpGet: { path: /index.html, port: ${port} }, periodSeconds: 1 }
`);
    const st = await waitFor('hostnet Ready', () => { const s = e.pod('hostnet')?.status; return running(s) && s!.containerStatuses[0]!.ready && s; }, 60_000, 100);
    const { hostAddress } = await import('./edged.ts');
    assert.equal(st.podIP, hostAddress());
    // The container's server listens on the host's own loopback.
    const body = await (await fetch(`http://127.0.0.1:${port}/index.html`)).text();
    assert.equal(body, 'ok\n');
  });

  test('a hostPort reaches the pod through the portmap plugin', { skip: !existsSync('/usr/sbin/iptables') && 'iptables is not installed (hostPort needs it)' }, async (t) => {
    const e = await setup(t);
    const { freePort } = await import('../../core/testing.ts');
    const port = await freePort();
    e.write('ported.yaml', `
apiVersion: v1
kind: Pod
metadata: { name: ported }
spec:
  terminationGracePeriodSeconds: 1
  containers:
    - name: web
      image: ${TEST_IMAGE}
      command: ["/bin/httpd", "-f", "-p", "8080", "-h", "/www"]
      ports: [{ containerPort: 8080, hostPort: ${port} }]
`);
    await waitFor('ported Running', () => running(e.pod('ported')?.status), 60_000, 100);
    const { hostAddress } = await import('./edged.ts');
    const body = await waitFor('the pod answers on the host port', async () => (await fetch(`http://${hostAddress()}:${port}/index.html`)).text(), 20_000, 200);
    assert.equal(body, 'ok\n');
  });

  test('a changed container spec (a new image) restarts that container with the new spec', async (t) => {
    const e = await setup(t);
    const spec = (image: string) => `
apiVersion: v1
kind: Pod
metadata: { name: upgrade }
spec:
  terminationGracePeriodSeconds: 0
  containers:
    - { name: main, image: ${image}, command: ["/bin/sleep", "3600"] }
`;
    e.write('upgrade.yaml', spec(TEST_IMAGE));
    const before = await waitFor('upgrade Running', () => { const s = e.pod('upgrade')?.status; return running(s) && s; }, 60_000, 100);
    e.write('upgrade.yaml', spec(SANDBOX_IMAGE));
    const after = await waitFor('upgrade Running the new image', () => { const s = e.pod('upgrade')?.status; return running(s) && s!.containerStatuses[0]!.image === SANDBOX_IMAGE && s; }, 60_000, 100);
    assert.notEqual(after.containerStatuses[0]!.containerID, before.containerStatuses[0]!.containerID);
    assert.equal(after.podIP, before.podIP, 'same sandbox');
    assert.equal((await e.cri.runtime.listContainers({ state: 'CONTAINER_RUNNING' })).length, 1, 'the old container is stopped');
  });

  test('a containerd that is not there yet: pods wait and say why, then run once it answers', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'edgetwin-edged-late-'));
    const podsDir = join(dir, 'pods');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(podsDir);
    const socket = join(dir, 'late.sock');
    const bridge = `etlate${process.pid % 1000}`;
    const source = new DirPodSource([podsDir]);
    const runtimes: boolean[] = [];
    const edged = await startEdged({
      containerd: `unix://${socket}`, cniBinDir: '/usr/lib/cni', cniConfDir: join(dir, 'cni-not-yet'), bridge, podCidr: `10.${subnet++}.7.0/24`,
      dataDir: join(dir, 'data'), nodeName: 'edge-test', syncIntervalMs: 200, runtimeRetryMs: 200,
    }, source, silentLogger, { podStatus: () => undefined, podRemoved: () => undefined, runtime: (v) => runtimes.push(v.reachable) });
    let ctd: TestContainerd | undefined;
    t.after(async () => {
      await edged.close();
      await ctd?.stop({ bridge });
      rmSync(dir, { recursive: true, force: true });
    });
    writeFileSync(join(podsDir, 'late.yaml'), `
apiVersion: v1
kind: Pod
metadata: { name: late }
spec:
  hostNetwork: true
  containers: [{ name: main, image: ${TEST_IMAGE}, command: ["/bin/sleep", "3600"] }]
`);
    source.reload();
    const waiting = await waitFor('late Pending with the reason', () => edged.pods()[0]?.status?.phase === 'Pending' && edged.pods()[0]!.status!, 20_000, 50);
    assert.match(waiting.conditions.find((c) => c.type === 'PodReadyToStartContainers')!.message!, /cannot be reached/);
    assert.equal(edged.runtime().reachable, false);
    ctd = await startContainerd({ socket });
    await waitFor('late Running once containerd answers', () => running(edged.pods()[0]?.status), 60_000, 100);
    assert.deepEqual(runtimes.slice(-1), [true]);
  });
});
