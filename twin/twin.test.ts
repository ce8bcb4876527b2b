import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { EdgetwinError } from '../core/errors.ts';
import { silentLogger } from '../core/log.ts';
import type { DeviceSpecResolved } from '../core/device.ts';
import { deltaPayload } from './kubeedge.ts';
import { TwinStore } from './store.ts';
import { device, property, RecordingWriter, tempDir, waitFor } from './testing.ts';
import { DeviceTwin, type TwinChange } from './twin.ts';

const ID = 'default/thermo';
const thermo = (over: { desired?: number; reconcile?: 'once' | 'enforce'; collectCycle?: number } = {}): DeviceSpecResolved =>
  device('thermo', [
    property('setpoint', { type: 'float', minimum: 5, maximum: 30, ...over }),
    property('temperature', { type: 'float', accessMode: 'ReadOnly' }),
  ], { methods: [{ name: 'configure', propertyNames: ['setpoint'] }] });

describe('DeviceTwin', () => {
  let tmp: ReturnType<typeof tempDir>;
  let store: TwinStore;
  let twin: DeviceTwin;
  let writer: RecordingWriter;
  const changes: TwinChange[] = [];

  const open = (devices: DeviceSpecResolved[], withWriter = true) => {
    store = TwinStore.open(tmp.dir);
    twin = new DeviceTwin({ store, log: silentLogger, nodeName: 'n1', ...(withWriter ? { writer } : {}), retry: { baseMs: 20, maxMs: 200 } });
    twin.on('change', (c) => changes.push(c));
    twin.setDevices(devices);
    // As the mapper runtime does once each device connects: desired values are written only then.
    if (withWriter) for (const d of devices) twin.state(d.id, 'online');
  };
  const reopen = async (devices: DeviceSpecResolved[]) => {
    await twin.close();
    store.close();
    open(devices);
  };
  const prop = (name: string) => twin.get(ID)!.properties[name]!;

  beforeEach(() => {
    tmp = tempDir();
    writer = new RecordingWriter();
    changes.length = 0;
  });
  afterEach(async () => {
    await twin.close();
    store.close();
    tmp.remove();
  });

  it('stores reported values and shows a delta against desired, with versions', async () => {
    open([thermo()], false);
    twin.report([{ device: ID, property: 'setpoint', value: 18, time: 1000, quality: 'good' }]);
    await twin.flush();
    assert.equal(prop('setpoint').reported?.value, 18);
    assert.equal(prop('setpoint').delta, false);
    const r = twin.setDesired(ID, 'setpoint', '21.5', 'api');
    assert.deepEqual([r.value, r.version, r.reconcile], [21.5, 1, 'pending']);
    assert.equal(prop('setpoint').delta, true);
    assert.deepEqual(prop('setpoint').expectedVersion, { cloud: 0, edge: 1 });
    twin.setDesired(ID, 'setpoint', 22, 'cloud');
    assert.deepEqual(prop('setpoint').expectedVersion, { cloud: 1, edge: 1 });
    assert.equal(prop('setpoint').desired?.version, 2);
    assert.equal(prop('setpoint').actualVersion.edge, 1);
    twin.report([{ device: ID, property: 'setpoint', value: 22, time: 2000, quality: 'good' }]);
    await twin.flush();
    assert.equal(prop('setpoint').delta, false);
    const reported = changes.filter((c) => c.kind === 'reported');
    assert.equal(reported.length, 2, 'one reported change per device per flush');
  });

  it('keeps a desired value pending without a writer and applies it once one is set', async () => {
    open([thermo()], false);
    twin.state(ID, 'online');
    twin.setDesired(ID, 'setpoint', 20, 'cli');
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(prop('setpoint').reconcile.state, 'pending');
    writer.served.add(ID);
    twin.setWriter(writer);
    await waitFor('applied', () => prop('setpoint').reconcile.state === 'applied');
    assert.deepEqual(writer.calls, [{ device: ID, property: 'setpoint', value: 20 }]);
  });

  it('applies a desired value: write, read back, applied, reported updated', async () => {
    writer.served.add(ID);
    open([thermo()]);
    twin.setDesired(ID, 'setpoint', 19, 'api');
    await waitFor('applied', () => prop('setpoint').reconcile.state === 'applied');
    assert.equal(prop('setpoint').reconcile.attempts, 1);
    await waitFor('read-back reported', () => prop('setpoint').reported?.value === 19);
    assert.equal(prop('setpoint').delta, false);
  });

  it('marks a failed write with its reason and retries with backoff until it applies', async () => {
    writer.served.add(ID);
    writer.next({ ok: false, error: { code: 'ETIMEDOUT', message: 'no answer in 1000 ms' } }, { ok: true, readBack: 7 });
    open([thermo()]);
    const seen: string[] = [];
    twin.on('change', (c) => { if (c.kind === 'reconcile' && c.state === 'failed') seen.push(c.reason ?? ''); });
    twin.setDesired(ID, 'setpoint', 12, 'api');
    await waitFor('applied after retries', () => prop('setpoint').reconcile.state === 'applied');
    assert.equal(writer.calls.length, 3);
    assert.equal(prop('setpoint').reconcile.attempts, 3);
    assert.match(seen[0]!, /ETIMEDOUT: no answer in 1000 ms/);
    assert.match(seen[1]!, /read back 7 after writing 12/);
  });

  it('retries at once when the device comes back online', async () => {
    writer.served.add(ID);
    writer.fallback = { ok: false, error: { code: 'ECONNRESET', message: 'connection lost during the write' } };
    store = TwinStore.open(tmp.dir);
    twin = new DeviceTwin({ store, log: silentLogger, nodeName: 'n1', writer, retry: { baseMs: 3_600_000, maxMs: 3_600_000 } });
    twin.setDevices([thermo()]);
    twin.state(ID, 'online');
    twin.setDesired(ID, 'setpoint', 15, 'api');
    await waitFor('failed', () => prop('setpoint').reconcile.state === 'failed');
    assert.match(prop('setpoint').reconcile.reason!, /connection lost/);
    twin.state(ID, 'offline', 'connection refused');
    writer.fallback = undefined;
    twin.state(ID, 'online');
    await waitFor('applied after reconnect', () => prop('setpoint').reconcile.state === 'applied');
    assert.equal(writer.calls.length, 2);
  });

  it('does not write to a device that is not connected, and writes as soon as it comes online', async () => {
    writer.served.add(ID);
    store = TwinStore.open(tmp.dir);
    twin = new DeviceTwin({ store, log: silentLogger, nodeName: 'n1', writer, retry: { baseMs: 3_600_000, maxMs: 3_600_000 } });
    twin.setDevices([thermo()]);
    twin.state(ID, 'offline', 'connection refused');
    twin.setDesired(ID, 'setpoint', 15, 'api');
    assert.equal(prop('setpoint').reconcile.state, 'pending');
    assert.match(prop('setpoint').reconcile.reason!, /waiting for the device to come online \(it is offline\)/);
    assert.equal(writer.calls.length, 0);
    twin.state(ID, 'online');
    await waitFor('applied once online', () => prop('setpoint').reconcile.state === 'applied');
    assert.equal(writer.calls.length, 1);
  });

  it('compares a read-back at the wire precision: a float32 register written 23.1 reads 23.100000381 and is applied', async () => {
    writer.served.add(ID);
    const held = Math.fround(23.1);
    writer.next({ ok: true, readBack: held });
    open([thermo()]);
    twin.setDesired(ID, 'setpoint', '23.1', 'api');
    await waitFor('applied', () => prop('setpoint').reconcile.state === 'applied' && prop('setpoint').reported?.value === held);
    assert.equal(prop('setpoint').delta, false, 'no delta: the device holds 23.1 as well as a float32 can');
    assert.equal(deltaPayload(twin.get(ID)!), undefined, 'no KubeEdge update/delta either');
    // The next poll shows the same float32: not drift.
    twin.report([{ device: ID, property: 'setpoint', value: held, time: Date.now(), quality: 'good' }]);
    await twin.flush();
    assert.equal(prop('setpoint').reconcile.state, 'applied');
    assert.equal(writer.calls.length, 1);
  });

  it('a read-back that differs beyond the wire precision fails the write', async () => {
    writer.served.add(ID);
    writer.next({ ok: true, readBack: 23.2 });
    open([thermo()]);
    twin.setDesired(ID, 'setpoint', '23.1', 'api');
    await waitFor('failed', () => prop('setpoint').reconcile.state === 'failed');
    assert.match(prop('setpoint').reconcile.reason ?? '', /read back 23.2 after writing 23.1/);
  });

  it('refuses hex, binary, octal and array desired values, naming device and property', () => {
    open([thermo()], false);
    for (const bad of ['0x10', '0b1111', '0o17', 'NaN', [[13]]]) {
      assert.throws(() => twin.setDesired(ID, 'setpoint', bad, 'api'), (e: unknown) =>
        e instanceof EdgetwinError && e.where.device === ID && e.where.property === 'setpoint' && /expected a decimal number/.test(e.message), String(bad));
    }
    assert.equal(prop('setpoint').desired, undefined);
  });

  it('shows drift as a delta and the state drifted, and back to applied when it returns', async () => {
    writer.served.add(ID);
    open([thermo()]);
    twin.setDesired(ID, 'setpoint', 20, 'api');
    await waitFor('applied', () => prop('setpoint').reconcile.state === 'applied' && prop('setpoint').reported?.value === 20);
    twin.report([{ device: ID, property: 'setpoint', value: 17, time: Date.now(), quality: 'good' }]);
    await twin.flush();
    assert.equal(prop('setpoint').reconcile.state, 'drifted');
    assert.equal(prop('setpoint').delta, true);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(writer.calls.length, 1, 'reconcile: once does not rewrite');
    twin.report([{ device: ID, property: 'setpoint', value: 20, time: Date.now(), quality: 'good' }]);
    await twin.flush();
    assert.equal(prop('setpoint').reconcile.state, 'applied');
  });

  it('enforce rewrites a drifted value at most once per collectCycle', async () => {
    writer.served.add(ID);
    open([thermo({ reconcile: 'enforce', collectCycle: 3_600_000 })]);
    twin.setDesired(ID, 'setpoint', 20, 'api');
    await waitFor('applied', () => prop('setpoint').reconcile.state === 'applied' && prop('setpoint').reported?.value === 20);
    const drift = async () => {
      twin.report([{ device: ID, property: 'setpoint', value: 16, time: Date.now(), quality: 'good' }]);
      await twin.flush();
    };
    await drift();
    await waitFor('rewrite applied', () => writer.calls.length === 2 && prop('setpoint').reconcile.state === 'applied');
    assert.deepEqual(writer.calls[1], { device: ID, property: 'setpoint', value: 20 });
    await drift();
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(writer.calls.length, 2, 'no second rewrite within one collectCycle');
    assert.equal(prop('setpoint').reconcile.state, 'drifted');
  });

  it('enforce rewrites again once a collectCycle has passed', async () => {
    writer.served.add(ID);
    open([thermo({ reconcile: 'enforce', collectCycle: 1 })]);
    twin.setDesired(ID, 'setpoint', 20, 'api');
    await waitFor('applied', () => prop('setpoint').reconcile.state === 'applied' && prop('setpoint').reported?.value === 20);
    for (let i = 2; i <= 3; i++) {
      await new Promise((r) => setTimeout(r, 5));
      twin.report([{ device: ID, property: 'setpoint', value: 16, time: Date.now(), quality: 'good' }]);
      await twin.flush();
      await waitFor(`rewrite ${i}`, () => writer.calls.length === i && prop('setpoint').reconcile.state === 'applied');
    }
  });

  it('rejects unknown devices and properties, ReadOnly properties and bad values with clear errors', () => {
    open([thermo()], false);
    const code = (fn: () => unknown) => {
      try {
        fn();
      } catch (e) {
        assert.ok(e instanceof EdgetwinError);
        return [e.code, e.format()];
      }
      assert.fail('expected an error');
    };
    assert.equal(code(() => twin.setDesired('default/nope', 'setpoint', 1, 'api'))[0], 'ET_NOT_FOUND');
    assert.equal(code(() => twin.setDesired(ID, 'nope', 1, 'api'))[0], 'ET_NOT_FOUND');
    const [ro, msg] = code(() => twin.setDesired(ID, 'temperature', 1, 'api'));
    assert.equal(ro, 'ET_READ_ONLY');
    assert.match(msg!, /default\/thermo property temperature: the property is ReadOnly/);
    assert.equal(code(() => twin.setDesired(ID, 'setpoint', 'warm', 'api'))[0], 'ET_MODEL_VALUE');
    assert.match(code(() => twin.setDesired(ID, 'setpoint', 31, 'api'))[1]!, /above the maximum 30/);
    assert.equal(prop('setpoint').desired, undefined, 'nothing changed');
  });

  it('invokes a method by setting its properties together', () => {
    open([thermo()], false);
    const r = twin.invokeMethod(ID, 'configure', { setpoint: '23' });
    assert.equal(r[0]!.value, 23);
    assert.throws(() => twin.invokeMethod(ID, 'reboot', {}), /no method "reboot"/);
    assert.throws(() => twin.invokeMethod(ID, 'configure', { temperature: 1 }), /does not set property "temperature"/);
  });

  it('keeps a runtime desired value across a restart; a YAML value applies only when the file changed it', async () => {
    writer.served.add(ID);
    open([thermo({ desired: 20 })]);
    assert.equal(prop('setpoint').desired?.value, 20);
    assert.equal(prop('setpoint').desired?.origin, 'yaml');
    twin.setDesired(ID, 'setpoint', 25, 'api');
    await waitFor('applied', () => prop('setpoint').reconcile.state === 'applied');
    await reopen([thermo({ desired: 20 })]);
    assert.equal(prop('setpoint').desired?.value, 25, 'runtime value survives an unchanged YAML');
    assert.equal(prop('setpoint').desired?.origin, 'api');
    assert.equal(prop('setpoint').reconcile.state, 'applied');
    await reopen([thermo({ desired: 22 })]);
    assert.equal(prop('setpoint').desired?.value, 22, 'an edited YAML value applies');
    assert.equal(prop('setpoint').desired?.origin, 'yaml');
  });

  it('a Device from the cloud: its desired value has origin cloud and a cloud version; a local value stays until the spec value changes', async () => {
    writer.served.add(ID);
    const fromCloud = (desired: number, collectCycle = 1000): DeviceSpecResolved => ({ ...thermo({ desired, collectCycle }), managedBy: 'cloud' });
    open([fromCloud(20)]);
    assert.deepEqual([prop('setpoint').desired?.value, prop('setpoint').desired?.origin], [20, 'cloud']);
    assert.deepEqual(prop('setpoint').expectedVersion, { cloud: 1, edge: 0 });
    twin.setDesired(ID, 'setpoint', 25, 'mqtt');
    // The Device updated in another field (or sent again): the local value stays in force.
    twin.setDevices([fromCloud(20, 2000)]);
    assert.deepEqual([prop('setpoint').desired?.value, prop('setpoint').desired?.origin], [25, 'mqtt']);
    await reopen([fromCloud(20, 2000)]);
    assert.deepEqual([prop('setpoint').desired?.value, prop('setpoint').desired?.origin], [25, 'mqtt'], 'also across a restart');
    // A changed spec value is the latest: it wins.
    twin.setDevices([fromCloud(22, 2000)]);
    assert.deepEqual([prop('setpoint').desired?.value, prop('setpoint').desired?.origin], [22, 'cloud']);
    assert.deepEqual(prop('setpoint').expectedVersion, { cloud: 2, edge: 1 });
    await waitFor('applied', () => prop('setpoint').reconcile.state === 'applied');
    assert.ok(changes.some((c) => c.kind === 'desired' && c.origin === 'cloud' && c.current.desired?.value === 22));
  });

  it('persists reported values, versions and when the device was last online across a restart', async () => {
    open([thermo()], false);
    twin.state(ID, 'online');
    for (let i = 0; i < 5; i++) twin.report([{ device: ID, property: 'temperature', value: 20 + i, time: 1000 + i, quality: 'good' }]);
    twin.report([{ device: ID, property: 'setpoint', time: 2000, quality: 'bad', error: { code: 'ETIMEDOUT', message: 'timeout' } }]);
    twin.setDesired(ID, 'setpoint', 21, 'api');
    await twin.flush();
    const lastOnline = twin.get(ID)!.lastOnline;
    await twin.close();
    store.close();
    open([thermo()], false);
    const t = prop('temperature');
    assert.equal(t.reported?.value, 24);
    assert.equal(t.actualVersion.edge, 5);
    assert.deepEqual(prop('setpoint').reported?.error, { code: 'ETIMEDOUT', message: 'timeout' });
    assert.equal(prop('setpoint').desired?.value, 21);
    // Until the device connects in this run, its state is unknown; when it was last online is kept.
    assert.equal(twin.get(ID)!.state, 'unknown');
    assert.equal(twin.get(ID)!.lastOnline, lastOnline);
  });

  it('a flush of readings alone writes their columns and keeps the row\'s desired value, versions and reconcile state', async () => {
    open([thermo()], false);
    twin.setDesired(ID, 'setpoint', 21, 'api');
    twin.setDesired(ID, 'setpoint', 22, 'api');
    // Separate flushes: each writes only the reported columns of a row the desired value wrote whole.
    twin.report([{ device: ID, property: 'setpoint', value: 19, time: 3000, quality: 'good' }]);
    await twin.flush();
    twin.report([{ device: ID, property: 'setpoint', time: 3100, quality: 'bad', error: { code: 'ETIMEDOUT', message: 'timeout' } }]);
    await twin.flush();
    await twin.close();
    store.close();
    open([thermo()], false);
    const p = prop('setpoint');
    assert.equal(p.desired?.value, 22);
    assert.deepEqual(p.expectedVersion, { cloud: 0, edge: 2 });
    assert.equal(p.reconcile.state, 'pending');
    // A bad reading has no value: the last good one stays, with the bad reading's time and error.
    assert.equal(p.reported?.value, 19);
    assert.equal(p.reported?.time, 3100);
    assert.equal(p.reported?.quality, 'bad');
    assert.deepEqual(p.reported?.error, { code: 'ETIMEDOUT', message: 'timeout' });
    assert.deepEqual(p.actualVersion, { cloud: 0, edge: 2 });
    assert.equal(p.delta, true);
  });

  it('stores every row of a large flush, whatever multi-row statements it takes (89 rows: 64 + 16 + 4 + 4 + 1)', async () => {
    const names = Array.from({ length: 89 }, (_, i) => `r${i}`);
    const big = device('big', names.map((n) => property(n, { type: 'int', accessMode: 'ReadOnly' })));
    open([big], false);
    for (let round = 1; round <= 2; round++) {
      twin.report(names.map((n, i) => ({ device: 'default/big', property: n, value: i * 10 + round, time: 5000 + i, quality: 'good' as const })));
      await twin.flush();
    }
    await twin.close();
    store.close();
    open([big], false);
    const props = twin.get('default/big')!.properties;
    assert.deepEqual(names.map((n) => props[n]!.reported?.value), names.map((_, i) => i * 10 + 2));
    assert.deepEqual(names.map((n) => props[n]!.reported?.time), names.map((_, i) => 5000 + i));
    assert.ok(names.every((n) => props[n]!.actualVersion.edge === 2));
  });

  it('with a flush window, readings of several turns of the event loop go out in one flush, and the window\'s timer flushes by itself', async () => {
    store = TwinStore.open(tmp.dir);
    twin = new DeviceTwin({ store, log: silentLogger, nodeName: 'n1', flushWindowMs: 60_000 });
    twin.on('change', (c) => changes.push(c));
    twin.setDevices([thermo()]);
    twin.report([{ device: ID, property: 'temperature', value: 20.5, time: 1000, quality: 'good' }]);
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setTimeout(r, 10));
    twin.report([{ device: ID, property: 'setpoint', value: 21, time: 1010, quality: 'good' }]);
    await new Promise((r) => setImmediate(r));
    const reported = () => changes.filter((c): c is Extract<TwinChange, { kind: 'reported' }> => c.kind === 'reported');
    assert.equal(reported().length, 0, 'nothing is told before the window ends');
    await twin.flush();
    assert.equal(reported().length, 1);
    assert.deepEqual(reported()[0]!.updates.map((u) => u.property).sort(), ['setpoint', 'temperature']);
    await twin.close();
    store.close();

    store = TwinStore.open(tmp.dir);
    twin = new DeviceTwin({ store, log: silentLogger, nodeName: 'n1', flushWindowMs: 20 });
    twin.on('change', (c) => changes.push(c));
    twin.setDevices([thermo()]);
    for (const value of [22, 23]) {
      twin.report([{ device: ID, property: 'temperature', value, time: 2000 + value, quality: 'good' }]);
      await waitFor(`the window's timer to flush ${value}`, () => twin.get(ID)!.properties.temperature!.reported?.value === value);
    }
  });

  it('puts each reading on its own property whatever the order readings come in, across a property replaced by a type change', async () => {
    const names = ['a', 'b', 'c'];
    const dev = (type: 'int' | 'string') => device('order', names.map((n) => property(n, { type: n === 'b' ? type : 'int', accessMode: 'ReadOnly' })));
    open([dev('int')], false);
    const ID2 = 'default/order';
    const send = async (order: string[], base: number) => {
      twin.report(order.map((n) => ({ device: ID2, property: n, value: n === 'b' && twin.get(ID2)!.properties.b!.type === 'string' ? `s${base}` : base + names.indexOf(n), time: base, quality: 'good' as const })));
      await twin.flush();
    };
    const values = () => names.map((n) => twin.get(ID2)!.properties[n]!.reported?.value);
    await send(['a', 'b', 'c'], 10);
    assert.deepEqual(values(), [10, 11, 12]);
    await send(['c', 'a', 'b'], 20);
    assert.deepEqual(values(), [20, 21, 22]);
    await send(['b', 'c'], 30);
    assert.deepEqual(values(), [20, 31, 32]);
    twin.setDevices([dev('string')]);
    await send(['a', 'b', 'c'], 40);
    assert.deepEqual(values(), [40, 's40', 42]);
  });

  it('reports membership changes and forgets removed devices', () => {
    open([thermo()], false);
    const other = device('pump', [property('speed')]);
    twin.setDevices([thermo(), other]);
    const m = changes.filter((c) => c.kind === 'membership');
    assert.deepEqual(m.at(-1)!.kind === 'membership' && m.at(-1)!.added.map((d) => d.device), ['default/pump']);
    twin.setDevices([other]);
    assert.equal(twin.get(ID), undefined);
    assert.deepEqual(twin.list().map((s) => s.device), ['default/pump']);
  });
});

describe('DeviceTwin listeners', () => {
  it('a failing change listener neither undoes the commit nor silences the others', async () => {
    const tmp = tempDir();
    const store = TwinStore.open(tmp.dir);
    const twin = new DeviceTwin({ store, log: silentLogger, nodeName: 'n1' });
    twin.setDevices([thermo()]);
    const seen: string[] = [];
    twin.on('change', () => {
      throw new Error('listener bug');
    });
    twin.on('change', (c) => seen.push(c.kind));
    twin.report([{ device: ID, property: 'temperature', value: 21, time: 1, quality: 'good' }]);
    await twin.flush();
    assert.deepEqual(seen, ['reported']);
    assert.equal(twin.get(ID)!.properties.temperature!.reported?.value, 21);
    await twin.close();
    store.close();
    tmp.remove();
  });
});
