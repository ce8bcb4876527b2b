// What each node has acknowledged, per object: the resourceVersion of the last ACKed message, or a
// tombstone after an ACKed delete. KubeEdge keeps this in ObjectSync status (and the messages in
// flight only in memory); the next issue stores it in ObjectSync objects too. Until then, and for
// a cloud without Kubernetes, a SQLite file in the state directory, written before the message
// leaves the queue, so a cloud killed with -9 and started again resends exactly what a node lacks.
import Database from 'better-sqlite3';
import { join } from 'node:path';

export interface AckRecord {
  /** The acknowledged resourceVersion; undefined for a delete that carried none. */
  resourceVersion?: string;
  /** The last acknowledged message deleted the object. */
  deleted: boolean;
  /** What the object is, when the message carried it (ObjectSync keeps it in its spec). */
  object?: ObjectRef;
}

export interface ObjectRef {
  apiVersion?: string;
  kind?: string;
  /** Absent (or KubeEdge's literal `null`) for a cluster-scoped object. */
  namespace?: string;
  name?: string;
}

export interface AckRecordStore {
  get(node: string, key: string): Promise<AckRecord | undefined>;
  put(node: string, key: string, record: AckRecord): Promise<void>;
  /** Every record of a node (for the sync that compares them with the objects there are). */
  list(node: string): Promise<Map<string, AckRecord>>;
  close(): void;
}

export const ACK_DB_FILE = 'cloud.db';

export class SqliteAckRecordStore implements AckRecordStore {
  private readonly db: Database.Database;
  private readonly getStmt: Database.Statement<[string, string], { rv: string | null; deleted: number }>;
  private readonly putStmt: Database.Statement<[string, string, string | null, number, number]>;
  private readonly listStmt: Database.Statement<[string], { key: string; rv: string | null; deleted: number }>;

  /** Opens `{stateDir}/cloud.db` (or `file` itself when it ends in .db). */
  constructor(stateDirOrFile: string) {
    const file = stateDirOrFile.endsWith('.db') ? stateDirOrFile : join(stateDirOrFile, ACK_DB_FILE);
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    // NORMAL in WAL mode survives a killed process; only a power cut may lose the last commits.
    this.db.pragma('synchronous = NORMAL');
    this.db.exec(`CREATE TABLE IF NOT EXISTS acked (
      node TEXT NOT NULL, key TEXT NOT NULL, rv TEXT, deleted INTEGER NOT NULL, updated_at INTEGER NOT NULL,
      PRIMARY KEY (node, key)) WITHOUT ROWID`);
    this.getStmt = this.db.prepare('SELECT rv, deleted FROM acked WHERE node = ? AND key = ?');
    this.putStmt = this.db.prepare(`INSERT INTO acked (node, key, rv, deleted, updated_at) VALUES (?, ?, ?, ?, ?)
      ON CONFLICT (node, key) DO UPDATE SET rv = excluded.rv, deleted = excluded.deleted, updated_at = excluded.updated_at`);
    this.listStmt = this.db.prepare('SELECT key, rv, deleted FROM acked WHERE node = ?');
  }

  async get(node: string, key: string): Promise<AckRecord | undefined> {
    const row = this.getStmt.get(node, key);
    return row ? toRecord(row) : undefined;
  }

  async put(node: string, key: string, record: AckRecord): Promise<void> {
    this.putStmt.run(node, key, record.resourceVersion ?? null, record.deleted ? 1 : 0, Date.now());
  }

  async list(node: string): Promise<Map<string, AckRecord>> {
    return new Map(this.listStmt.all(node).map((row) => [row.key, toRecord(row)]));
  }

  close(): void {
    this.db.close();
  }
}

function toRecord(row: { rv: string | null; deleted: number }): AckRecord {
  return row.rv === null ? { deleted: row.deleted === 1 } : { resourceVersion: row.rv, deleted: row.deleted === 1 };
}
