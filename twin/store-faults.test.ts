// A store that refuses writes (a full disk, an I/O error), injected with SQLite triggers that
// abort every write the twin makes: the twin keeps running from memory and says so, a refused
// request changes nothing, and everything held in memory is stored once the store commits again.
// test/storage-faults.test.ts does the same with a real full file system.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { EdgetwinError } from '../core/errors.ts';
import { silentLogger } from '../core/log.ts';
import Database from 'better-sqlite3';
import { TwinStore, type PropertyRow } from './store.ts';
import { startEmbeddedBroker } from './broker.ts';
import { MqttEventBus } from './eventbus.ts';
import { AppClient, device, property, RecordingWriter, tempDir, waitFor } from './testing.ts';
import { DeviceTwin, type TwinChange } from './twin.ts';
import { freePort } from '../core/testing.ts';

const ID = 'default/oven';
const oven = () => device('oven', [
  property('setpoint', { type: 'float', minimum: 0, maximum: 300 }),
  property('temperature', { type: 'float', accessMode: 'ReadOnly' }),
]);

const TABLES = ['properties', 'reported', 'devices', 'meta'];
const FULL = TABLES.map((t) =>
  `CREATE TRIGGER full_${t}_u BEFORE UPDATE ON ${t} BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END;
   CREATE TRIGGER full_${t}_i BEFORE INSERT ON ${t} BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END;`).join('\n');
const SPACE = TABLES.map((t) => `DROP TRIGGER full_${t}_u; DROP TRIGGER full_${t}_i;`).join('\n');

describe('DeviceTwin on a store that refuses writes', () => {
  let tmp: ReturnType<typeof tempDir>;
  let store: TwinStore;
  let twin: DeviceTwin;
  let writer: RecordingWriter;
  const changes: TwinChange[] = [];

  beforeEach(() => {
    tmp = tempDir();
    writer = new RecordingWriter();
    writer.served.add(ID);
    changes.length = 0;
    store = TwinStore.open(tmp.dir);
    twin = new DeviceTwin({ store, log: silentLogger, nodeName: 'n1', writer, storeRetryMs: 20 });
    twin.on('change', (c) => changes.push(c));
    twin.setDevices([oven()]);
    twin.state(ID, 'online');
  });
  afterEach(async () => {
    await twin.close();
    store.close();
    tmp.remove();
  });

  const reported = () => changes.filter((c): c is Extract<TwinChange, { kind: 'reported' }> => c.kind === 'reported');
  // A second, read-only connection: what a restart would find.
  const stored = <T>(sql: string, ...args: unknown[]): T => {
    const db = new Database(store.file, { readonly: true });
    try {
      return db.prepare(sql).get(...args) as T;
    } finally {
      db.close();
    }
  };
  const storedRow = (name: string) => stored<PropertyRow>('SELECT * FROM properties JOIN reported USING (rid) WHERE device = ? AND name = ?', ID, name);

  it('refuses a desired value it cannot store: the caller gets an error and the twin does not show it', async () => {
    twin.setDesired(ID, 'setpoint', 180, 'api');
    await waitFor('the first desired value to be applied and read back', () => {
      const p = twin.get(ID)!.properties.setpoint!;
      return p.reconcile.state === 'applied' && p.reported?.value === 180;
    });
    const writes = writer.calls.length;
    store.database.exec(FULL);
    assert.throws(() => twin.setDesired(ID, 'setpoint', 250, 'api'), (err: unknown) => {
      assert.ok(err instanceof EdgetwinError);
      assert.equal(err.code, 'ET_STORAGE');
      assert.equal(err.where.file, store.file);
      assert.match(err.format(), /disk is full/);
      return true;
    });
    const p = twin.get(ID)!.properties.setpoint!;
    assert.equal(p.desired?.value, 180);
    assert.equal(p.desired?.version, 1);
    assert.equal(p.reconcile.state, 'applied');
    assert.equal(p.delta, false);
    assert.ok(!changes.some((c) => c.kind === 'desired' && c.current.desired?.value === 250), 'no desired change was announced');
    assert.match(twin.storeProblem ?? '', /disk is full/);
    store.database.exec(SPACE);
    await waitFor('the store to commit again', () => twin.storeProblem === undefined);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(writer.calls.length, writes, 'the refused value was never written to the device');
    assert.equal(storedRow('setpoint').desired, '180');
  });

  it('keeps readings live while the store refuses them, marks them not persisted, and stores them when it commits again', async () => {
    twin.report([{ device: ID, property: 'temperature', value: 20, time: 1000, quality: 'good' }]);
    await twin.flush();
    assert.equal(reported().at(-1)?.persisted, true);
    assert.equal(twin.storeProblem, undefined);

    store.database.exec(FULL);
    twin.report([{ device: ID, property: 'temperature', value: 21, time: 2000, quality: 'good' }]);
    await twin.flush();
    assert.equal(reported().at(-1)?.persisted, false);
    assert.equal(twin.get(ID)!.properties.temperature!.reported?.value, 21, 'the live twin shows the reading');
    assert.match(twin.storeProblem ?? '', /cannot write the twin store: database or disk is full/);
    // The device keeps reporting; state changes are kept too.
    twin.report([{ device: ID, property: 'temperature', value: 22.5, time: 3000, quality: 'good' }]);
    twin.state(ID, 'unhealthy', 'timeouts');
    await twin.flush();
    assert.equal(reported().at(-1)?.persisted, false);
    assert.equal(storedRow('temperature').reported, '20', 'the store still has the last committed value');

    store.database.exec(SPACE);
    await waitFor('the store to commit again', () => twin.storeProblem === undefined);
    assert.equal(storedRow('temperature').reported, '22.5');
    assert.equal(storedRow('temperature').reported_time, 3000);
    assert.equal(stored<{ state: string }>('SELECT state FROM devices WHERE id = ?', ID).state, 'unhealthy');
    twin.report([{ device: ID, property: 'temperature', value: 23, time: 4000, quality: 'good' }]);
    await twin.flush();
    assert.equal(reported().at(-1)?.persisted, true);
  });

  it('stores a desired value accepted as the store recovers, on a row readings left unwritten during the outage', async () => {
    store.database.exec(FULL);
    twin.report([{ device: ID, property: 'setpoint', value: 100, time: 1000, quality: 'good' }]);
    await twin.flush();
    assert.match(twin.storeProblem ?? '', /disk is full/);
    // Space comes back before the retry timer fires; the request's own transaction commits.
    store.database.exec(SPACE);
    twin.setDesired(ID, 'setpoint', 250, 'api');
    assert.equal(storedRow('setpoint').desired, '250', 'the desired value is in the store when the caller hears it was stored');
    await waitFor('the store to commit again', () => twin.storeProblem === undefined);
    assert.equal(storedRow('setpoint').desired, '250');
  });

  it('retries the store at the configured interval until it commits, and keeps only the newest value', async () => {
    store.database.exec(FULL);
    for (let i = 1; i <= 5; i++) {
      twin.report([{ device: ID, property: 'temperature', value: i, time: i, quality: 'good' }]);
      await twin.flush();
    }
    // Several retry intervals pass with the store still refusing: the twin stays degraded.
    await new Promise((r) => setTimeout(r, 100));
    assert.notEqual(twin.storeProblem, undefined);
    store.database.exec(SPACE);
    await waitFor('the store to commit again', () => twin.storeProblem === undefined);
    assert.equal(storedRow('temperature').reported, '5');
  });

  it('answers an MQTT twin/update it cannot store with code 500 and leaves the twin as it was; readings go out with persisted "false"', async () => {
    const broker = await startEmbeddedBroker({ port: await freePort(), log: silentLogger });
    const bus = new MqttEventBus({ twin, url: broker.url, inProcess: broker.aedes, nodeName: 'n1', log: silentLogger });
    await bus.start();
    const app = await AppClient.connect(broker.url);
    try {
      store.database.exec(FULL);
      const from = app.messages.length;
      app.publish(`$hw/events/device/${ID}/twin/update`, { event_id: 'full-1', timestamp: Date.now(), twin: { setpoint: { expected: { value: '250' } } } });
      const result = await app.next(`$hw/events/device/${ID}/twin/update/result`, (j) => j.event_id === 'full-1', from);
      assert.equal(result.code, 500);
      assert.match(result.reason, /disk is full/);
      assert.equal(twin.get(ID)!.properties.setpoint!.desired, undefined);
      twin.report([{ device: ID, property: 'temperature', value: 30, time: 5000, quality: 'good' }]);
      const data = await app.next(`$ke/events/device/${ID}/data/update`, (j) => j.data.temperature?.value === '30', from);
      assert.equal(data.data.temperature.metadata.persisted, 'false');
      store.database.exec(SPACE);
      await waitFor('the store to commit again', () => twin.storeProblem === undefined);
      twin.report([{ device: ID, property: 'temperature', value: 31, time: 6000, quality: 'good' }]);
      const stored = await app.next(`$ke/events/device/${ID}/data/update`, (j) => j.data.temperature?.value === '31', from);
      assert.equal(stored.data.temperature.metadata.persisted, undefined);
    } finally {
      await app.close();
      await bus.stop();
      await broker.close();
    }
  });
});
