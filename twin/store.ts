// The twin's durable state: one SQLite file per gateway, WAL, prepared statements only.
// Values are stored in their KubeEdge string form with the property type beside them, so a
// row reads back into the same typed value. WAL with synchronous=NORMAL survives kill -9 of
// the process (a committed transaction is in the WAL file); only a power loss can drop the last
// commits, which is the trade every embedded gateway store makes for throughput.

import { chmodSync, closeSync, existsSync, mkdirSync, openSync, statSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { EdgetwinError, ErrorCodes } from '../core/errors.ts';
import type { DeviceState } from '../core/reading.ts';
import { prepareSchema, SELECT_PROPERTIES } from './store-schema.ts';

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


/** Every mutable column of a property row except yaml_desired: what the twin holds in memory. */
export interface PropertyValues {
  desired: string | null;
  desiredTime: number | null;
  desiredOrigin: string | null;
  expCloud: number;
  expEdge: number;
  reported: string | null;
  reportedTime: number | null;
  quality: string | null;
  errorCode: string | null;
  errorMessage: string | null;
  actEdge: number;
  recState: string;
  recAttempts: number;
  recReason: string | null;
}

/** Rows per multi-row reported update, largest first; any count is a sum of these. */
const REPORTED_CHUNKS = [64, 16, 4, 1] as const;
/** Columns a reported row binds: rid, reported, reported_time, quality, error_code, error_message, act_edge. */
const REPORTED_COLUMNS = 7;

type Cell = string | number | null;

export class TwinStore {
  readonly file: string;
  private readonly db: Database.Database;
  private readonly stmts;
  private readonly tx: (fn: () => void) => void;
  /** One multi-row upsert per chunk size, and its parameter array, reused for every run. */
  private readonly reportedMany: { rows: number; stmt: Database.Statement<Cell[]>; args: Cell[] }[] = [];
  /**
   * The parameters of the rows queued so far, `reportedCells` of them used: the array keeps its
   * capacity between flushes (emptying it would make V8 grow it again, copy by copy, every flush).
   */
  private readonly reportedArgs: Cell[] = [];
  private reportedCells = 0;

  private constructor(file: string) {
    this.file = file;
    let db: Database.Database | undefined;
    try {
      db = new Database(file);
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      prepareSchema(db);
      // A read-only file or mount passes every read above; only a write tells.
      db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('opened', ?)").run(String(Date.now()));
    } catch (err) {
      if (db?.open) db.close();
      throw storageError(file, err, 'open');
    }
    this.db = db;
    this.stmts = {
      deviceIds: db.prepare<[], { id: string }>('SELECT id FROM devices ORDER BY id'),
      device: db.prepare<[string], DeviceRow>('SELECT id, state, reason, last_online FROM devices WHERE id = ?'),
      insertDevice: db.prepare<[string]>('INSERT OR IGNORE INTO devices (id) VALUES (?)'),
      deleteDevice: db.prepare<[string]>('DELETE FROM devices WHERE id = ?'),
      deleteReportedOf: db.prepare<[string]>('DELETE FROM reported WHERE rid IN (SELECT rid FROM properties WHERE device = ?)'),
      deleteProperties: db.prepare<[string]>('DELETE FROM properties WHERE device = ?'),
      deleteReported: db.prepare<[number]>('DELETE FROM reported WHERE rid = ?'),
      deleteProperty: db.prepare<[number]>('DELETE FROM properties WHERE rid = ?'),
      state: db.prepare<[string, string | null, number | null, string]>('UPDATE devices SET state = ?, reason = ?, last_online = ? WHERE id = ?'),
      properties: db.prepare<[string], PropertyRow>(SELECT_PROPERTIES),
      insertProperty: db.prepare<[string, string, string]>('INSERT INTO properties (device, name, type) VALUES (?, ?, ?)'),
      insertReported: db.prepare<[number]>('INSERT INTO reported (rid) VALUES (?)'),
      resetProperty: db.prepare<[string, number]>(
        `UPDATE properties SET type = ?, desired = NULL, desired_time = NULL, desired_origin = NULL, yaml_desired = NULL,
         rec_state = 'none', rec_attempts = 0, rec_reason = NULL WHERE rid = ?`,
      ),
      resetReported: db.prepare<[number]>(
        'UPDATE reported SET reported = NULL, reported_time = NULL, quality = NULL, error_code = NULL, error_message = NULL WHERE rid = ?',
      ),
      reported: db.prepare<[string | null, number | null, string | null, string | null, string | null, number, number]>(
        'UPDATE reported SET reported = ?, reported_time = ?, quality = ?, error_code = ?, error_message = ?, act_edge = ? WHERE rid = ?',
      ),
      desired: db.prepare<[string, number, string, number, number, number]>(
        'UPDATE properties SET desired = ?, desired_time = ?, desired_origin = ?, exp_cloud = ?, exp_edge = ? WHERE rid = ?',
      ),
      yamlDesired: db.prepare<[string | null, number]>('UPDATE properties SET yaml_desired = ? WHERE rid = ?'),
      reconcile: db.prepare<[string, number, string | null, number]>(
        'UPDATE properties SET rec_state = ?, rec_attempts = ?, rec_reason = ? WHERE rid = ?',
      ),
      save: db.prepare<[string | null, number | null, string | null, number, number, string, number, string | null, number]>(
        `UPDATE properties SET desired = ?, desired_time = ?, desired_origin = ?, exp_cloud = ?, exp_edge = ?,
         rec_state = ?, rec_attempts = ?, rec_reason = ? WHERE rid = ?`,
      ),
      heartbeat: db.prepare<[string]>("INSERT OR REPLACE INTO meta (key, value) VALUES ('committed', ?)"),
    };
    for (const n of REPORTED_CHUNKS) {
      const rows = Array.from({ length: n }, () => '(?, ?, ?, ?, ?, ?, ?)').join(', ');
      // An upsert: a quarter cheaper per row than UPDATE ... FROM (VALUES ...), which joins through a
      // table it builds first; a reported row that went missing is written again, not skipped.
      const stmt = db.prepare<Cell[]>(
        `INSERT INTO reported (rid, reported, reported_time, quality, error_code, error_message, act_edge) VALUES ${rows}
         ON CONFLICT (rid) DO UPDATE SET reported = excluded.reported, reported_time = excluded.reported_time, quality = excluded.quality,
         error_code = excluded.error_code, error_message = excluded.error_message, act_edge = excluded.act_edge`,
      );
      this.reportedMany.push({ rows: n, stmt, args: new Array<Cell>(n * REPORTED_COLUMNS).fill(null) });
    }
    const runner = db.transaction((fn: () => void) => fn());
    this.tx = (fn) => runner(fn);
  }

  /**
   * Opens (creating when needed) `<dataDir>/edgetwin.db`. The directory is created 0700 and the
   * file 0600 (SQLite gives its -wal and -shm files the database file's mode): desired values,
   * device names and addresses are nobody else's business on a shared machine. A file that is
   * not a database, or cannot be written, is an EdgetwinError naming the file and what to do.
   */
  static open(dataDir: string): TwinStore {
    const file = join(dataDir, 'edgetwin.db');
    try {
      mkdirSync(dataDir, { recursive: true, mode: 0o700 });
      if (!existsSync(file)) closeSync(openSync(file, 'wx', 0o600));
    } catch (err) {
      throw storageError(file, err, 'open');
    }
    // A store created world-readable by an earlier version is tightened; one we may not change
    // (a read-only mount) is left for SQLite to report.
    try {
      if (statSync(file).mode & 0o077) chmodSync(file, 0o600);
    } catch {
      // SQLite's own open below names the problem.
    }
    return new TwinStore(file);
  }

  /** The open database, for modules that keep their tables in the gateway's one file (the outbox). */
  get database(): Database.Database {
    return this.db;
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
    this.stmts.deleteReportedOf.run(id);
    this.stmts.deleteProperties.run(id);
    this.stmts.deleteDevice.run(id);
  }

  /** Returns the new row's id, the handle every later update uses. */
  addProperty(device: string, name: string, type: string): number {
    const rid = Number(this.stmts.insertProperty.run(device, name, type).lastInsertRowid);
    this.stmts.insertReported.run(rid);
    return rid;
  }

  removeProperty(rid: number): void {
    this.stmts.deleteReported.run(rid);
    this.stmts.deleteProperty.run(rid);
  }

  /** Forgets a property's values, for when its type changed and old values no longer parse. */
  resetProperty(rid: number, type: string): void {
    this.stmts.resetProperty.run(type, rid);
    this.stmts.resetReported.run(rid);
  }

  setState(id: string, state: DeviceState, reason: string | null, lastOnline: number | null): void {
    this.stmts.state.run(state, reason, lastOnline, id);
  }

  /**
   * Writes the columns a reading changes and no others: the twin's flush calls this for every
   * value it applies, so it binds seven parameters where saveProperty binds fifteen.
   */
  setReported(rid: number, text: string | null, time: number, quality: string, errorCode: string | null, errorMessage: string | null, actEdge: number): void {
    this.stmts.reported.run(text, time, quality, errorCode, errorMessage, actEdge, rid);
  }

  /**
   * Queues setReported's write of one row; writeReported() writes every queued row in a few
   * multi-row statements. One statement per row costs a call into SQLite and a run of its VM per
   * value, and a gateway flushes a hundred thousand values a second.
   */
  queueReported(rid: number, text: string | null, time: number, quality: string, errorCode: string | null, errorMessage: string | null, actEdge: number): void {
    const a = this.reportedArgs;
    let i = this.reportedCells;
    a[i++] = rid;
    a[i++] = text;
    a[i++] = time;
    a[i++] = quality;
    a[i++] = errorCode;
    a[i++] = errorMessage;
    a[i++] = actEdge;
    this.reportedCells = i;
  }

  /** Inside the transaction that queued them: writes the queued rows (and forgets them, written or not). */
  writeReported(): void {
    const all = this.reportedArgs;
    const cells = this.reportedCells;
    this.reportedCells = 0;
    let at = 0;
    let left = cells / REPORTED_COLUMNS;
    for (const { rows, stmt, args } of this.reportedMany) {
      for (; left >= rows; left -= rows) {
        for (let i = 0; i < args.length; i++) args[i] = all[at + i]!;
        at += args.length;
        // Spread, not the array itself: better-sqlite3 binds an array argument element by element
        // through V8's generic property lookup, and arguments straight from the call frame.
        stmt.run(...args);
      }
    }
    // The queued strings are not kept alive until the next flush overwrites them.
    all.fill(null, 0, cells);
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

  /** Writes a property's whole mutable state, as the twin holds it in memory. */
  saveProperty(rid: number, v: PropertyValues): void {
    this.stmts.save.run(v.desired, v.desiredTime, v.desiredOrigin, v.expCloud, v.expEdge, v.recState, v.recAttempts, v.recReason, rid);
    this.stmts.reported.run(v.reported, v.reportedTime, v.quality, v.errorCode, v.errorMessage, v.actEdge, rid);
  }

  /**
   * Copies the WAL into the database and truncates it: after a full disk this gives back the
   * space the WAL holds (up to ~4 MB before the automatic checkpoint). Best effort: false when
   * SQLite could not do it now.
   */
  checkpoint(): boolean {
    try {
      this.db.pragma('wal_checkpoint(TRUNCATE)');
      return true;
    } catch {
      return false;
    }
  }

  /** A write that always has something to write: proves the store commits again after a failure. */
  heartbeat(): void {
    this.stmts.heartbeat.run(String(Date.now()));
  }
}

const HINTS: Record<string, string> = {
  SQLITE_FULL: 'the disk is full: free space on that file system',
  SQLITE_NOTADB: 'the file is not an edgetwin database, or is corrupted: stop the gateway and move the file aside (a new, empty store is created at the next start; runtime desired values in the old file are lost) or restore it from a backup',
  SQLITE_CORRUPT: 'the database is corrupted: stop the gateway and move the file aside (a new, empty store is created at the next start; runtime desired values in the old file are lost) or restore it from a backup',
  SQLITE_READONLY: 'the file or its file system is read-only: make the data directory writable, or point --data-dir elsewhere',
  SQLITE_CANTOPEN: 'the file cannot be opened: check that the data directory exists and is writable, or point --data-dir elsewhere',
  SQLITE_IOERR: 'the disk reported an I/O error: check the device and the file system',
  EACCES: 'permission denied: make the data directory writable by this user, or point --data-dir elsewhere',
  EROFS: 'the file or its file system is read-only: make the data directory writable, or point --data-dir elsewhere',
  ENOSPC: 'the disk is full: free space on that file system',
};

/** The storage failure as a user sees it: which file, what SQLite or the OS said, what to do. */
export function storageError(file: string, err: unknown, doing: 'open' | 'write'): EdgetwinError {
  const code = (err as { code?: string }).code ?? '';
  const family = Object.keys(HINTS).find((k) => code === k || code.startsWith(`${k}_`));
  const message = err instanceof Error ? err.message : String(err);
  return new EdgetwinError(
    ErrorCodes.STORAGE,
    `cannot ${doing} the twin store: ${message}${code ? ` (${code})` : ''}`,
    { file },
    family ? HINTS[family] : 'check the data directory (permissions, free space) and the file',
    { cause: err },
  );
}
