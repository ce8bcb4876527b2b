// Devices from the cloud on a real gateway process (`edgetwin run --cloud`, the bundle in dist/:
// `node scripts/build.mjs` first), with a bare TLS WebSocket peer playing the cloud's
// DeviceController and the fault-injecting TCP proxy between them. The Device and DeviceModel
// objects are examples/cloud-devices/ as kubectl would store them. What the edge owns is checked
// here without the cloud's controllers: which devices run, desired value precedence, what goes up
// (twin/edge_updated with edgetwin's metadata, device errors), deletes, 1,000 changes offline, and a
// restart with the cloud unreachable.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { waitFor } from '../core/testing.ts';
import { newMessage, OK, responseTo, type Message } from '../hub/message/index.ts';
import { RawCloud } from '../hub/testing/raw-cloud.ts';
import { TcpProxy } from '../hub/testing/tcp-proxy.ts';
import { tempDir } from '../twin/testing.ts';
import { startEdge, stopEdge, type Edge } from './helpers/edge-process.ts';

const ROOT = resolve(import.meta.dirname, '..');
const EXAMPLES = join(ROOT, 'examples', 'cloud-devices');
const NODE = 'gw-a';

type KubeObject = { kind: string; metadata: { name: string; namespace?: string; uid?: string; resourceVersion?: string }; spec: Record<string, unknown> & { properties?: Record<string, unknown>[] } };

/** The example's objects, as the API server stores them (uid, resourceVersion). */
function example(file: string): KubeObject[] {
  return parseAllDocuments(readFileSync(join(EXAMPLES, file), 'utf8')).map((d) => {
    const o = d.toJS() as KubeObject;
    o.metadata.uid = `uid-${o.kind}-${o.metadata.name}`;
    return o;
  });
}

let rv = 100;
/** An object message as the DeviceController sends it (after CloudHub trimmed `node/{node}/`). */
function objectMessage(operation: 'insert' | 'update' | 'delete', o: KubeObject): Message {
  const version = String(++rv);
  const type = o.kind === 'Device' ? 'device' : 'devicemodel';
  const content = structuredClone({ ...o, metadata: { ...o.metadata, resourceVersion: version } });
  return newMessage({ source: 'devicecontroller', group: 'resource', operation, resource: `${o.metadata.namespace ?? 'default'}/${type}/${o.metadata.name}` }, content, { resourceVersion: version });
}

function membership(added: string[], removed: string[] = []): Message {
  const ids = (l: string[]) => l.map((n) => ({ id: `default/${n}`, name: n }));
  return newMessage({ source: 'devicecontroller', group: 'twin', operation: 'update', resource: 'membership' }, { event_id: 'e', timestamp: Date.now(), added_devices: ids(added), removed_devices: ids(removed) });
}



async function get<T>(e: Edge, path: string): Promise<{ status: number; body: T }> {
  const res = await fetch(`${e.api}${path}`);
  return { status: res.status, body: (await res.json()) as T };
}

interface TwinBody {
  properties: Record<string, { desired?: { value: unknown; origin: string }; reported?: { value?: unknown; time: number }; reconcile: { state: string } }>;
}
interface UpTwin {
  expected?: { value: string; metadata: Record<string, unknown> };
  actual?: { value: string; metadata: Record<string, unknown> };
}

describe('devices from the cloud on a gateway process', () => {
  const state = tempDir('edgetwin-cloud-');
  const data = tempDir('edgetwin-edge-');
  let cloud: RawCloud;
  let proxy: TcpProxy;
  let edge: Edge | undefined;
  const acked = new Set<string>();
  const models = example('models.yaml');
  const roomA = example('room-a.yaml')[0]!;
  const roomB = example('room-b.yaml')[0]!;
  const roomModel = models.find((m) => m.metadata.name === 'room-model')!;

  /** Upstream twin reports of one device and property, in arrival order, from frame `from` on. */
  const twinsOf = (device: string, property: string, from = 0): UpTwin[] =>
    cloud.frames.slice(from).filter((f) => f.route.resource === `device/default/${device}/twin/edge_updated`).flatMap((f) => {
      const t = (f.content as { twin: Record<string, UpTwin> }).twin[property];
      return t ? [t] : [];
    });
  /** The device's state/update messages: its error (the DeviceController's contract), or null when it carries none. */
  const errorsOf = (device: string, from = 0) =>
    cloud.frames.slice(from).filter((f) => f.route.resource === `device/default/${device}/state/update`).map((f) => {
      const d = (JSON.parse(f.content as string) as { device: { state: string; error?: { code: string; message: string; field?: string } } }).device;
      if (d.error) assert.equal(d.state, 'unhealthy');
      return d.error ?? null;
    });
  const send = async (m: Message) => {
    cloud.send(m);
    if (m.route.group === 'resource') await waitFor(`the ACK of ${m.route.resource}`, () => acked.has(m.header.msg_id), 30_000, 10);
  };
  const appliedCount = () => edge!.log.join('').split('devices from the cloud applied').length - 1;

  before(async () => {
    cloud = await RawCloud.start(state.dir);
    await cloud.enrol(data.dir, NODE);
    proxy = await TcpProxy.start({ target: { host: '127.0.0.1', port: cloud.port } });
    // The cloud stores what the edge reports and answers it; the edge ACKs what the cloud sends.
    cloud.answer = (m) => {
      if (m.route.operation === 'response' && m.header.parent_msg_id) acked.add(m.header.parent_msg_id);
      return m.route.source === 'twin' && m.route.operation === 'update' ? responseTo(m, OK) : undefined;
    };
    edge = await startEdge(data.dir, proxy.port);
    await waitFor('the edge to connect', () => cloud.current, 30_000, 20);
  });
  after(async () => {
    if (edge) await stopEdge(edge, 'SIGKILL');
    await proxy.close();
    await cloud.close();
    state.remove();
    data.remove();
  });

  it('membership, model and device in KubeEdge order: the device runs with the cloud desired value; a device bound to another node does not', async () => {
    await send(membership(['room-a']));
    await send(objectMessage('insert', roomModel));
    await send(objectMessage('insert', roomA));
    // A device for gw-b reaching gw-a (a move whose delete has not come yet) is stored, not run.
    await send(objectMessage('insert', roomB));
    await waitFor('room-a in the twin', async () => (await get(edge!, '/api/v1/devices/default/room-a/twin')).status === 200, 30_000, 50);
    const devices = (await get<{ devices: { device: string }[] }>(edge!, '/api/v1/devices')).body.devices.map((d) => d.device);
    assert.deepEqual(devices, ['default/room-a']);
    assert.equal((await get(edge!, '/api/v1/devices/default/room-b/twin')).status, 404);
    const twin = (await get<TwinBody>(edge!, '/api/v1/devices/default/room-a/twin')).body;
    assert.equal(twin.properties.setpoint!.desired!.origin, 'cloud');
    assert.equal(twin.properties.setpoint!.desired!.value, 21.5);
    // Up: the property's twin in KubeEdge's shape, with the origin, the reconcile state and the quality.
    const up = await waitFor('setpoint applied, reported up', () => twinsOf('room-a', 'setpoint').find((t) => t.actual?.metadata.reconcile === 'applied'), 30_000, 50);
    assert.equal(up.expected!.value, '21.5');
    assert.equal(up.expected!.metadata.origin, 'cloud');
    assert.equal(up.actual!.value, '21.5');
    assert.equal(up.actual!.metadata.quality, 'good');
    await waitFor('temperature reported up with its quality', () => twinsOf('room-a', 'temperature').find((t) => t.actual?.metadata.quality === 'good'), 30_000, 50);
    await waitFor('room-a online, reported up', () => cloud.frames.some((f) => f.route.resource === 'device/default/room-a/state/update' && String(f.content).includes('"online"')), 30_000, 50);
  });

  it('a local desired value stays while the spec desired value is unchanged, goes up as observedDesired, and a changed spec value wins again', async () => {
    const res = await fetch(`${edge!.api}/api/v1/devices/default/room-a/twin/desired/setpoint`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ value: '23' }) });
    assert.equal(res.status, 200);
    await waitFor('the local value reported up with origin api', () => twinsOf('room-a', 'setpoint').find((t) => t.expected?.value === '23' && t.expected.metadata.origin === 'api'), 30_000, 50);
    // A spec edit that leaves the desired value as it was: the local value stays effective.
    const edited = structuredClone(roomA);
    (edited.spec.properties![0] as { collectCycle: number }).collectCycle = 700;
    const applied = appliedCount();
    await send(objectMessage('update', edited));
    await waitFor('the update applied', () => appliedCount() > applied, 30_000, 20);
    let twin = (await get<TwinBody>(edge!, '/api/v1/devices/default/room-a/twin')).body;
    assert.equal(twin.properties.setpoint!.desired!.value, 23);
    assert.equal(twin.properties.setpoint!.desired!.origin, 'api');
    // A changed spec value is the latest: it wins.
    const changed = structuredClone(edited);
    (changed.spec.properties![1] as { desired: { value: string } }).desired.value = '25';
    await send(objectMessage('update', changed));
    await waitFor('the cloud value 25', async () => (await get<TwinBody>(edge!, '/api/v1/devices/default/room-a/twin')).body.properties.setpoint!.desired!.value === 25, 30_000, 50);
    twin = (await get<TwinBody>(edge!, '/api/v1/devices/default/room-a/twin')).body;
    assert.equal(twin.properties.setpoint!.desired!.origin, 'cloud');
    roomA.spec = changed.spec;
  });

  it('a malformed Device fails on the edge: its error goes up naming the field, other devices keep running; fixed, the error is cleared', async () => {
    const bad = structuredClone(roomA);
    bad.metadata.name = 'bad-room';
    bad.metadata.uid = 'uid-bad-room';
    (bad.spec.properties![0] as { collectCycle: unknown }).collectCycle = 'often';
    await send(objectMessage('insert', bad));
    const error = await waitFor('the error of bad-room up', () => errorsOf('bad-room').find((e) => e !== null), 30_000, 50);
    assert.equal(error!.field, 'spec.properties[0].collectCycle');
    assert.match(error!.message, /collectCycle/);
    assert.equal((await get(edge!, '/api/v1/devices/default/bad-room/twin')).status, 404);
    // room-a still runs: its temperature keeps being read.
    const t0 = (await get<TwinBody>(edge!, '/api/v1/devices/default/room-a/twin')).body.properties.temperature!.reported!.time;
    await waitFor('room-a reads on', async () => (await get<TwinBody>(edge!, '/api/v1/devices/default/room-a/twin')).body.properties.temperature!.reported!.time > t0, 30_000, 50);
    // Refused by the driver's own visitor schema (the API server keeps configData as it is).
    const wrongVisitor = structuredClone(roomA);
    wrongVisitor.metadata.name = 'wrong-visitor';
    wrongVisitor.metadata.uid = 'uid-wrong-visitor';
    ((wrongVisitor.spec.properties![0] as { visitors: { configData: { function: string } } }).visitors.configData).function = 'noSuchFunction';
    await send(objectMessage('insert', wrongVisitor));
    const visitorError = await waitFor('the error of wrong-visitor up', () => errorsOf('wrong-visitor').find((e) => e !== null), 30_000, 50);
    assert.match(visitorError!.field ?? '', /^spec\.properties\[0\]\.visitors\.configData/);
    assert.match(visitorError!.message, /noSuchFunction|function/);
    const applied = appliedCount();
    await send(objectMessage('delete', wrongVisitor));
    await waitFor('the delete applied', () => appliedCount() > applied, 30_000, 20);
    assert.ok(!errorsOf('wrong-visitor').includes(null), 'a deleted Device gets no state after its error (its DeviceStatus is gone with it)');
    const h = (await get<{ status: string }>(edge!, '/healthz')).body;
    assert.notEqual(h.status, 'degraded', 'a cloud device error is the cluster\'s to see, not a gateway fault');

    (bad.spec.properties![0] as { collectCycle: unknown }).collectCycle = 500;
    const from = cloud.frames.length;
    await send(objectMessage('update', bad));
    await waitFor('the error cleared', () => errorsOf('bad-room', from).includes(null), 30_000, 50);
    await waitFor('bad-room runs', async () => (await get(edge!, '/api/v1/devices/default/bad-room/twin')).status === 200, 30_000, 50);
  });

  it('a running Device updated into a malformed one keeps its last good version running; its error stands until a good update clears it with its state', async () => {
    const broken = structuredClone(roomA);
    (broken.spec.properties![0] as { collectCycle: unknown }).collectCycle = 'often';
    const from = cloud.frames.length;
    await send(objectMessage('update', broken));
    await waitFor('the error of room-a up', () => errorsOf('room-a', from).find((e) => e !== null), 30_000, 50);
    const t0 = (await get<TwinBody>(edge!, '/api/v1/devices/default/room-a/twin')).body.properties.temperature!.reported!.time;
    await waitFor('room-a reads on at its last good version', async () => (await get<TwinBody>(edge!, '/api/v1/devices/default/room-a/twin')).body.properties.temperature!.reported!.time > t0, 30_000, 50);
    assert.ok(!errorsOf('room-a', from).includes(null), 'no state without the error while it stands');
    const fixed = cloud.frames.length;
    await send(objectMessage('update', roomA));
    await waitFor('the error cleared', () => errorsOf('room-a', fixed).includes(null), 30_000, 50);
    const cleared = cloud.frames.slice(fixed).find((f) => f.route.resource === 'device/default/room-a/state/update')!;
    assert.equal((JSON.parse(cleared.content as string) as { device: { state: string } }).device.state, 'online');
  });

  it('deleting a Device removes it and its twin from the gateway', async () => {
    const bad = { ...structuredClone(roomA), metadata: { name: 'bad-room', namespace: 'default', uid: 'uid-bad-room' } };
    await send(membership([], ['bad-room']));
    await send(objectMessage('delete', bad));
    await waitFor('bad-room gone', async () => (await get(edge!, '/api/v1/devices/default/bad-room/twin')).status === 404, 30_000, 50);
    assert.equal((await get(edge!, '/api/v1/devices/default/room-a/twin')).status, 200);
  });

  it('offline, 1,000 desired changes wait as one entry and go up in a few messages with the last value', async () => {
    proxy.refuse(true);
    proxy.cut();
    await waitFor('the link down', async () => !(await get<{ cloud: { connected: boolean } }>(edge!, '/healthz')).body.cloud.connected, 30_000, 50);
    let last = '';
    for (let i = 0; i < 1000; i++) {
      last = String(5 + (i % 250) / 10);
      const res = await fetch(`${edge!.api}/api/v1/devices/default/room-a/twin/desired/setpoint`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ value: last }) });
      assert.equal(res.status, 200);
    }
    const waiting = (await get<{ cloud: { outbox: number } }>(edge!, '/healthz')).body.cloud.outbox;
    assert.ok(waiting <= 10, `the outbox holds the last value per property and state per device, not 1,000 entries: ${waiting}`);
    const from = cloud.frames.length;
    proxy.refuse(false);
    await waitFor('the last value up', () => twinsOf('room-a', 'setpoint', from).some((t) => t.expected?.value === last), 30_000, 50);
    const upTo = twinsOf('room-a', 'setpoint', from);
    const carried = upTo.slice(0, upTo.findIndex((t) => t.expected?.value === last) + 1);
    assert.ok(carried.length <= 3, `the last value came in ${carried.length} messages`);
  });

  it('restarted with the cloud unreachable, it runs its cloud devices from MetaManager', async () => {
    await stopEdge(edge!, 'SIGTERM');
    proxy.refuse(true);
    proxy.cut();
    edge = await startEdge(data.dir, proxy.port);
    const h = (await get<{ cloud: { connected: boolean } }>(edge, '/healthz')).body;
    assert.equal(h.cloud.connected, false);
    const devices = (await get<{ devices: { device: string }[] }>(edge, '/api/v1/devices')).body.devices.map((d) => d.device);
    assert.deepEqual(devices, ['default/room-a']);
    const t0 = Date.now();
    await waitFor('room-a reads without the cloud', async () => ((await get<TwinBody>(edge!, '/api/v1/devices/default/room-a/twin')).body.properties.temperature!.reported?.time ?? 0) > t0, 30_000, 50);
    proxy.refuse(false);
    await waitFor('the link back', async () => (await get<{ cloud: { connected: boolean } }>(edge!, '/healthz')).body.cloud.connected, 30_000, 50);
  });
});
