// The DeviceController against the Kubernetes API stand-in, with `edgetwin cloud` in process and
// raw edges (hub/testing/edge-client.ts) that check the wire: message order and shapes per node,
// spec updates, moves and deletes; reports into DeviceStatus (never the Device); a device error
// into status.extensions.error and an Event; the ObjectSync record; a cloud restarted with a
// Device deleted and one created meanwhile resends only what the node lacks.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { silentLogger } from '../../../core/log.ts';
import { freePort, waitFor } from '../../../core/testing.ts';
import { startCloud, type Cloud } from '../../cloudhub/cloud.ts';
import { createJoinToken } from '../../join/token.ts';
import { newMessage, type Message } from '../../message/index.ts';
import { joinAsNode, RawEdge, type NodeCredentials } from '../../testing/edge-client.ts';
import { startKubeApiServer, type KubeApiServer } from '../../testing/kube-apiserver/index.ts';
import { tempDir } from '../../../twin/testing.ts';
import { installCrds } from '../install-crds.ts';
import { collectionPath, loadKube, objectPath, type KubeClient } from '../kube.ts';

type Obj = Record<string, any>;
const G = 'devices.kubeedge.io';
const V = 'v1beta1';
const MERGE = 'application/merge-patch+json';

const model = (name: string) => ({ apiVersion: `${G}/${V}`, kind: 'DeviceModel', metadata: { name, namespace: 'default' }, spec: { protocol: 'virtual', properties: [{ name: 'temp', type: 'FLOAT', accessMode: 'ReadWrite' }, { name: 'speed', type: 'INT', accessMode: 'ReadWrite' }] } });
const device = (name: string, node: string, modelName = 'thermo') => ({
  apiVersion: `${G}/${V}`, kind: 'Device', metadata: { name, namespace: 'default', labels: { description: `the ${name}` } },
  spec: {
    nodeName: node, deviceModelRef: { name: modelName }, protocol: { protocolName: 'virtual', configData: { seed: 1 } },
    properties: [{ name: 'temp', desired: { value: '20' }, visitors: { protocolName: 'virtual', configData: { kind: 'sine' } } }, { name: 'speed', visitors: { protocolName: 'virtual', configData: {} } }],
  },
});

const twinReport = (name: string, values: Record<string, { actual: string; expected?: string; reconcile?: string; quality?: string }>) => newMessage(
  { source: 'twin', group: 'resource', operation: 'update', resource: `device/default/${name}/twin/edge_updated` },
  {
    event_id: 'e', timestamp: Date.now(),
    twin: Object.fromEntries(Object.entries(values).map(([k, v]) => [k, {
      actual: { value: v.actual, metadata: { timestamp: Date.now(), ...(v.quality ? { quality: v.quality } : {}), ...(v.reconcile ? { reconcile: v.reconcile } : {}) } },
      ...(v.expected ? { expected: { value: v.expected, metadata: { timestamp: Date.now(), origin: 'cloud' } } } : {}),
    }])),
  },
);

/** A raw edge that ACKs every ACK message as MetaManager would. */
async function edge(cloud: Cloud, creds: NodeCredentials): Promise<RawEdge> {
  const e = await RawEdge.connect(cloud.ports.cloudhub, creds);
  const acked = new Set<string>();
  const ackAll = () => {
    for (const m of e.received) {
      if (m.route.group === 'resource' && m.route.operation !== 'response' && !acked.has(m.header.msg_id)) {
        acked.add(m.header.msg_id);
        e.ack(m);
      }
    }
  };
  e.ws.on('message', () => setImmediate(ackAll));
  return e;
}

const deviceMsgs = (e: RawEdge, from = 0) => e.received.slice(from).filter((m) => m.route.source === 'devicecontroller');
const shape = (m: Message) => `${m.route.operation} ${m.route.resource}`;

describe('DeviceController', () => {
  const state = tempDir('edgetwin-devctl-');
  let api: KubeApiServer;
  let kube: KubeClient;
  let cloud: Cloud;
  let credsA: NodeCredentials;
  let credsB: NodeCredentials;
  let a: RawEdge;
  let b: RawEdge;

  const start = async () => startCloud({
    stateDir: state.dir, listen: '127.0.0.1', port: await freePort(), joinPort: await freePort(), httpPort: await freePort(), advertise: ['127.0.0.1'], log: silentLogger,
    kubernetes: api.kubeconfigPath,
    controllers: { devices: { syncMs: 300, statusWriter: { perDeviceIntervalMs: 200, budgetPerSecond: 20 } } },
    settings: { resend: { resendIntervalMs: 300, retriesAtInterval: 4, maxResendIntervalMs: 1000 } },
  });
  const get = (plural: string, name: string) => kube.request<Obj>('GET', objectPath(G, V, plural, 'default', name));
  const create = (plural: string, body: unknown) => kube.request<Obj>('POST', collectionPath(G, V, plural, 'default'), { body });

  before(async () => {
    api = await startKubeApiServer();
    kube = loadKube(api.kubeconfigPath);
    await installCrds(kube);
    cloud = await start();
    const token = await createJoinToken(cloud.ca);
    credsA = await joinAsNode(cloud.ports.join, token, 'gw-a');
    credsB = await joinAsNode(cloud.ports.join, token, 'gw-b');
    a = await edge(cloud, credsA);
    b = await edge(cloud, credsB);
    await create('devicemodels', model('thermo'));
  });
  after(async () => {
    a?.close();
    b?.close();
    await cloud?.close();
    await api?.stop();
    state.remove();
  });

  it('the CA is in Secret edgetwin/edgetwin-ca', async () => {
    const s = await kube.request<Obj>('GET', objectPath('', 'v1', 'secrets', 'edgetwin', 'edgetwin-ca'));
    assert.ok(s.data['ca.crt'] && s.data['ca.key']);
    assert.equal(Buffer.from(s.data['ca.crt'], 'base64').toString('base64'), Buffer.from(cloud.ca.certDer).toString('base64'));
  });

  it('a Device for gw-a: membership, devicemodel, device, in that order, only to gw-a; its DeviceStatus owned by it; the ACK in ObjectSync', async () => {
    const created = await create('devices', device('t1', 'gw-a'));
    await a.next('device t1', (m) => m.route.resource === 'default/device/t1');
    assert.deepEqual(deviceMsgs(a).map(shape), ['update membership', 'insert default/devicemodel/thermo', 'insert default/device/t1']);
    const [membership, modelMsg, dev] = deviceMsgs(a) as [Message<Obj>, Message<Obj>, Message<Obj>];
    assert.equal(membership.route.group, 'twin');
    assert.deepEqual(membership.content.added_devices, [{ id: 'default/t1', name: 't1', description: 'the t1' }]);
    assert.equal(modelMsg.content.kind, 'DeviceModel');
    assert.equal(dev.content.kind, 'Device');
    assert.equal(dev.header.resourceversion, created.metadata.resourceVersion);
    assert.equal(dev.content.spec.properties[0].desired.value, '20');
    assert.equal(deviceMsgs(b).length, 0, 'gw-b got nothing');

    const status = await waitFor('the DeviceStatus', () => get('devicestatuses', 't1').catch(() => undefined));
    assert.deepEqual(status.metadata.ownerReferences.map((o: Obj) => [o.kind, o.name, o.uid]), [['Device', 't1', created.metadata.uid]]);
    const sync = await waitFor('the ObjectSync', () => kube.request<Obj>('GET', objectPath('reliablesyncs.kubeedge.io', 'v1alpha1', 'objectsyncs', 'default', `gw-a.${created.metadata.uid}`)).catch(() => undefined).then((o) => o?.status?.objectResourceVersion === created.metadata.resourceVersion && o));
    assert.deepEqual(sync.spec, { objectAPIVersion: `${G}/${V}`, objectKind: 'Device', objectName: 't1' });
  });

  it('reports go into DeviceStatus with merge patches, coalesced; the Device is never written', async () => {
    const devWritesBefore = api.store.writesByResource.get(`${G}/devices`) ?? 0;
    const statusWritesBefore = api.store.writesByResource.get(`${G}/devicestatuses`) ?? 0;
    const t0 = Date.now();
    // 1,000 changes in a burst, as from a gateway back from offline.
    for (let i = 1; i <= 1000; i++) a.send(twinReport('t1', { temp: { actual: String(i), expected: '20', reconcile: i === 1000 ? 'applied' : 'pending', quality: 'good' } }));
    a.send(newMessage({ source: 'twin', group: 'resource', operation: 'update', resource: 'device/default/t1/state/update' }, JSON.stringify({ event_id: 'x', timestamp: Date.now(), device: { name: 't1', state: 'online', lastOnlineTime: '2026-11-27T03:00:00Z' } })));
    const st = await waitFor('the last value in DeviceStatus', async () => {
      const s = await get('devicestatuses', 't1');
      return s.status?.twins?.[0]?.reported?.value === '1000' && s.status.state === 'online' && s;
    });
    const elapsed = Date.now() - t0;
    assert.deepEqual(st.status.twins, [{ propertyName: 'temp', reported: st.status.twins[0].reported, observedDesired: st.status.twins[0].observedDesired }]);
    assert.equal(st.status.twins[0].reported.metadata.reconcile, 'applied');
    assert.equal(st.status.twins[0].reported.metadata.quality, 'good');
    assert.equal(st.status.twins[0].observedDesired.value, '20');
    assert.equal(st.status.twins[0].observedDesired.metadata.origin, 'cloud');
    assert.deepEqual(st.status.extensions.summary, { reported: 1, pending: 0, applied: 1, failed: 0, drifted: 0 });
    assert.equal(st.status.lastOnlineTime, '2026-11-27T03:00:00Z');
    const statusWrites = (api.store.writesByResource.get(`${G}/devicestatuses`) ?? 0) - statusWritesBefore;
    // One write per 200 ms at most, plus the one in flight when the burst began.
    assert.ok(statusWrites <= Math.ceil(elapsed / 200) + 1, `${statusWrites} status writes for 1,001 reports in ${elapsed} ms`);
    assert.ok(statusWrites < 50, `${statusWrites} writes: coalesced`);
    assert.equal((api.store.writesByResource.get(`${G}/devices`) ?? 0) - devWritesBefore, 0, 'no write of the Device');
  });

  it('a report for a device of another node is dropped', async () => {
    b.send(twinReport('t1', { temp: { actual: '-999' } }));
    a.send(twinReport('t1', { temp: { actual: '5' } }));
    await waitFor('the value from gw-a', async () => (await get('devicestatuses', 't1')).status?.twins?.[0]?.reported?.value === '5');
    const s = await get('devicestatuses', 't1');
    assert.notEqual(s.status.twins[0].reported.value, '-999');
  });

  it('a device error: status.extensions.error names the field, a Warning Event on the Device says it', async () => {
    a.send(newMessage({ source: 'twin', group: 'resource', operation: 'update', resource: 'device/default/t1/state/update' }, {
      event_id: 'y', timestamp: Date.now(), device: { name: 't1', state: 'unhealthy', error: { message: 'must be one of CoilRegister, DiscreteInputRegister, HoldingRegister, InputRegister', field: 'spec.properties[0].visitors.configData.register' } },
    }));
    const s = await waitFor('the error in DeviceStatus', async () => { const x = await get('devicestatuses', 't1'); return x.status?.extensions?.error && x; });
    assert.equal(s.status.extensions.error.field, 'spec.properties[0].visitors.configData.register');
    assert.equal(s.status.state, 'unhealthy');
    const events = await waitFor('the Event', async () => {
      const list = await kube.request<Obj>('GET', collectionPath('', 'v1', 'events', 'default'), { query: { fieldSelector: 'involvedObject.name=t1' } });
      return list.items.find((e: Obj) => e.reason === 'DeviceError');
    });
    assert.equal(events.type, 'Warning');
    assert.equal(events.involvedObject.kind, 'Device');
    assert.match(events.message, /spec\.properties\[0\]\.visitors\.configData\.register/);
    a.send(newMessage({ source: 'twin', group: 'resource', operation: 'update', resource: 'device/default/t1/state/update' }, { event_id: 'z', timestamp: Date.now(), device: { name: 't1', state: 'online' } }));
    await waitFor('the error cleared', async () => { const x = await get('devicestatuses', 't1'); return x.status?.state === 'online' && !x.status.extensions?.error; });
  });

  it('a spec change goes as a device update (the unchanged model is not resent); a nodeName change moves the device', async () => {
    const fromA = a.received.length;
    await kube.request('PATCH', objectPath(G, V, 'devices', 'default', 't1'), { body: { spec: { properties: [{ name: 'temp', desired: { value: '42' } }, { name: 'speed' }] } }, contentType: MERGE });
    const upd = await a.next('device update', (m) => m.route.resource === 'default/device/t1' && m.route.operation === 'update', 20_000, fromA) as Message<Obj>;
    assert.equal(upd.content.spec.properties[0].desired.value, '42');
    // The model is offered too, and dropped as `stale`: gw-a acknowledged this version of it already.
    assert.deepEqual(deviceMsgs(a, fromA).map(shape), ['update default/device/t1']);

    const fromA2 = a.received.length;
    await kube.request('PATCH', objectPath(G, V, 'devices', 'default', 't1'), { body: { spec: { nodeName: 'gw-b' } }, contentType: MERGE });
    await b.next('device on gw-b', (m) => m.route.resource === 'default/device/t1' && m.route.operation === 'insert');
    await a.next('device deleted on gw-a', (m) => m.route.resource === 'default/device/t1' && m.route.operation === 'delete', 20_000, fromA2);
    await a.next('model deleted on gw-a (its last user left)', (m) => m.route.resource === 'default/devicemodel/thermo' && m.route.operation === 'delete', 20_000, fromA2);
    const removed = deviceMsgs(a, fromA2).find((m) => m.route.resource === 'membership') as Message<Obj>;
    assert.deepEqual(removed.content.removed_devices.map((d: Obj) => d.id), ['default/t1']);
    assert.deepEqual(deviceMsgs(b).map(shape), ['update membership', 'insert default/devicemodel/thermo', 'insert default/device/t1']);
  });

  it('a delete removes the device from its node; its DeviceStatus goes with it', async () => {
    const fromB = b.received.length;
    await kube.request('DELETE', objectPath(G, V, 'devices', 'default', 't1'));
    await b.next('device delete', (m) => m.route.resource === 'default/device/t1' && m.route.operation === 'delete', 20_000, fromB);
    await waitFor('the DeviceStatus collected', () => get('devicestatuses', 't1').then(() => false, () => true));
  });

  it('the API server restarted: the informers come back; a Device created meanwhile goes once, none is sent twice', async () => {
    const before = await create('devices', device('before', 'gw-a'));
    await a.next('before', (m) => m.route.resource === 'default/device/before');
    // The edge's ACK recorded first (an ObjectSync write, itself an API request): one in flight when
    // the API server stops is lost, and the re-list then rightly sends the device again (at least once).
    await waitFor('the ObjectSync of before', () => kube.request<Obj>('GET', objectPath('reliablesyncs.kubeedge.io', 'v1alpha1', 'objectsyncs', 'default', `gw-a.${before.metadata.uid}`)).catch(() => undefined).then((o) => o?.status?.objectResourceVersion === before.metadata.resourceVersion));
    await api.restart();
    await create('devices', device('during', 'gw-a'));
    await a.next('during', (m) => m.route.resource === 'default/device/during', 60_000);
    // Once the informers are back (they sent 'during'): a label change arrives as a watch event, and
    // sends nothing. (Made while they re-list, it would be a newer resourceVersion than the edge's
    // ObjectSync, and sent once more as an update, as KubeEdge does: at least once, never lost.)
    await kube.request('PATCH', objectPath(G, V, 'devices', 'default', 'before'), { body: { metadata: { labels: { touched: 'yes' } } }, contentType: MERGE });
    // A later change still arrives: the watch is live again.
    await kube.request('PATCH', objectPath(G, V, 'devices', 'default', 'during'), { body: { spec: { properties: [{ name: 'temp', desired: { value: '7' } }, { name: 'speed' }] } }, contentType: MERGE });
    await a.next('during updated', (m) => m.route.resource === 'default/device/during' && m.route.operation === 'update', 60_000);
    const count = (name: string, op: string) => a.received.filter((m) => m.route.resource === `default/device/${name}` && m.route.operation === op).length;
    assert.equal(count('before', 'insert'), 1);
    assert.equal(count('before', 'update'), 0, 'a label change sends nothing, and the re-list does not resend');
    assert.equal(count('during', 'insert'), 1);
    assert.ok(before.metadata.uid);
    await kube.request('DELETE', objectPath(G, V, 'devices', 'default', 'before'));
    await kube.request('DELETE', objectPath(G, V, 'devices', 'default', 'during'));
    await a.next('during deleted', (m) => m.route.resource === 'default/device/during' && m.route.operation === 'delete');
  });

  it('a cloud restarted sends only what the node lacks: nothing for a device it has, the new one, a delete for the one gone', async () => {
    const keep = await create('devices', device('keep', 'gw-a'));
    const gone = await create('devices', device('gone', 'gw-a'));
    const syncName = (o: Obj) => objectPath('reliablesyncs.kubeedge.io', 'v1alpha1', 'objectsyncs', 'default', `gw-a.${o.metadata.uid}`);
    for (const o of [keep, gone]) await waitFor('acked', () => kube.request<Obj>('GET', syncName(o)).then((s) => s.status?.objectResourceVersion === o.metadata.resourceVersion, () => false));
    a.close();
    b.close();
    await cloud.close();
    // While the cloud is down: one Device deleted, one created.
    await kube.request('DELETE', objectPath(G, V, 'devices', 'default', 'gone'));
    await create('devices', device('fresh', 'gw-a'));
    cloud = await start();
    a = await edge(cloud, credsA);
    b = await edge(cloud, credsB);
    await a.next('fresh', (m) => m.route.resource === 'default/device/fresh' && m.route.operation === 'insert');
    await a.next('gone deleted', (m) => m.route.resource === 'default/device/gone' && m.route.operation === 'delete');
    await waitFor('the ObjectSync of gone deleted', () => kube.request('GET', syncName(gone)).then(() => false, () => true));
    // Several sync rounds later, still nothing for `keep`.
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(a.received.filter((m) => m.route.resource === 'default/device/keep').length, 0, 'keep was not resent');
    assert.equal(a.received.filter((m) => m.route.resource === 'default/device/fresh' && m.route.operation === 'insert').length, 1);
  });
});
