// The twin's durable state: one SQLite file per gateway, WAL, prepared statements only.
// Values are stored in their KubeEdge string form with the property type beside them, so a
// row reads back into the same typed value. WAL with synchronous=NORMAL survives kill -9 of
// the process (a committed transaction is in the WAL file); only a power loss can drop the last
// commits, which is the trade every embedded gateway store makes for throughput.

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { DeviceState } from '../core/reading.ts';

export interface DeviceRow {
  id: string;
  state: DeviceState;
  reason: string | null;
  last_online: number | null;
}

export interface PropertyRow {
  rid: number;
  device: string;
  name: string;
  type: string;
  desired: string | null;
  desired_time: number | null;
  desired_origin: string | null;
  exp_cloud: number;
  exp_edge: number;
  yaml_desired: string | null;
  reported: string | null;
  reported_time: number | null;
  quality: string | null;
  error_code: string | null;
  error_message: string | null;
  act_cloud: number;
  act_edge: number;
  rec_state: string;
  rec_attempts: number;
  rec_reason: string | null;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS devices (
  id TEXT PRIMARY KEY,
  state TEXT NOT NULL DEFAULT 'unknown',
  reason TEXT,
  last_online INTEGER
);
CREATE TABLE IF NOT EXISTS properties (
  device TEXT NOT NULL,
  name TEXT NOT NULL,
  type TEXT NOT NULL,
  desired TEXT, desired_time INTEGER, desired_origin TEXT,
  exp_cloud INTEGER NOT NULL DEFAULT 0, exp_edge INTEGER NOT NULL DEFAULT 0,
  yaml_desired TEXT,
  reported TEXT, reported_time INTEGER, quality TEXT, error_code TEXT, error_message TEXT,
  act_cloud INTEGER NOT NULL DEFAULT 0, act_edge INTEGER NOT NULL DEFAULT 0,
  rec_state TEXT NOT NULL DEFAULT 'none', rec_attempts INTEGER NOT NULL DEFAULT 0, rec_reason TEXT,
  PRIMARY KEY (device, name)
);
`;

export class TwinStore {
  readonly file: string;
  private readonly db: Database.Database;
  private readonly stmts;
  private readonly tx: (fn: () => void) => void;

  private constructor(file: string) {
    this.file = file;
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.exec(SCHEMA);
    const db = this.db;
    this.stmts = {
      deviceIds: db.prepare<[], { id: string }>('SELECT id FROM devices ORDER BY id'),
      device: db.prepare<[string], DeviceRow>('SELECT id, state, reason, last_online FROM devices WHERE id = ?'),
      insertDevice: db.prepare<[string]>('INSERT OR IGNORE INTO devices (id) VALUES (?)'),
      deleteDevice: db.prepare<[string]>('DELETE FROM devices WHERE id = ?'),
      deleteProperties: db.prepare<[string]>('DELETE FROM properties WHERE device = ?'),
      deleteProperty: db.prepare<[number]>('DELETE FROM properties WHERE rowid = ?'),
      state: db.prepare<[string, string | null, number | null, string]>('UPDATE devices SET state = ?, reason = ?, last_online = ? WHERE id = ?'),
      properties: db.prepare<[string], PropertyRow>('SELECT rowid AS rid, * FROM properties WHERE device = ?'),
      insertProperty: db.prepare<[string, string, string]>('INSERT INTO properties (device, name, type) VALUES (?, ?, ?)'),
      resetProperty: db.prepare<[string, number]>(
        `UPDATE properties SET type = ?, desired = NULL, desired_time = NULL, desired_origin = NULL, yaml_desired = NULL,
         reported = NULL, reported_time = NULL, quality = NULL, error_code = NULL, error_message = NULL,
         rec_state = 'none', rec_attempts = 0, rec_reason = NULL WHERE rowid = ?`,
      ),
      reported: db.prepare<[string | null, number, string, string | null, string | null, number, number]>(
        'UPDATE properties SET reported = COALESCE(?, reported), reported_time = ?, quality = ?, error_code = ?, error_message = ?, act_edge = ? WHERE rowid = ?',
      ),
      desired: db.prepare<[string, number, string, number, number, number]>(
        'UPDATE properties SET desired = ?, desired_time = ?, desired_origin = ?, exp_cloud = ?, exp_edge = ? WHERE rowid = ?',
      ),
      yamlDesired: db.prepare<[string | null, number]>('UPDATE properties SET yaml_desired = ? WHERE rowid = ?'),
      reconcile: db.prepare<[string, number, string | null, number]>(
        'UPDATE properties SET rec_state = ?, rec_attempts = ?, rec_reason = ? WHERE rowid = ?',
      ),
    };
    const runner = db.transaction((fn: () => void) => fn());
    this.tx = (fn) => runner(fn);
  }

  /** Opens (creating when needed) `<dataDir>/edgetwin.db`. */
  static open(dataDir: string): TwinStore {
    mkdirSync(dataDir, { recursive: true });
    return new TwinStore(join(dataDir, 'edgetwin.db'));
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  /** Runs fn in one transaction: everything it writes commits together or not at all. */
  transaction(fn: () => void): void {
    this.tx(fn);
  }

  deviceIds(): string[] {
    return this.stmts.deviceIds.all().map((r) => r.id);
  }

  device(id: string): DeviceRow | undefined {
    return this.stmts.device.get(id);
  }

  properties(device: string): PropertyRow[] {
    return this.stmts.properties.all(device);
  }

  addDevice(id: string): void {
    this.stmts.insertDevice.run(id);
  }

  removeDevice(id: string): void {
    this.stmts.deleteProperties.run(id);
    this.stmts.deleteDevice.run(id);
  }

  /** Returns the new row's id, the handle every later update uses. */
  addProperty(device: string, name: string, type: string): number {
    return Number(this.stmts.insertProperty.run(device, name, type).lastInsertRowid);
  }

  removeProperty(rid: number): void {
    this.stmts.deleteProperty.run(rid);
  }

  /** Forgets a property's values, for when its type changed and old values no longer parse. */
  resetProperty(rid: number, type: string): void {
    this.stmts.resetProperty.run(type, rid);
  }

  setState(id: string, state: DeviceState, reason: string | null, lastOnline: number | null): void {
    this.stmts.state.run(state, reason, lastOnline, id);
  }

  setReported(rid: number, text: string | null, time: number, quality: string, errorCode: string | null, errorMessage: string | null, actEdge: number): void {
    this.stmts.reported.run(text, time, quality, errorCode, errorMessage, actEdge, rid);
  }

  setDesired(rid: number, text: string, time: number, origin: string, expCloud: number, expEdge: number): void {
    this.stmts.desired.run(text, time, origin, expCloud, expEdge, rid);
  }

  setYamlDesired(rid: number, text: string | null): void {
    this.stmts.yamlDesired.run(text, rid);
  }

  setReconcile(rid: number, state: string, attempts: number, reason: string | null): void {
    this.stmts.reconcile.run(state, attempts, reason, rid);
  }
}
