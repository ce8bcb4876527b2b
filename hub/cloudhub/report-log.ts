// The consumer of edge -> cloud messages until the controllers exist (next issue): a SQLite log in
// the state directory. The cloud answers an edge message only after this stored it, so a cloud
// killed with -9 never loses a report it answered. A message the edge sends again (its answer was
// lost) is stored once, by (node, msg_id).
import Database from 'better-sqlite3';
import { join } from 'node:path';
import type { Message } from '../message/index.ts';
import { RecentKeys } from './recent-keys.ts';

export const REPORT_DB_FILE = 'reports.db';

/**
 * How long a report waits for others to share its transaction. Reports of thousands of nodes
 * arrive spread over each second, a few per event-loop turn: one commit per turn would be
 * thousands of WAL appends a second, each a write system call. A few milliseconds more per answer
 * buys a commit per dozens of reports.
 */
export const REPORT_BATCH_MS = 2;
/** A batch this big commits at once, without waiting out the window. */
const REPORT_BATCH_MAX = 2000;

export interface StoredReport {
  seq: number;
  node: string;
  msgId: string;
  operation: string;
  resource: string;
  content: unknown;
  at: number;
}

interface Pending {
  node: string;
  msg: Message;
  resolve: (stored: boolean) => void;
  reject: (err: Error) => void;
}

export class ReportLog {
  private readonly db: Database.Database;
  private readonly insert: Database.Statement<[string, string, string, string, string, number]>;
  private readonly prune: Database.Statement<[number]>;
  private inserted = 0;
  private batch: Pending[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly commit: (batch: Pending[]) => boolean[];
  /**
   * `{node}\0{msg_id}` of the newest `maxRows` reports: how a repeat is recognized. A UNIQUE index
   * on random message ids did the same at seven times the cost: each insert and each prune
   * rewrote a random index page, so the WAL grew by kilobytes per report.
   */
  private readonly seen: RecentKeys;

  /** Keeps the newest `maxRows` messages; a report waits at most `batchMs` for its commit to start. */
  constructor(stateDirOrFile: string, private readonly maxRows = 100_000, private readonly batchMs = REPORT_BATCH_MS) {
    const file = stateDirOrFile.endsWith('.db') ? stateDirOrFile : join(stateDirOrFile, REPORT_DB_FILE);
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.exec(`CREATE TABLE IF NOT EXISTS reports (
      seq INTEGER PRIMARY KEY AUTOINCREMENT, node TEXT NOT NULL, msg_id TEXT NOT NULL, operation TEXT NOT NULL,
      resource TEXT NOT NULL, content TEXT, at INTEGER NOT NULL)`);
    this.seen = new RecentKeys(maxRows);
    const kept = this.db.prepare<[number], { node: string; msg_id: string }>('SELECT node, msg_id FROM reports ORDER BY seq DESC LIMIT ?').all(maxRows);
    for (let i = kept.length - 1; i >= 0; i--) this.seen.add(`${kept[i]!.node}\0${kept[i]!.msg_id}`);
    // OR IGNORE: a file from an earlier version has a UNIQUE (node, msg_id), which agrees with `seen`.
    this.insert = this.db.prepare('INSERT OR IGNORE INTO reports (node, msg_id, operation, resource, content, at) VALUES (?, ?, ?, ?, ?, ?)');
    this.prune = this.db.prepare('DELETE FROM reports WHERE seq <= (SELECT MAX(seq) FROM reports) - ?');
    this.commit = this.db.transaction((batch: Pending[]) => {
      const fresh = new Set<string>();
      const out = batch.map(({ node, msg }) => {
        const key = `${node}\0${msg.header.msg_id}`;
        if (this.seen.has(key) || fresh.has(key)) return false;
        fresh.add(key);
        this.insert.run(node, msg.header.msg_id, msg.route.operation, msg.route.resource, JSON.stringify(msg.content ?? null), Date.now());
        return true;
      });
      const before = this.inserted;
      this.inserted += fresh.size;
      if (Math.floor(this.inserted / 1000) !== Math.floor(before / 1000)) this.prune.run(this.maxRows);
      return out;
    });
  }

  /** After a commit only: a failed transaction must not leave its keys behind as stored. */
  private remember(batch: Pending[], results: boolean[]): void {
    for (let i = 0; i < batch.length; i++) {
      if (!results[i]) continue;
      this.seen.add(`${batch[i]!.node}\0${batch[i]!.msg.header.msg_id}`);
    }
  }

  /**
   * Stores a message whose resource the cloud already prefixed with its node; resolves false for
   * a repeat. Messages arriving within `batchMs` of each other are committed in one transaction
   * (one WAL append for many reports), and each resolves only after that commit.
   */
  store(node: string, msg: Message): Promise<boolean> {
    return new Promise((resolve, reject) => {
      this.batch.push({ node, msg, resolve, reject });
      if (this.batch.length >= REPORT_BATCH_MAX) this.flush();
      else if (this.batch.length === 1) this.timer = setTimeout(() => this.flush(), this.batchMs);
    });
  }

  private flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.batch;
    this.batch = [];
    if (batch.length === 0) return;
    let results: boolean[];
    try {
      results = this.commit(batch);
    } catch (err) {
      for (const b of batch) b.reject(err as Error);
      return;
    }
    this.remember(batch, results);
    batch.forEach((b, i) => b.resolve(results[i]!));
  }

  list(node?: string): StoredReport[] {
    const rows = (node === undefined
      ? this.db.prepare('SELECT * FROM reports ORDER BY seq').all()
      : this.db.prepare('SELECT * FROM reports WHERE node = ? ORDER BY seq').all(node)) as Array<{ seq: number; node: string; msg_id: string; operation: string; resource: string; content: string | null; at: number }>;
    return rows.map((r) => ({ seq: r.seq, node: r.node, msgId: r.msg_id, operation: r.operation, resource: r.resource, content: r.content === null ? null : JSON.parse(r.content), at: r.at }));
  }

  /**
   * The newest report of each (node, resource), oldest first: what a reader needs to rebuild the
   * latest state after a restart (the fleet view's device states) without reading the whole log.
   */
  latest(): StoredReport[] {
    const rows = this.db.prepare(`SELECT r.* FROM reports r JOIN (SELECT MAX(seq) AS seq FROM reports GROUP BY node, resource) m ON r.seq = m.seq ORDER BY r.seq`)
      .all() as Array<{ seq: number; node: string; msg_id: string; operation: string; resource: string; content: string | null; at: number }>;
    return rows.map((r) => ({ seq: r.seq, node: r.node, msgId: r.msg_id, operation: r.operation, resource: r.resource, content: r.content === null ? null : JSON.parse(r.content), at: r.at }));
  }

  close(): void {
    if (this.batch.length > 0) this.flush();
    this.db.close();
  }
}
