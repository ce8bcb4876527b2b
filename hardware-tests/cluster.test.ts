// The cloud's device path against a REAL Kubernetes cluster (k3s, kind, ...). Opt-in: set
//   KUBECONFIG=/path/to/kubeconfig     a cluster where you may install CRDs and create namespaces
// Without it every test is skipped with the reason. It installs edgetwin's CRDs (refusing, as
// `edgetwin cloud install-crds` does, to replace ones it does not contain), runs the cloud in this
// process with its controllers, joins a raw edge node, and walks a Device through create, report,
// desired change, move-less update and delete in a fresh namespace it deletes afterwards.
// See docs/cloud.md "Running against k3s or kind".
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { silentLogger } from '../core/log.ts';
import { freePort, waitFor } from '../core/testing.ts';
import { startCloud, type Cloud } from '../hub/cloudhub/cloud.ts';
import { installCrds } from '../hub/controllers/install-crds.ts';
import { collectionPath, loadKube, objectPath, type KubeClient } from '../hub/controllers/kube.ts';
import { createJoinToken } from '../hub/join/token.ts';
import { newMessage, type Message } from '../hub/message/index.ts';
import { joinAsNode, RawEdge } from '../hub/testing/edge-client.ts';

type Obj = Record<string, any>;
const kubeconfig = process.env.KUBECONFIG;
const skip = kubeconfig ? false : 'set KUBECONFIG to a cluster you may install CRDs into (k3s, kind) to run the cluster tests';
const G = 'devices.kubeedge.io';
const V = 'v1beta1';

describe('devices from a real cluster', { skip }, () => {
  const ns = `edgetwin-test-${randomBytes(3).toString('hex')}`;
  const node = `gw-${randomBytes(3).toString('hex')}`;
  let kube: KubeClient;
  let cloud: Cloud;
  let edge: RawEdge;
  let state: string;

  before(async () => {
    kube = loadKube(kubeconfig!);
    const results = await installCrds(kube);
    const refused = results.filter((r) => r.action === 'refused');
    assert.equal(refused.length, 0, `install-crds refused: ${refused.map((r) => `${r.name}: ${r.detail}`).join('; ')}`);
    await waitFor('the CRDs served', () => kube.request('GET', collectionPath(G, V, 'devices')).then(() => true, () => false), 60_000, 500);
    await kube.request('POST', collectionPath('', 'v1', 'namespaces'), { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } } });
    state = mkdtempSync(join(tmpdir(), 'edgetwin-cluster-'));
    cloud = await startCloud({
      stateDir: state, listen: '127.0.0.1', port: await freePort(), joinPort: await freePort(), httpPort: await freePort(), advertise: ['127.0.0.1'], log: silentLogger,
      kubernetes: kubeconfig, namespace: ns, controllers: { devices: { syncMs: 2000 } },
    });
    const creds = await joinAsNode(cloud.ports.join, await createJoinToken(cloud.ca), node);
    edge = await RawEdge.connect(cloud.ports.cloudhub, creds);
    const acked = new Set<string>();
    edge.ws.on('message', () => setImmediate(() => {
      for (const m of edge.received) if (m.route.group === 'resource' && m.route.operation !== 'response' && !acked.has(m.header.msg_id)) { acked.add(m.header.msg_id); edge.ack(m); }
    }));
  });
  after(async () => {
    edge?.close();
    await cloud?.close();
    await kube?.request('DELETE', objectPath('', 'v1', 'namespaces', undefined, ns)).catch(() => undefined);
    if (state) rmSync(state, { recursive: true, force: true });
  });

  it('the CA lives in Secret edgetwin-ca of the cloud\'s namespace', async () => {
    const s = await kube.request<Obj>('GET', objectPath('', 'v1', 'secrets', ns, 'edgetwin-ca'));
    assert.ok(s.data['ca.crt'] && s.data['ca.key']);
  });

  it('a Device goes to its node, reports reach its DeviceStatus, a desired change goes down, a delete removes it', async () => {
    await kube.request('POST', collectionPath(G, V, 'devicemodels', ns), { body: { apiVersion: `${G}/${V}`, kind: 'DeviceModel', metadata: { name: 'm' }, spec: { protocol: 'virtual', properties: [{ name: 'temp', type: 'FLOAT', accessMode: 'ReadWrite' }] } } });
    await kube.request('POST', collectionPath(G, V, 'devices', ns), { body: { apiVersion: `${G}/${V}`, kind: 'Device', metadata: { name: 'd1' }, spec: { nodeName: node, deviceModelRef: { name: 'm' }, protocol: { protocolName: 'virtual' }, properties: [{ name: 'temp', desired: { value: '20' } }] } } });
    await edge.next('the device', (m) => m.route.resource === `${ns}/device/d1`, 60_000);
    assert.deepEqual(edge.received.filter((m) => m.route.source === 'devicecontroller').map((m) => m.route.resource), ['membership', `${ns}/devicemodel/m`, `${ns}/device/d1`]);
    edge.send(newMessage({ source: 'twin', group: 'resource', operation: 'update', resource: `device/${ns}/d1/twin/edge_updated` }, { event_id: '1', timestamp: Date.now(), twin: { temp: { actual: { value: '20', metadata: { reconcile: 'applied' } }, expected: { value: '20' } } } }));
    const st: Obj = await waitFor<Obj>('the DeviceStatus', () => kube.request<Obj>('GET', objectPath(G, V, 'devicestatuses', ns, 'd1')).then((s) => (s.status?.twins?.[0]?.reported?.value === '20' ? s : undefined), () => undefined), 60_000, 500);
    assert.equal(st.status.extensions.summary.applied, 1);
    const from = edge.received.length;
    await kube.request('PATCH', objectPath(G, V, 'devices', ns, 'd1'), { body: { spec: { properties: [{ name: 'temp', desired: { value: '23' } }] } }, contentType: 'application/merge-patch+json' });
    const upd = await edge.next('the update', (m) => m.route.resource === `${ns}/device/d1` && m.route.operation === 'update', 60_000, from) as Message<Obj>;
    assert.equal(upd.content.spec.properties[0].desired.value, '23');
    await kube.request('DELETE', objectPath(G, V, 'devices', ns, 'd1'));
    await edge.next('the delete', (m) => m.route.resource === `${ns}/device/d1` && m.route.operation === 'delete', 60_000, from);
  });
});
