// The real kubectl (v1.32) against the Kubernetes API stand-in, through a kubeconfig with the
// stand-in's CA and a bearer token, with validation on (no --validate=false): CRDs applied and
// served, printer columns, patches, nodes and pods as kubectl prints them, deletes, a watch,
// server-side apply, and an invalid custom resource refused with its field path.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { waitFor } from '../core/testing.ts';
import { startKubeApiServer, type KubeApiServer } from '../hub/testing/kube-apiserver/index.ts';
import { run, TEST_DEVICE_CRD, TEST_DEVICE_STATUS_CRD, testDevice } from './helpers/kube-standin-fixtures.ts';

const KUBECTL = '/usr/bin/kubectl';
const skip = existsSync(KUBECTL) ? false : `${KUBECTL} is not installed on this machine (apt-get install kubectl); the kubectl cases are skipped`;
if (skip) console.log(`# skipped: ${skip}`);

describe('kubectl against the kube-apiserver stand-in', { skip }, () => {
  let s: KubeApiServer;
  let dir: string;
  const kubectl = (...args: string[]) => run(KUBECTL, ['--cache-dir', join(dir, 'cache'), ...args], { KUBECONFIG: s.kubeconfigPath, HOME: dir });
  const ok = async (...args: string[]) => {
    const r = await kubectl(...args);
    assert.equal(r.code, 0, `kubectl ${args.join(' ')} failed: ${r.stderr}`);
    return r.stdout;
  };
  const file = (name: string, docs: unknown[]) => {
    const path = join(dir, name);
    writeFileSync(path, docs.map((d) => stringify(d)).join('---\n'));
    return path;
  };
  /** Table rows as arrays of cells, the header first. */
  const rows = (out: string) => out.trim().split('\n').map((l) => l.trim().split(/\s{2,}/));

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'kubectl-standin-'));
    s = await startKubeApiServer({ leaseGraceMs: 1_000 });
  });
  after(async () => {
    await s?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('applies the CRDs, and api-resources lists what they serve', async () => {
    assert.match(await ok('apply', '-f', file('crds.yaml', [TEST_DEVICE_CRD, TEST_DEVICE_STATUS_CRD])), /customresourcedefinition.apiextensions.k8s.io\/testdevices.fixtures.edgetwin.io created/);
    const out = await ok('api-resources', '--api-group', 'fixtures.edgetwin.io');
    const table = rows(out);
    assert.deepEqual(table[0], ['NAME', 'SHORTNAMES', 'APIVERSION', 'NAMESPACED', 'KIND']);
    assert.deepEqual(table.find((r) => r[0] === 'testdevices'), ['testdevices', 'tdev', 'fixtures.edgetwin.io/v1beta1', 'true', 'TestDevice']);
    assert.ok(table.some((r) => r[0] === 'testdevicestatuses'));
    assert.match(await ok('get', 'crd', 'testdevices.fixtures.edgetwin.io', '-o', 'jsonpath={.status.conditions[?(@.type=="Established")].status}'), /^True$/);
  });

  it('applies a custom resource (validated by the server) and shows its printer columns, the wide one only with -o wide', async () => {
    assert.match(await ok('apply', '-f', file('dev.yaml', [testDevice('thermo-1', 'gw-a'), testDevice('thermo-2', 'gw-b')])), /testdevice.fixtures.edgetwin.io\/thermo-1 created/);
    const narrow = rows(await ok('get', 'testdevices'));
    assert.deepEqual(narrow[0], ['NAME', 'NODE', 'PROTOCOL', 'AGE']);
    assert.deepEqual(narrow[1].slice(0, 3), ['thermo-1', 'gw-a', 'modbus']);
    const wide = rows(await ok('get', 'tdev', '-o', 'wide'));
    assert.deepEqual(wide[0], ['NAME', 'NODE', 'PROTOCOL', 'MODEL', 'AGE']);
    assert.deepEqual(wide[2].slice(0, 4), ['thermo-2', 'gw-b', 'modbus', 'thermometer']);
    assert.match(await ok('apply', '-f', join(dir, 'dev.yaml')), /thermo-1 unchanged/);
    await ok('apply', '-f', file('status.yaml', [{ apiVersion: 'fixtures.edgetwin.io/v1beta1', kind: 'TestDeviceStatus', metadata: { name: 'thermo-1', namespace: 'default' } }]));
    const both = await ok('get', 'testdevices,testdevicestatuses', '-o', 'wide');
    assert.match(both, /testdevice\.fixtures\.edgetwin\.io\/thermo-1\s+gw-a\s+modbus\s+thermometer/);
    assert.match(both, /NAME\s+AGE\s+testdevicestatus\.fixtures\.edgetwin\.io\/thermo-1\s/, 'a CRD without printer columns gets NAME and AGE');
  });

  it('refuses an invalid custom resource on apply, naming the field', async () => {
    const bad = testDevice('broken', 'gw-a', { properties: [{ desired: { value: 20 } }] });
    const r = await kubectl('apply', '-f', file('bad.yaml', [bad]));
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /The TestDevice "broken" is invalid/);
    assert.match(r.stderr, /spec\.properties\[0\]\.name: Required value/);
    assert.match(r.stderr, /spec\.properties\[0\]\.desired\.value: Invalid value: "integer"/);
    const unknown = await kubectl('apply', '-f', file('unknown.yaml', [testDevice('typo', 'gw-a', { nodename: 'x' })]));
    assert.notEqual(unknown.code, 0, 'kubectl validates strictly by default: an unknown field is refused');
    assert.match(unknown.stderr, /unknown field "spec.nodename"/);
  });

  it('patches a custom resource with --type merge and --type json; a strategic merge patch is refused as a real server does', async () => {
    await ok('patch', 'testdevice', 'thermo-1', '--type', 'merge', '-p', '{"spec":{"nodeName":"gw-b"}}');
    await ok('patch', 'testdevice', 'thermo-1', '--type', 'json', '-p', '[{"op":"replace","path":"/spec/properties/0/desired/value","value":"22"}]');
    const spec = JSON.parse(await ok('get', 'testdevice', 'thermo-1', '-o', 'jsonpath={.spec}'));
    assert.equal(spec.nodeName, 'gw-b');
    assert.equal(spec.properties[0].desired.value, '22');
    const smp = await kubectl('patch', 'testdevice', 'thermo-1', '-p', '{"spec":{"nodeName":"gw-c"}}');
    assert.notEqual(smp.code, 0);
    assert.match(smp.stderr, /strategic-merge-patch\+json is not supported/);
    await ok('patch', 'testdevice', 'thermo-1', '--subresource', 'status', '--type', 'merge', '-p', '{"status":{"state":"online"}}');
    assert.equal(await ok('get', 'testdevice', 'thermo-1', '-o', 'jsonpath={.status.state}'), 'online');
  });

  it('shows nodes (STATUS from the Ready condition, ROLES from labels, NotReady once the lease lapses) and pods -o wide', async () => {
    const renewTime = new Date().toISOString();
    await ok('apply', '-f', file('node.yaml', [
      {
        apiVersion: 'v1', kind: 'Node', metadata: { name: 'gw-a', labels: { 'node-role.kubernetes.io/edge': '' } },
        status: {
          conditions: [{ type: 'Ready', status: 'True', reason: 'EdgeReady', lastHeartbeatTime: renewTime }],
          addresses: [{ type: 'InternalIP', address: '10.1.2.3' }],
          nodeInfo: { kubeletVersion: 'v1.32.0-edgetwin', osImage: 'Debian GNU/Linux 12', kernelVersion: '6.1.0', containerRuntimeVersion: 'containerd://1.7' },
        },
      },
      { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'gw-a', namespace: 'kube-node-lease' }, spec: { holderIdentity: 'gw-a', renewTime } },
      { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'reader', namespace: 'default' }, spec: { nodeName: 'gw-a', containers: [{ name: 'app', image: 'busybox' }] } },
    ]));
    const nodes = rows(await ok('get', 'nodes'));
    assert.deepEqual(nodes[0], ['NAME', 'STATUS', 'ROLES', 'AGE', 'VERSION']);
    assert.deepEqual([nodes[1][0], nodes[1][2], nodes[1][4]], ['gw-a', 'edge', 'v1.32.0-edgetwin']);
    await ok('patch', 'pod', 'reader', '--subresource', 'status', '--type', 'merge', '-p', '{"status":{"phase":"Running","podIP":"10.88.0.7","containerStatuses":[{"name":"app","ready":true,"restartCount":2}]}}');
    const pods = rows(await ok('get', 'pods', '-o', 'wide'));
    assert.deepEqual(pods[0], ['NAME', 'READY', 'STATUS', 'RESTARTS', 'AGE', 'IP', 'NODE', 'NOMINATED NODE', 'READINESS GATES']);
    assert.deepEqual([pods[1][0], pods[1][1], pods[1][2], pods[1][3], pods[1][5], pods[1][6]], ['reader', '1/1', 'Running', '2', '10.88.0.7', 'gw-a']);
    await waitFor('kubectl to show gw-a NotReady after its 1 s lease grace', async () => rows(await ok('get', 'node', 'gw-a'))[1][1] === 'NotReady', 30_000, 200);
  });

  it('watches with get --watch: the current row, then each change', async () => {
    const child = spawn(KUBECTL, ['--cache-dir', join(dir, 'cache'), 'get', 'testdevices', '--watch', '--output-watch-events'], { env: { ...process.env, KUBECONFIG: s.kubeconfigPath, HOME: dir } });
    let out = '';
    child.stdout.on('data', (c) => (out += c));
    try {
      await waitFor('the watch to print thermo-2', () => /ADDED\s+thermo-2\s+gw-b/.test(out), 30_000, 50);
      await ok('patch', 'testdevice', 'thermo-2', '--type', 'merge', '-p', '{"spec":{"nodeName":"gw-c"}}');
      await waitFor('the watch to print the move to gw-c', () => /MODIFIED\s+thermo-2\s+gw-c/.test(out), 30_000, 50);
      await ok('delete', 'testdevice', 'thermo-2');
      await waitFor('the watch to print the delete', () => /DELETED\s+thermo-2/.test(out), 30_000, 50);
    } finally {
      child.kill('SIGTERM');
    }
  });

  it('deletes a custom resource and waits until it is gone', async () => {
    assert.match(await ok('delete', 'testdevice', 'thermo-1'), /testdevice.fixtures.edgetwin.io "thermo-1" deleted/);
    const gone = await kubectl('get', 'testdevice', 'thermo-1');
    assert.notEqual(gone.code, 0);
    assert.match(gone.stderr, /NotFound.*"thermo-1" not found/);
  });

  it('creates a namespace, secret, configmap and service account with kubectl create (protobuf request bodies), labels one, deletes the namespace', async () => {
    await ok('create', 'namespace', 'scratch');
    await ok('create', 'secret', 'generic', 'ca', '-n', 'scratch', '--from-literal=ca.crt=PEM', '--type=example.com/ca');
    await ok('create', 'configmap', 'settings', '-n', 'scratch', '--from-literal=mode=edge');
    await ok('create', 'serviceaccount', 'robot', '-n', 'scratch');
    await ok('label', 'configmap', 'settings', '-n', 'scratch', 'tier=edge');
    const secret = JSON.parse(await ok('get', 'secret', 'ca', '-n', 'scratch', '-o', 'json'));
    assert.equal(secret.type, 'example.com/ca');
    assert.equal(Buffer.from(secret.data['ca.crt'], 'base64').toString(), 'PEM');
    assert.equal(await ok('get', 'cm', '-n', 'scratch', '-l', 'tier=edge', '-o', 'jsonpath={.items[*].data.mode}'), 'edge');
    assert.match(await ok('get', 'sa', '-n', 'scratch'), /robot/);
    await ok('delete', 'namespace', 'scratch');
    const gone = await kubectl('get', 'namespace', 'scratch');
    assert.notEqual(gone.code, 0, 'kubectl delete waits until the namespace and its content are gone');
  });

  it('applies built-in manifests of the kinds deploy/ will hold, client-side and --server-side', async () => {
    const manifests = [
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'edgetwin' } },
      { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'edgetwin-cloud', namespace: 'edgetwin' } },
      { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'edgetwin-cloud' }, rules: [{ apiGroups: [''], resources: ['nodes'], verbs: ['get', 'list', 'watch'] }] },
      { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: 'edgetwin-cloud' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'edgetwin-cloud' }, subjects: [{ kind: 'ServiceAccount', name: 'edgetwin-cloud', namespace: 'edgetwin' }] },
      { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'edgetwin-cloud', namespace: 'edgetwin' }, spec: { replicas: 1, selector: { matchLabels: { app: 'edgetwin-cloud' } }, template: { metadata: { labels: { app: 'edgetwin-cloud' } }, spec: { containers: [{ name: 'cloud', image: 'edgetwin:0.1.0', args: ['cloud'] }] } } } },
      { apiVersion: 'v1', kind: 'Service', metadata: { name: 'edgetwin-cloud', namespace: 'edgetwin' }, spec: { selector: { app: 'edgetwin-cloud' }, ports: [{ name: 'cloudhub', port: 10000 }] } },
    ];
    const path = file('deploy.yaml', manifests);
    await ok('apply', '-f', path);
    manifests[4] = structuredClone(manifests[4]);
    (manifests[4] as any).spec.template.spec.containers[0].image = 'edgetwin:0.2.0';
    writeFileSync(path, manifests.map((d) => stringify(d)).join('---\n'));
    assert.match(await ok('apply', '-f', path), /deployment.apps\/edgetwin-cloud configured/);
    assert.equal(await ok('get', 'deploy', '-n', 'edgetwin', 'edgetwin-cloud', '-o', 'jsonpath={.spec.template.spec.containers[*].image}'), 'edgetwin:0.2.0');
    assert.match(await ok('apply', '--server-side', '-f', path), /serverside-applied/);
    assert.match(await ok('get', 'svc', '-n', 'edgetwin'), /edgetwin-cloud\s+ClusterIP/);
  });
});
