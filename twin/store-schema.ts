// The twin store's tables, and the migration of a data directory written by an earlier version.
//
// A property's reported columns live in a table of their own, keyed by the property's rid: a gateway
// rewrites them for every value it polls (a hundred thousand a second), and SQLite rewrites a whole
// row for any change, so the narrow row is what each reading costs, and a device's hundred rows fit
// in a page or two of the WAL instead of five. The rest of the row changes only with desired values
// and reconcile state. `rid` is an INTEGER PRIMARY KEY, so it stays the same through a VACUUM.

import type Database from 'better-sqlite3';

/** Version 2: properties keyed by rid, reported columns in `reported`. Version 1 had one wide table. */
export const SCHEMA_VERSION = 2;

const DEVICES = `
CREATE TABLE IF NOT EXISTS devices (
  id TEXT PRIMARY KEY,
  state TEXT NOT NULL DEFAULT 'unknown',
  reason TEXT,
  last_online INTEGER
);`;

const PROPERTIES = `
CREATE TABLE IF NOT EXISTS properties (
  rid INTEGER PRIMARY KEY,
  device TEXT NOT NULL,
  name TEXT NOT NULL,
  type TEXT NOT NULL,
  desired TEXT, desired_time INTEGER, desired_origin TEXT,
  exp_cloud INTEGER NOT NULL DEFAULT 0, exp_edge INTEGER NOT NULL DEFAULT 0,
  yaml_desired TEXT,
  act_cloud INTEGER NOT NULL DEFAULT 0,
  rec_state TEXT NOT NULL DEFAULT 'none', rec_attempts INTEGER NOT NULL DEFAULT 0, rec_reason TEXT,
  UNIQUE (device, name)
);`;

const REPORTED = `
CREATE TABLE IF NOT EXISTS reported (
  rid INTEGER PRIMARY KEY,
  reported TEXT, reported_time INTEGER, quality TEXT, error_code TEXT, error_message TEXT,
  act_edge INTEGER NOT NULL DEFAULT 0
);`;

const META = 'CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);';

/** The columns both versions share, in the order the new properties table declares them. */
const KEPT = 'device, name, type, desired, desired_time, desired_origin, exp_cloud, exp_edge, yaml_desired, act_cloud, rec_state, rec_attempts, rec_reason';
const REPORTED_COLUMNS = 'reported, reported_time, quality, error_code, error_message, act_edge';

/**
 * Creates the tables, or brings a version 1 store to version 2 in one transaction (a crash halfway
 * leaves version 1 as it was). Rows keep their ids: rid is the old table's rowid.
 */
export function prepareSchema(db: Database.Database): void {
  const columns = (db.prepare("SELECT name FROM pragma_table_info('properties')").all() as { name: string }[]).map((c) => c.name);
  db.transaction(() => {
    db.exec(`${DEVICES}\n${META}`);
    if (columns.length > 0 && !columns.includes('rid')) {
      db.exec('ALTER TABLE properties RENAME TO properties_v1');
      db.exec(`${PROPERTIES}\n${REPORTED}`);
      db.exec(`INSERT INTO properties (rid, ${KEPT}) SELECT rowid, ${KEPT} FROM properties_v1`);
      db.exec(`INSERT INTO reported (rid, ${REPORTED_COLUMNS}) SELECT rowid, ${REPORTED_COLUMNS} FROM properties_v1`);
      db.exec('DROP TABLE properties_v1');
    } else db.exec(`${PROPERTIES}\n${REPORTED}`);
    db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('schema', ?)").run(String(SCHEMA_VERSION));
  })();
}

/** A property row as the twin loads it: both tables joined, the shape version 1 had. */
export const SELECT_PROPERTIES = `SELECT p.rid, p.device, p.name, p.type, p.desired, p.desired_time, p.desired_origin, p.exp_cloud, p.exp_edge,
  p.yaml_desired, r.reported, r.reported_time, r.quality, r.error_code, r.error_message, p.act_cloud, coalesce(r.act_edge, 0) AS act_edge,
  p.rec_state, p.rec_attempts, p.rec_reason
  FROM properties p LEFT JOIN reported r ON r.rid = p.rid WHERE p.device = ?`;
