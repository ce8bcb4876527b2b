// The cloud's Devices as a device source, and their load errors going up, without a network:
// a real MetaManager on SQLite, the real model loader, the real outbox and Upstream.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { silentLogger } from '../../core/log.ts';
import { tempDir, waitFor } from '../../twin/testing.ts';
import { Outbox } from '../../twin/outbox.ts';
import { DeviceErrorReports } from '../edgehub/device-errors.ts';
import { TokenBucket } from '../edgehub/pacing.ts';
import { Upstream } from '../edgehub/upstream.ts';
import { newMessage, type Message } from '../message/index.ts';
import { CloudDevices, cloudDeviceOf } from './devices.ts';
import { MetaManager } from './metamanager.ts';

const model = {
  apiVersion: 'devices.kubeedge.io/v1beta1', kind: 'DeviceModel', metadata: { name: 'm', namespace: 'default', uid: 'u-m', resourceVersion: '1' },
  spec: { protocol: 'virtual', properties: [{ name: 'level', type: 'INT', accessMode: 'ReadWrite' }] },
};
const device = (name: string, nodeName: string, collectCycle: unknown = 1000, desired = '7') => ({
  apiVersion: 'devices.kubeedge.io/v1beta1', kind: 'Device',
  metadata: { name, namespace: 'default', uid: `u-${name}`, resourceVersion: '2', managedFields: [{ manager: 'kubectl' }] },
  spec: {
    deviceModelRef: { name: 'm' }, nodeName, protocol: { protocolName: 'virtual' },
    properties: [{ name: 'level', collectCycle, desired: { value: desired }, visitors: { protocolName: 'virtual', configData: { function: 'constant', value: 1 } } }],
  },
  status: {},
});
let rv = 10;
const put = (meta: MetaManager, o: { kind: string; metadata: { name: string } }, operation = 'insert') =>
  meta.apply(newMessage({ source: 'devicecontroller', group: 'resource', operation, resource: `default/${o.kind === 'Device' ? 'device' : 'devicemodel'}/${o.metadata.name}` }, o, { resourceVersion: String(++rv) }));

describe('CloudDevices', () => {
  let dir: ReturnType<typeof tempDir>;
  let db: Database.Database;
  let meta: MetaManager;

  beforeEach(() => {
    dir = tempDir('edgetwin-clouddev-');
    db = new Database(join(dir.dir, 'cloud.db'));
    meta = new MetaManager(db, silentLogger);
  });
  afterEach(() => {
    db.close();
    dir.remove();
  });

  it('runs the Devices bound to this node, marked as the cloud\'s, with their desired values; not those of another node', () => {
    put(meta, model);
    put(meta, device('mine', 'gw-a'));
    put(meta, device('theirs', 'gw-b'));
    const load = new CloudDevices({ meta, nodeName: 'gw-a', log: silentLogger }).load();
    assert.deepEqual(load.errors, []);
    assert.deepEqual(load.devices.map((d) => [d.id, d.managedBy, d.properties[0]!.desired]), [['default/mine', 'cloud', 7]]);
  });

  it('a malformed Device is an error naming the device and the field; the others load', () => {
    put(meta, model);
    put(meta, device('good', 'gw-a'));
    put(meta, device('bad', 'gw-a', 'often'));
    const load = new CloudDevices({ meta, nodeName: 'gw-a', log: silentLogger }).load();
    assert.deepEqual(load.devices.map((d) => d.id), ['default/good']);
    assert.equal(load.errors.length, 1);
    const e = load.errors[0]!;
    assert.equal(e.where.path, 'spec.properties[0].collectCycle');
    assert.equal(cloudDeviceOf(e.where), 'default/bad');
    assert.equal(e.where.file, 'cloud:default/device/bad');
  });

  it('a device whose model has not arrived is an error of that device; a burst of changes is one change event', async () => {
    const source = new CloudDevices({ meta, nodeName: 'gw-a', log: silentLogger, settleMs: 20 });
    let changes = 0;
    const stop = source.onChange(() => changes++);
    put(meta, device('early', 'gw-a'));
    const load = source.load();
    assert.equal(load.devices.length, 0);
    assert.equal(cloudDeviceOf(load.errors[0]!.where), 'default/early');
    put(meta, model);
    put(meta, device('early', 'gw-a'), 'update');
    await waitFor('one change', () => changes === 1, 5000);
    await new Promise((r) => setTimeout(r, 60));
    assert.equal(changes, 1);
    assert.deepEqual(source.load().devices.map((d) => d.id), ['default/early']);
    stop();
  });
});

describe('DeviceErrorReports', () => {
  let dir: ReturnType<typeof tempDir>;
  let db: Database.Database;
  let outbox: Outbox;
  let upstream: Upstream;
  let sent: Message[];

  beforeEach(() => {
    dir = tempDir('edgetwin-deverr-');
    db = new Database(join(dir.dir, 'cloud.db'));
    outbox = new Outbox({ db, name: 'cloud' });
    upstream = new Upstream({ outbox, bucket: new TokenBucket(1000, 1000), log: silentLogger, idSalt: 's' });
    sent = [];
  });
  afterEach(() => {
    upstream.close();
    outbox.close();
    db.close();
    dir.remove();
  });
  const states = () => sent.map((m) => [m.route.resource, (JSON.parse(m.content as string) as { device: { state: string; error?: { field?: string } } }).device]);

  it('sends a cloud device\'s error as state/update unhealthy once, remembers it across a restart, and clears it with the device\'s state', async () => {
    const meta = new MetaManager(db, silentLogger);
    put(meta, model);
    put(meta, device('bad', 'gw-a', 'often'));
    const { errors } = new CloudDevices({ meta, nodeName: 'gw-a', log: silentLogger }).load();
    const reports = new DeviceErrorReports(db, upstream, () => undefined);
    assert.deepEqual(reports.report(errors), ['default/bad']);
    assert.deepEqual(reports.report(errors), ['default/bad'], 'the same error again');
    assert.ok(reports.has('default/bad'));
    upstream.online((m) => (sent.push(m), true));
    await waitFor('the error up', () => sent.length === 1, 5000);
    const [resource, body] = states()[0]! as [string, { state: string; error: { field: string; message: string } }];
    assert.equal(resource, 'device/default/bad/state/update');
    assert.equal(body.state, 'unhealthy');
    assert.equal(body.error.field, 'spec.properties[0].collectCycle');
    assert.equal(outbox.size, 1, 'the same error is not sent twice');

    // A new process: the error is remembered, and clearing it sends the device's current state.
    const again = new DeviceErrorReports(db, upstream, (d) => (d === 'default/bad' ? { state: 'online', lastOnlineTime: '2026-01-01T00:00:00Z' } : undefined));
    assert.ok(again.has('default/bad'));
    assert.deepEqual(again.report([]), []);
    await waitFor('the clear up', () => sent.length === 2, 5000);
    assert.deepEqual(states()[1], ['device/default/bad/state/update', { name: 'bad', state: 'online', lastOnlineTime: '2026-01-01T00:00:00Z' }]);
    assert.equal(again.has('default/bad'), false);
  });

  it('errors of devices from files are not the cloud\'s and never go up', () => {
    const reports = new DeviceErrorReports(db, upstream, () => undefined);
    const fileErrors = new CloudDevices({ meta: new MetaManager(db, silentLogger), nodeName: 'gw-a', log: silentLogger }).load().errors;
    assert.deepEqual(fileErrors, []);
    assert.deepEqual(reports.report([{ where: { file: 'devices/plc.yaml', device: 'default/plc' }, code: 'ET_MODEL_SCHEMA', format: () => 'x' } as never]), []);
    assert.equal(outbox.size, 0);
  });
});
