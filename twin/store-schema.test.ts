// The store of an earlier version (one wide properties table, rows keyed by SQLite's rowid) opens
// in this one: every value, desired and reported, comes back under the same row id, and the rows
// are written to the new tables from then on. A VACUUM (sqlite3's, by hand) keeps the ids.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { silentLogger } from '../core/log.ts';
import { SCHEMA_VERSION } from './store-schema.ts';
import { TwinStore } from './store.ts';
import { device, property, tempDir } from './testing.ts';
import { DeviceTwin } from './twin.ts';

const V1 = `
CREATE TABLE devices (id TEXT PRIMARY KEY, state TEXT NOT NULL DEFAULT 'unknown', reason TEXT, last_online INTEGER);
CREATE TABLE properties (
  device TEXT NOT NULL, name TEXT NOT NULL, type TEXT NOT NULL,
  desired TEXT, desired_time INTEGER, desired_origin TEXT,
  exp_cloud INTEGER NOT NULL DEFAULT 0, exp_edge INTEGER NOT NULL DEFAULT 0, yaml_desired TEXT,
  reported TEXT, reported_time INTEGER, quality TEXT, error_code TEXT, error_message TEXT,
  act_cloud INTEGER NOT NULL DEFAULT 0, act_edge INTEGER NOT NULL DEFAULT 0,
  rec_state TEXT NOT NULL DEFAULT 'none', rec_attempts INTEGER NOT NULL DEFAULT 0, rec_reason TEXT,
  PRIMARY KEY (device, name));
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);
INSERT INTO devices (id, state, last_online) VALUES ('default/oven', 'online', 1700000000000);
INSERT INTO properties (device, name, type, desired, desired_time, desired_origin, exp_edge, reported, reported_time, quality, act_edge, rec_state)
  VALUES ('default/oven', 'setpoint', 'float', '180', 1700000000001, 'api', 3, '179.5', 1700000000002, 'good', 7, 'applied');
INSERT INTO properties (device, name, type, reported, reported_time, quality, error_code, error_message, act_edge)
  VALUES ('default/oven', 'door', 'boolean', NULL, 1700000000003, 'bad', 'ET_IO_TIMEOUT', 'no answer in 1000 ms', 2);
`;

const oven = () => device('oven', [
  property('setpoint', { type: 'float', minimum: 0, maximum: 300 }),
  property('door', { type: 'boolean', accessMode: 'ReadOnly' }),
]);

describe('TwinStore schema', () => {
  it('brings an earlier version\'s store to the current tables, values and row ids kept', async () => {
    const tmp = tempDir();
    try {
      const file = join(tmp.dir, 'edgetwin.db');
      const old = new Database(file);
      old.exec(V1);
      const before = old.prepare("SELECT rowid, name FROM properties ORDER BY rowid").all() as { rowid: number; name: string }[];
      old.close();

      let store = TwinStore.open(tmp.dir);
      const rows = store.properties('default/oven');
      assert.deepEqual(rows.map((r) => [r.rid, r.name]).sort((a, b) => Number(a[0]) - Number(b[0])), before.map((r) => [r.rowid, r.name]));
      const setpoint = rows.find((r) => r.name === 'setpoint')!;
      assert.equal(setpoint.desired, '180');
      assert.equal(setpoint.exp_edge, 3);
      assert.equal(setpoint.reported, '179.5');
      assert.equal(setpoint.reported_time, 1700000000002);
      assert.equal(setpoint.act_edge, 7);
      assert.equal(setpoint.rec_state, 'applied');
      const door = rows.find((r) => r.name === 'door')!;
      assert.equal(door.quality, 'bad');
      assert.equal(door.error_code, 'ET_IO_TIMEOUT');
      assert.equal(door.error_message, 'no answer in 1000 ms');
      assert.equal((store.database.prepare("SELECT value FROM meta WHERE key = 'schema'").get() as { value: string }).value, String(SCHEMA_VERSION));

      // The twin runs on the migrated store: its values load, new readings are stored.
      let twin = new DeviceTwin({ store, log: silentLogger, nodeName: 'n1' });
      twin.setDevices([oven()]);
      const view = twin.get('default/oven')!;
      assert.equal(view.properties.setpoint!.desired?.value, 180);
      assert.equal(view.properties.setpoint!.reported?.value, 179.5);
      twin.report([{ device: 'default/oven', property: 'door', value: true, time: 1700000000009, quality: 'good' }]);
      await twin.flush();
      await twin.close();
      store.close();

      // Opened again (no second migration), and after a VACUUM: the same ids, the new values.
      const db = new Database(file);
      db.exec('VACUUM');
      db.close();
      store = TwinStore.open(tmp.dir);
      twin = new DeviceTwin({ store, log: silentLogger, nodeName: 'n1' });
      twin.setDevices([oven()]);
      assert.deepEqual(store.properties('default/oven').map((r) => [r.rid, r.name]).sort((a, b) => Number(a[0]) - Number(b[0])), before.map((r) => [r.rowid, r.name]));
      assert.equal(twin.get('default/oven')!.properties.door!.reported?.value, true);
      assert.equal(twin.get('default/oven')!.properties.setpoint!.desired?.value, 180);
      await twin.close();
      store.close();
    } finally {
      tmp.remove();
    }
  });

  it('removes a property\'s reported row with the property, and a device\'s with the device; writes a missing one again', () => {
    const tmp = tempDir();
    const store = TwinStore.open(tmp.dir);
    try {
      const count = () => (store.database.prepare('SELECT count(*) AS n FROM reported').get() as { n: number }).n;
      store.transaction(() => {
        store.addDevice('default/a');
        store.addProperty('default/a', 'x', 'int');
        const y = store.addProperty('default/a', 'y', 'int');
        store.addDevice('default/b');
        store.addProperty('default/b', 'z', 'int');
        assert.equal(count(), 3);
        store.removeProperty(y);
        assert.equal(count(), 2);
        store.removeDevice('default/a');
        assert.equal(count(), 1);
      });
      // A reported row gone missing (a hand-edited file) is written again by the next reading.
      const z = store.properties('default/b')[0]!.rid;
      store.database.prepare('DELETE FROM reported WHERE rid = ?').run(z);
      store.transaction(() => {
        store.queueReported(z, '42', 1700000000000, 'good', null, null, 1);
        store.writeReported();
      });
      assert.equal(store.properties('default/b')[0]!.reported, '42');
    } finally {
      store.close();
      tmp.remove();
    }
  });
});
