// `edgetwin cloud` with Kubernetes, driven with the real kubectl against the API stand-in, as a
// user does: install-crds (and its refusal to replace a CRD it does not contain), kubectl apply of
// deploy/crds/ and deploy/cloud.yaml, a Device applied from examples/, values from a raw edge
// shown by `kubectl get devices,devicestatuses -o wide`, a desired value patched with kubectl
// reaching the node, a delete; `cloud token` reading the CA from the Secret; the cloud killed
// with -9 and restarted sending only what the node lacks (ObjectSync); python3-kubernetes reading
// the DeviceStatus as a second client.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { freePort, waitFor } from '../core/testing.ts';
import { crdsYaml } from '../hub/controllers/install-crds.ts';
import { newMessage, type Message } from '../hub/message/index.ts';
import { joinAsNode, RawEdge, type NodeCredentials } from '../hub/testing/edge-client.ts';
import { startKubeApiServer, type KubeApiServer } from '../hub/testing/kube-apiserver/index.ts';
import { run } from './helpers/kube-standin-fixtures.ts';

type Obj = Record<string, any>;
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const BIN = join(ROOT, 'cli', 'bin', 'edgetwin.js');
const KUBECTL = '/usr/bin/kubectl';
const PYTHON = '/usr/bin/python3';
const noKubectl = existsSync(KUBECTL) ? false : `${KUBECTL} is not installed (apt-get install kubectl): the kubectl cases are skipped`;
const noPython = spawnSync(PYTHON, ['-c', 'import kubernetes']).status === 0 ? false : `${PYTHON} cannot import kubernetes (apt-get install python3-kubernetes): the python case is skipped`;
for (const why of [noKubectl, noPython]) if (why) console.log(`# skipped: ${why}`);

describe('devices from Kubernetes, with kubectl', () => {
  let api: KubeApiServer;
  let dir: string;
  let cloud: ChildProcess | undefined;
  let ports: { port: number; joinPort: number; httpPort: number };
  let creds: NodeCredentials;
  let edge: RawEdge | undefined;
  const env = () => ({ KUBECONFIG: api.kubeconfigPath, HOME: dir });
  const kubectl = (...args: string[]) => run(KUBECTL, ['--cache-dir', join(dir, 'cache'), ...args], env());
  const ok = async (...args: string[]) => {
    const r = await kubectl(...args);
    assert.equal(r.code, 0, `kubectl ${args.join(' ')} failed: ${r.stderr}`);
    return r.stdout;
  };
  const edgetwin = (...args: string[]) => run(process.execPath, [BIN, ...args], env());
  const rows = (out: string) => out.trim().split('\n').map((l) => l.trim().split(/\s{2,}/));

  const startCloud = async () => {
    const child = spawn(process.execPath, [BIN, 'cloud', '--listen', '127.0.0.1', '--port', String(ports.port), '--join-port', String(ports.joinPort),
      '--http-port', String(ports.httpPort), '--advertise', '127.0.0.1', '--state-dir', join(dir, 'state'), '--config', join(dir, 'cloud.yaml')],
    { env: { ...process.env, ...env() }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (c) => (out += c));
    child.stderr!.on('data', (c) => (out += c));
    await waitFor('the cloud with its controllers', () => out.includes('controllers running against Kubernetes') || (child.exitCode !== null && Promise.reject(new Error(out))), 60_000);
    return child;
  };
  /** A raw edge that ACKs the cloud's ACK messages, as MetaManager does. */
  const connect = async () => {
    const e = await RawEdge.connect(ports.port, creds);
    const acked = new Set<string>();
    e.ws.on('message', () => setImmediate(() => {
      for (const m of e.received) {
        if (m.route.group === 'resource' && m.route.operation !== 'response' && !acked.has(m.header.msg_id)) {
          acked.add(m.header.msg_id);
          e.ack(m);
        }
      }
    }));
    return e;
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'edgetwin-devices-kubectl-'));
    api = await startKubeApiServer();
    ports = { port: await freePort(), joinPort: await freePort(), httpPort: await freePort() };
    writeFileSync(join(dir, 'cloud.yaml'), stringify({ devices: { statusWriter: { perDeviceInterval: '200ms', budget: 20 }, sync: '500ms' } }));
  });
  after(async () => {
    edge?.close();
    cloud?.kill('SIGKILL');
    await api?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('deploy/crds/ holds exactly what install-crds --dry-run prints', async () => {
    const files = readdirSync(join(ROOT, 'deploy', 'crds')).filter((f) => f.endsWith('.yaml'));
    const printed = (await edgetwin('cloud', 'install-crds', '--dry-run')).stdout;
    assert.equal(printed, crdsYaml());
    const docs = printed.split(/^---\n/m).filter(Boolean);
    assert.equal(docs.length, files.length);
    for (const doc of docs) {
      const name = /^ {2}name: (.+)$/m.exec(doc)![1]!;
      assert.equal(readFileSync(join(ROOT, 'deploy', 'crds', `${name}.yaml`), 'utf8'), `---\n${doc}`, `deploy/crds/${name}.yaml is out of date: regenerate it from install-crds --dry-run`);
    }
  });

  it('install-crds refuses to replace a CRD whose schema ours does not contain, unless --force; keeps versions we do not define', async () => {
    const theirs = {
      apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', metadata: { name: 'devicemodels.devices.kubeedge.io' },
      spec: {
        group: 'devices.kubeedge.io', scope: 'Namespaced', names: { kind: 'DeviceModel', plural: 'devicemodels', singular: 'devicemodel', listKind: 'DeviceModelList' },
        versions: [
          { name: 'v1alpha2', served: true, storage: false, schema: { openAPIV3Schema: { type: 'object', properties: { spec: { type: 'object', properties: { properties: { type: 'array', items: { type: 'object' } } } } } } } },
          { name: 'v1beta1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', properties: { spec: { type: 'object', properties: { protocol: { type: 'string' }, vendorExtra: { type: 'string' } } } } } } },
        ],
      },
    };
    const r0 = await run(process.execPath, [BIN, 'cloud', 'install-crds'], env());
    assert.equal(r0.code, 0, r0.stderr);
    // Replace ours with "theirs" (a field ours lacks), as a cluster with another schema has it.
    const crdPath = (n: string) => `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${n}`;
    const kube = (await import('../hub/controllers/kube.ts')).loadKube(api.kubeconfigPath);
    const live = await kube.request<Obj>('GET', crdPath('devicemodels.devices.kubeedge.io'));
    await kube.request('PUT', crdPath('devicemodels.devices.kubeedge.io'), { body: { ...theirs, metadata: { ...theirs.metadata, resourceVersion: live.metadata.resourceVersion } } });
    const refused = await edgetwin('cloud', 'install-crds');
    assert.equal(refused.code, 1);
    assert.match(refused.stdout, /devicemodels\.devices\.kubeedge\.io refused: .*v1beta1: \.spec\.vendorExtra.*--force/);
    assert.match(refused.stdout, /devices\.devices\.kubeedge\.io unchanged/);
    const forced = await edgetwin('cloud', 'install-crds', '--force');
    assert.equal(forced.code, 0, forced.stderr);
    assert.match(forced.stdout, /devicemodels\.devices\.kubeedge\.io updated: --force: dropped v1beta1: \.spec\.vendorExtra/);
    const after = await kube.request<Obj>('GET', crdPath('devicemodels.devices.kubeedge.io'));
    assert.deepEqual(after.spec.versions.map((v: Obj) => [v.name, v.storage]), [['v1beta1', true], ['v1alpha2', false]]);
  });

  it('kubectl applies deploy/crds/ and deploy/cloud.yaml', { skip: noKubectl }, async () => {
    assert.match(await ok('apply', '-f', join(ROOT, 'deploy', 'crds')), /devicestatuses\.devices\.kubeedge\.io (unchanged|configured)/);
    const out = await ok('apply', '-f', join(ROOT, 'deploy', 'cloud.yaml'));
    for (const what of ['namespace/edgetwin', 'serviceaccount/edgetwin-cloud', 'clusterrole.rbac.authorization.k8s.io/edgetwin-cloud', 'clusterrolebinding.rbac.authorization.k8s.io/edgetwin-cloud', 'deployment.apps/edgetwin-cloud', 'service/edgetwin-cloud']) {
      assert.match(out, new RegExp(`${what.replace(/\./g, '\\.')} created`));
    }
  });

  it('a Device applied with kubectl reaches its node; values come back; kubectl get -o wide shows them; a patched desired value goes down; a delete removes it', { skip: noKubectl }, async () => {
    cloud = await startCloud();
    const token = (await edgetwin('cloud', 'token')).stdout.trim();
    assert.match(token, /^[0-9a-f]{64}\./, 'cloud token reads the CA from Secret edgetwin-ca');
    creds = await joinAsNode(ports.joinPort, token, 'gw-a');
    edge = await connect();
    await ok('apply', '-f', join(ROOT, 'examples', 'kubernetes', 'thermostat.yaml'));
    const dev = await edge.next('the device', (m) => m.route.resource === 'default/device/thermostat') as Message<Obj>;
    assert.equal(dev.content.spec.properties[1].desired.value, '21');
    edge.send(newMessage({ source: 'twin', group: 'resource', operation: 'update', resource: 'device/default/thermostat/twin/edge_updated' }, {
      event_id: '1', timestamp: Date.now(),
      twin: {
        temperature: { actual: { value: '21.4', metadata: { quality: 'good' } } },
        setpoint: { actual: { value: '21', metadata: { reconcile: 'applied' } }, expected: { value: '21', metadata: { origin: 'cloud' } } },
      },
    }));
    edge.send(newMessage({ source: 'twin', group: 'resource', operation: 'update', resource: 'device/default/thermostat/state/update' }, { event_id: '2', timestamp: Date.now(), device: { name: 'thermostat', state: 'online', lastOnlineTime: '2026-11-27T03:00:00Z' } }));
    const table = await waitFor('kubectl get showing the status', async () => {
      const t = rows(await ok('get', 'devices,devicestatuses', '-o', 'wide'));
      return t.some((r) => r[0] === 'devicestatus.devices.kubeedge.io/thermostat' && r[1] === 'online') && t;
    }, 30_000);
    const devHeader = table[0]!;
    assert.deepEqual(devHeader.slice(0, 4), ['NAME', 'NODE', 'PROTOCOL', 'MODEL']);
    assert.deepEqual(table[1]!.slice(0, 4), ['device.devices.kubeedge.io/thermostat', 'gw-a', 'virtual', 'thermostat-model']);
    const statusHeader = table.findIndex((r) => r[0] === 'NAME' && r[1] === 'STATE');
    assert.deepEqual(table[statusHeader]!.slice(0, 7), ['NAME', 'STATE', 'LAST-ONLINE', 'REPORTED', 'PENDING', 'APPLIED', 'FAILED']);
    assert.deepEqual(table[statusHeader + 1]!.slice(0, 7), ['devicestatus.devices.kubeedge.io/thermostat', 'online', '2026-11-27T03:00:00Z', '2', '0', '1', '0']);

    const from = edge.received.length;
    await ok('patch', 'device', 'thermostat', '--type', 'merge', '-p', JSON.stringify({ spec: { properties: [{ name: 'temperature' }, { name: 'setpoint', desired: { value: '22.5' } }] } }));
    const upd = await edge.next('the new desired value', (m) => m.route.resource === 'default/device/thermostat' && m.route.operation === 'update', 20_000, from) as Message<Obj>;
    assert.equal(upd.content.spec.properties[1].desired.value, '22.5');
  });

  it('python3-kubernetes reads the DeviceStatus the cloud wrote', { skip: noKubectl || noPython }, async () => {
    const script = 'import json,sys\nfrom kubernetes import client, config\nconfig.load_kube_config(config_file=sys.argv[1])\n'
      + 's = client.CustomObjectsApi().get_namespaced_custom_object("devices.kubeedge.io", "v1beta1", "default", "devicestatuses", "thermostat")\n'
      + 'print(json.dumps({"owner": s["metadata"]["ownerReferences"][0]["kind"], "summary": s["status"]["extensions"]["summary"], "twins": {t["propertyName"]: t["reported"]["value"] for t in s["status"]["twins"]}}))\n';
    const r = await run(PYTHON, ['-c', script, api.kubeconfigPath], env());
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { owner: 'Device', summary: { reported: 2, pending: 0, applied: 1, failed: 0, drifted: 0 }, twins: { setpoint: '21', temperature: '21.4' } });
  });

  it('the cloud killed with -9 and restarted sends only what the node lacks', { skip: noKubectl }, async () => {
    const kube = (await import('../hub/controllers/kube.ts')).loadKube(api.kubeconfigPath);
    const syncs = async () => (await kube.request<Obj>('GET', '/apis/reliablesyncs.kubeedge.io/v1alpha1/objectsyncs')).items as Obj[];
    const thermostat = JSON.parse((await ok('get', 'device', 'thermostat', '-o', 'json')));
    await waitFor('the update acknowledged', async () => (await syncs()).some((s) => s.metadata.name === `gw-a.${thermostat.metadata.uid}` && s.status?.objectResourceVersion === thermostat.metadata.resourceVersion));
    edge!.close();
    cloud!.kill('SIGKILL');
    await new Promise((r) => cloud!.once('exit', r));
    writeFileSync(join(dir, 'second.yaml'), stringify({ apiVersion: 'devices.kubeedge.io/v1beta1', kind: 'Device', metadata: { name: 'second', namespace: 'default' }, spec: { nodeName: 'gw-a', deviceModelRef: { name: 'thermostat-model' }, protocol: { protocolName: 'virtual' }, properties: [{ name: 'temperature' }] } }));
    await ok('apply', '-f', join(dir, 'second.yaml'));
    cloud = await startCloud();
    edge = await connect();
    await edge.next('the device created while the cloud was down', (m) => m.route.resource === 'default/device/second');
    await new Promise((r) => setTimeout(r, 1500)); // three sync rounds
    assert.deepEqual(edge.received.filter((m) => m.route.source === 'devicecontroller' && m.route.resource.startsWith('default/device')).map((m) => m.route.resource), ['default/device/second'], 'the thermostat the node has was not resent');

    const from = edge.received.length;
    await ok('delete', 'device', 'thermostat');
    await edge.next('the delete', (m) => m.route.resource === 'default/device/thermostat' && m.route.operation === 'delete', 20_000, from);
    await waitFor('its DeviceStatus collected', async () => (await kubectl('get', 'devicestatus', 'thermostat')).code !== 0);
  });
});
