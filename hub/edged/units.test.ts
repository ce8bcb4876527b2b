// The parts of edged that need no containerd: quantities, unsupported fields, standalone UIDs,
// env assembly, atomic ConfigMap/Secret volumes, the CNI config, CRI log decoding and the
// directory pod source.

import assert from 'node:assert/strict';
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { bridgeAddress, conflist, shadowingConfigs, validatePodNetwork, writeConflist } from './cni.ts';
import { buildEnv } from './env.ts';
import { CriLogDecoder, logAttempts } from './logs.ts';
import { linuxResources } from './resources.ts';
import { containerHash, parseQuantity, podUid, unsupported, type Pod } from './pod.ts';
import { DirPodSource } from './source.ts';
import { syncVolumes, VolumeError } from './volumes.ts';

const pod = (spec: Partial<Pod['spec']> = {}): Pod => ({
  metadata: { name: 'p', namespace: 'ns' },
  spec: { containers: [{ name: 'c', image: 'img:1' }], ...spec },
});

describe('edged units', () => {
  test('Kubernetes quantities and the resources they become', () => {
    assert.equal(parseQuantity('250m'), 0.25);
    assert.equal(parseQuantity('2'), 2);
    assert.equal(parseQuantity('128Mi'), 128 * 1024 * 1024);
    assert.equal(parseQuantity('1G'), 1e9);
    assert.equal(parseQuantity('1e3'), 1000);
    assert.equal(parseQuantity('12 apples'), undefined);
    assert.deepEqual(linuxResources({ name: 'c', image: 'i', resources: { requests: { cpu: '250m' }, limits: { cpu: '500m', memory: '64Mi' } } }), {
      cpuShares: 256, cpuPeriod: 100_000, cpuQuota: 50_000, memoryLimitInBytes: 64 * 1024 * 1024,
    });
  });

  test('unsupported fields are named, supported pods pass', () => {
    assert.deepEqual(unsupported(pod()), []);
    const bad = unsupported(pod({
      initContainers: [{}],
      volumes: [{ name: 'v', persistentVolumeClaim: { claimName: 'x' } } as never],
      containers: [{ name: 'c', image: 'i', env: [{ name: 'X', valueFrom: { fieldRef: { fieldPath: 'metadata.labels' } } }], volumeMounts: [{ name: 'nope', mountPath: '/x' }] }],
    }));
    assert.equal(bad.length, 4, bad.join('\n'));
    assert.match(bad.join('\n'), /initContainers/);
    assert.match(bad.join('\n'), /spec\.volumes\[0\] \(v\)/);
    assert.match(bad.join('\n'), /fieldRef metadata\.labels/);
    assert.match(bad.join('\n'), /no volume named "nope"/);
  });

  test('a standalone pod gets a UID stable across restarts; a cloud pod keeps its own', () => {
    assert.equal(podUid(pod()), podUid(pod()));
    assert.notEqual(podUid(pod()), podUid({ ...pod(), metadata: { name: 'q', namespace: 'ns' } }));
    assert.match(podUid(pod()), /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    assert.equal(podUid({ ...pod(), metadata: { name: 'p', uid: 'abc' } }), 'abc');
    // Key order in the YAML does not change the spec hash.
    const a = pod({ containers: [{ name: 'c', image: 'i', command: ['a'] }] });
    const b = pod({ containers: [{ command: ['a'], image: 'i', name: 'c' }] });
    assert.equal(containerHash(a, a.spec.containers[0]!), containerHash(b, b.spec.containers[0]!));
  });

  test('env: literals with $(VAR) expansion, ConfigMap and Secret keys, envFrom, downward API; a missing key names itself', () => {
    const lookup = {
      configMap: (_ns: string, n: string) => (n === 'cm' ? { metadata: { name: 'cm' }, data: { level: 'info', a: '1' } } : undefined),
      secret: (_ns: string, n: string) => (n === 's' ? { metadata: { name: 's' }, data: { pw: Buffer.from('x y').toString('base64') } } : undefined),
    };
    const p = pod({
      containers: [{
        name: 'c', image: 'i',
        envFrom: [{ configMapRef: { name: 'cm' }, prefix: 'CM_' }],
        env: [
          { name: 'A', value: 'a' },
          { name: 'B', value: '$(A)-b-$$(A)' },
          { name: 'L', valueFrom: { configMapKeyRef: { name: 'cm', key: 'level' } } },
          { name: 'P', valueFrom: { secretKeyRef: { name: 's', key: 'pw' } } },
          { name: 'IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
          { name: 'OPT', valueFrom: { configMapKeyRef: { name: 'gone', key: 'k', optional: true } } },
        ],
      }],
    });
    const env = Object.fromEntries(buildEnv(p, p.spec.containers[0]!, lookup, { nodeName: 'n', podIP: '10.0.0.5', hostIP: 'h', uid: 'u', extra: { EDGETWIN_API_URL: 'x' } }).map((e) => [e.key, e.value]));
    assert.deepEqual(env, { EDGETWIN_API_URL: 'x', CM_level: 'info', CM_a: '1', A: 'a', B: 'a-b-$(A)', L: 'info', P: 'x y', IP: '10.0.0.5' });
    const missing = pod({ containers: [{ name: 'c', image: 'i', env: [{ name: 'K', valueFrom: { configMapKeyRef: { name: 'cm', key: 'nope' } } }] }] });
    assert.throws(() => buildEnv(missing, missing.spec.containers[0]!, lookup, { nodeName: 'n', podIP: '', hostIP: '', uid: 'u', extra: {} }), (e: VolumeError) => e.reason === 'CreateContainerConfigError' && /key "nope" not found in configmap "cm"/.test(e.message));
  });

  test('ConfigMap and Secret volumes: modes, items, an atomic ..data swap on update, nothing rewritten when unchanged', (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'edgetwin-vol-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    let data = { 'app.conf': 'v=1\n', other: 'o' };
    const lookup = {
      configMap: () => ({ metadata: { name: 'cm' }, data }),
      secret: () => ({ metadata: { name: 's' }, stringData: { token: 't' } }),
    };
    const p = pod({ volumes: [
      { name: 'cfg', configMap: { name: 'cm', items: [{ key: 'app.conf', path: 'conf/app.conf', mode: 0o600 }] } },
      { name: 'sec', secret: { secretName: 's', defaultMode: 0o400 } },
      { name: 'tmp', emptyDir: {} },
    ] });
    const first = syncVolumes(p, 'uid1', dir, lookup);
    const cfg = first.paths.get('cfg')!;
    assert.equal(readFileSync(join(cfg, 'conf', 'app.conf'), 'utf8'), 'v=1\n');
    assert.equal(statSync(join(cfg, 'conf', 'app.conf')).mode & 0o777, 0o600);
    assert.equal(readlinkSync(join(cfg, 'conf')), join('..data', 'conf'));
    assert.equal(statSync(join(first.paths.get('sec')!, 'token')).mode & 0o777, 0o400);
    assert.equal(statSync(join(dir, 'edged', 'pods', 'uid1')).mode & 0o777, 0o700, 'the pod folder is private');
    assert.equal(statSync(first.paths.get('tmp')!).mode & 0o777, 0o777);
    const link = readlinkSync(join(cfg, '..data'));
    assert.equal(syncVolumes(p, 'uid1', dir, lookup).changed, false);
    assert.equal(readlinkSync(join(cfg, '..data')), link, 'unchanged content is not rewritten');
    data = { 'app.conf': 'v=2\n', other: 'o' };
    assert.equal(syncVolumes(p, 'uid1', dir, lookup).changed, true);
    assert.equal(readFileSync(join(cfg, 'conf', 'app.conf'), 'utf8'), 'v=2\n');
    assert.notEqual(readlinkSync(join(cfg, '..data')), link);
    assert.ok(lstatSync(join(cfg, 'conf')).isSymbolicLink());
    const gone = pod({ volumes: [{ name: 'cfg', configMap: { name: 'absent' } }] });
    assert.throws(() => syncVolumes(gone, 'uid2', dir, { configMap: () => undefined, secret: () => undefined }), /configmap "absent" not found in namespace ns/);
  });

  test('the CNI conflist: bridge, host-local on the subnet with the first address as gateway, loopback; bad names refused', (t) => {
    assert.equal(bridgeAddress('10.88.0.0/16'), '10.88.0.1');
    assert.equal(bridgeAddress('192.168.7.128/25'), '192.168.7.129');
    assert.match(validatePodNetwork({ bridge: 'a-name-far-too-long', podCidr: '10.0.0.0/24' })!, /edged\.bridge/);
    assert.match(validatePodNetwork({ bridge: 'et0', podCidr: '10.0.0.0' })!, /edged\.podCidr/);
    const c = conflist({ bridge: 'et0', podCidr: '10.9.0.0/24', confDir: '/x', ipamDir: '/y' }, false) as { plugins: { type: string; bridge?: string; ipam?: { ranges: { subnet: string; gateway: string }[][]; dataDir: string } }[] };
    assert.deepEqual(c.plugins.map((p) => p.type), ['bridge', 'loopback']);
    const withIptables = conflist({ bridge: 'et0', podCidr: '10.9.0.0/24', confDir: '/x', ipamDir: '/y' }, true) as { plugins: { type: string; ipMasq?: boolean }[] };
    assert.deepEqual(withIptables.plugins.map((p) => p.type), ['bridge', 'portmap', 'loopback']);
    assert.equal(withIptables.plugins[0]!.ipMasq, true);
    assert.deepEqual(c.plugins[0]!.ipam!.ranges, [[{ subnet: '10.9.0.0/24', gateway: '10.9.0.1' }]]);
    const dir = mkdtempSync(join(tmpdir(), 'edgetwin-cni-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const n = { bridge: 'et0', podCidr: '10.9.0.0/24', confDir: dir, ipamDir: join(dir, 'ipam') };
    assert.equal(writeConflist(n), true);
    assert.equal(writeConflist(n), false, 'unchanged: not rewritten (containerd reloads on every write)');
    assert.deepEqual(shadowingConfigs(dir), []);
    writeFileSync(join(dir, '05-other.conflist'), '{}');
    writeFileSync(join(dir, '99-later.conflist'), '{}');
    assert.deepEqual(shadowingConfigs(dir), ['05-other.conflist']);
  });

  test('CRI log files: partial lines joined, streams merged, attempts newest first', (t) => {
    const d = new CriLogDecoder();
    assert.equal(d.push('2026-01-01T00:00:00Z stdout P hel'), '');
    assert.equal(d.push('\n2026-01-01T00:00:00Z stdout F lo\n2026-01-01T00:00:01Z stderr F oops\n'), 'hello\noops\n');
    const dir = mkdtempSync(join(tmpdir(), 'edgetwin-logs-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    mkdirSync(join(dir, 'c'));
    for (const a of [0, 2, 1]) writeFileSync(join(dir, 'c', `${a}.log`), '');
    assert.deepEqual(logAttempts(dir, 'c').map((x) => x.attempt), [2, 1, 0]);
    assert.deepEqual(logAttempts(dir, 'none'), []);
  });

  test('the pod folder source: Pods, ConfigMaps and Secrets from many documents; problems with file and line; change events', (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'edgetwin-src-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'a.yaml'), 'apiVersion: v1\nkind: Pod\nmetadata: { name: p }\nspec: { containers: [] }\n---\nkind: ConfigMap\nmetadata: { name: cm, namespace: x }\ndata: { k: v }\n---\nkind: Service\nmetadata: { name: s }\n');
    writeFileSync(join(dir, 'notes.txt'), 'not yaml: [');
    const src = new DirPodSource([dir]);
    const events: string[] = [];
    src.onChange((e) => events.push(`${e.kind}:${e.namespace}/${e.name}`));
    const problems = src.reload();
    assert.equal(problems.length, 1);
    assert.match(problems[0]!.message, /kind Service/);
    assert.equal(problems[0]!.line, 9);
    assert.deepEqual(src.pods().map((p) => p.metadata.namespace + '/' + p.metadata.name), ['default/p']);
    assert.deepEqual(src.configMap('x', 'cm')?.data, { k: 'v' });
    assert.deepEqual(events.sort(), ['configmap:x/cm', 'pod:default/p']);
    events.length = 0;
    src.reload();
    assert.deepEqual(events, [], 'nothing changed, nothing announced');
    writeFileSync(join(dir, 'a.yaml'), 'kind: ConfigMap\nmetadata: { name: cm, namespace: x }\ndata: { k: w }\n');
    src.reload();
    assert.deepEqual(events.sort(), ['configmap:x/cm', 'pod:default/p']);
    assert.deepEqual(src.pods(), []);
  });
});
