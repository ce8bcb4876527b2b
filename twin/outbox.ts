// A durable, bounded, coalescing outbox: what a gateway must still send somewhere (an external
// MQTT broker, the cloud) while that somewhere is unreachable. It lives in SQLite, so what was
// put and committed is still there after kill -9, and an entry leaves only when its consumer
// says it was delivered.
//
// Two kinds of entries share one queue, drained oldest first:
// - keyed (`put(key, payload)`): the last value per key. A later put for a key that is still
//   waiting replaces the payload and KEEPS THE FIRST POSITION. A key that changes faster than the
//   queue drains (a busy sensor under a rate limit) is therefore still sent within one pass of
//   the queue; moving it to the back on every change would starve exactly the busiest values.
// - unkeyed (`append(payload)`): events, each kept, in the order appended.
//
// Delivery: `peek(n)` hands out the oldest entries, each with a revision; `remove(entries)`
// deletes an entry only if it was not replaced since it was peeked. A value put while an older
// one of the same key was in flight therefore stays, at the front, and goes out next.
//
// Bounds (entries and bytes): a put for a key already waiting never adds an entry. Beyond a bound
// the OLDEST entry is dropped, events before keyed values (an event is history; a keyed value is
// the only copy of current state), and each drop is counted in
// edgetwin_outbox_dropped_total{outbox,kind}. Dropping oldest rather than refusing new entries,
// because a producer (a device reading, a twin change) cannot wait, and the newest data is what a
// consumer needs first when the link returns. A single payload larger than maxBytes can never
// fit: put/append refuse it (return false) and count it as dropped.

import Database from 'better-sqlite3';
import { counter, Registry } from './metrics.ts';
import { Gauge } from 'prom-client';

export interface OutboxEntry {
  /** Position in the queue: smaller is older. Stable while the entry waits, even when coalesced. */
  readonly id: number;
  /** Bumped by every put that replaced this entry's payload. */
  readonly rev: number;
  /** The coalescing key, or null for an event. */
  readonly key: string | null;
  readonly payload: Buffer;
  /** ms since the epoch of the last put/append of this entry. */
  readonly time: number;
}

export interface OutboxOptions {
  /** An open database (the gateway's one file), or a file path to open. */
  db: Database.Database | string;
  /** Names this queue inside the database, so several outboxes can share one file. */
  name: string;
  /** Default 10,000 entries. */
  maxEntries?: number;
  /** Sum of payload bytes; default 16 MiB. */
  maxBytes?: number;
  registry?: Registry;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS outbox (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  queue TEXT NOT NULL,
  key TEXT,
  rev INTEGER NOT NULL DEFAULT 0,
  payload BLOB NOT NULL,
  time INTEGER NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS outbox_key ON outbox (queue, key);
CREATE INDEX IF NOT EXISTS outbox_order ON outbox (queue, key IS NOT NULL, seq);
`;

interface Row {
  seq: number;
  rev: number;
  key: string | null;
  payload: Buffer;
  time: number;
}

export class Outbox {
  readonly name: string;
  readonly maxEntries: number;
  readonly maxBytes: number;
  private readonly db: Database.Database;
  private readonly ownsDb: boolean;
  private entries = 0;
  private total = 0;
  private readonly stmts;
  private readonly putTx: (key: string | null, payload: Buffer, now: number) => boolean;
  private readonly removeTx: (entries: readonly Pick<OutboxEntry, 'id' | 'rev'>[]) => void;
  private readonly m;

  constructor(opts: OutboxOptions) {
    this.name = opts.name;
    this.maxEntries = opts.maxEntries ?? 10_000;
    this.maxBytes = opts.maxBytes ?? 16 * 1024 * 1024;
    if (typeof opts.db === 'string') {
      this.db = new Database(opts.db);
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = NORMAL');
      this.ownsDb = true;
    } else {
      this.db = opts.db;
      this.ownsDb = false;
    }
    this.db.exec(SCHEMA);
    const db = this.db;
    this.stmts = {
      totals: db.prepare<[string], { n: number; bytes: number | null }>('SELECT count(*) AS n, sum(length(payload)) AS bytes FROM outbox WHERE queue = ?'),
      byKey: db.prepare<[string, string], { seq: number; bytes: number }>('SELECT seq, length(payload) AS bytes FROM outbox WHERE queue = ? AND key = ?'),
      replace: db.prepare<[Buffer, number, number]>('UPDATE outbox SET payload = ?, time = ?, rev = rev + 1 WHERE seq = ?'),
      insert: db.prepare<[string, string | null, Buffer, number]>('INSERT INTO outbox (queue, key, payload, time) VALUES (?, ?, ?, ?)'),
      // Events first, then keyed values, each oldest first: the eviction order.
      victim: db.prepare<[string], { seq: number; bytes: number; keyed: number }>(
        'SELECT seq, length(payload) AS bytes, key IS NOT NULL AS keyed FROM outbox WHERE queue = ? ORDER BY key IS NOT NULL, seq LIMIT 1',
      ),
      deleteSeq: db.prepare<[number]>('DELETE FROM outbox WHERE seq = ?'),
      sizeOf: db.prepare<[number, number], { bytes: number }>('SELECT length(payload) AS bytes FROM outbox WHERE seq = ? AND rev = ?'),
      peek: db.prepare<[string, number], Row>('SELECT seq, rev, key, payload, time FROM outbox WHERE queue = ? ORDER BY seq LIMIT ?'),
      clear: db.prepare<[string]>('DELETE FROM outbox WHERE queue = ?'),
    };
    const registry = opts.registry ?? new Registry();
    this.m = {
      dropped: counter(registry, 'edgetwin_outbox_dropped_total', 'Outbox entries dropped at the bound (oldest first), or refused as larger than the bound', ['outbox', 'kind']),
      coalesced: counter(registry, 'edgetwin_outbox_coalesced_total', 'Keyed outbox puts that replaced a waiting value', ['outbox']),
      entries: gauge(registry, 'edgetwin_outbox_entries', 'Entries waiting in the outbox', ['outbox']),
      bytes: gauge(registry, 'edgetwin_outbox_bytes', 'Payload bytes waiting in the outbox', ['outbox']),
    };
    const t = this.stmts.totals.get(this.name)!;
    this.entries = t.n;
    this.total = t.bytes ?? 0;
    this.gauges();

    // Each put is one transaction: the counters change only once it committed, so a failed put
    // (a full disk) leaves the outbox exactly as it was.
    const putTx = db.transaction((key: string | null, payload: Buffer, now: number) => {
      let entries = this.entries;
      let total = this.total;
      const drops: ('event' | 'keyed')[] = [];
      const existing = key === null ? undefined : this.stmts.byKey.get(this.name, key);
      let seq: number;
      if (existing) {
        this.stmts.replace.run(payload, now, existing.seq);
        seq = existing.seq;
        total += payload.length - existing.bytes;
      } else {
        seq = Number(this.stmts.insert.run(this.name, key, payload, now).lastInsertRowid);
        entries++;
        total += payload.length;
      }
      let kept = true;
      while (entries > this.maxEntries || total > this.maxBytes) {
        const v = this.stmts.victim.get(this.name)!;
        this.stmts.deleteSeq.run(v.seq);
        entries--;
        total -= v.bytes;
        drops.push(v.keyed ? 'keyed' : 'event');
        if (v.seq === seq) kept = false;
      }
      return { entries, total, drops, kept, coalesced: existing !== undefined };
    });
    this.putTx = (key, payload, now) => {
      const r = putTx(key, payload, now);
      this.entries = r.entries;
      this.total = r.total;
      for (const kind of r.drops) this.m.dropped.inc({ outbox: this.name, kind });
      if (r.coalesced) this.m.coalesced.inc({ outbox: this.name });
      this.gauges();
      return r.kept;
    };
    const removeTx = db.transaction((list: readonly Pick<OutboxEntry, 'id' | 'rev'>[]) => {
      let entries = this.entries;
      let total = this.total;
      for (const e of list) {
        const row = this.stmts.sizeOf.get(e.id, e.rev);
        if (!row) continue; // replaced since it was peeked (or already removed): keep the newer value
        this.stmts.deleteSeq.run(e.id);
        entries--;
        total -= row.bytes;
      }
      return { entries, total };
    });
    this.removeTx = (list) => {
      const r = removeTx(list);
      this.entries = r.entries;
      this.total = r.total;
      this.gauges();
    };
  }

  /** Entries waiting. */
  get size(): number {
    return this.entries;
  }

  /** Payload bytes waiting. */
  get bytes(): number {
    return this.total;
  }

  /**
   * The last value for `key`: replaces a waiting value of the same key in place (same position),
   * or joins the back of the queue. False when it was not kept: the payload alone exceeds
   * maxBytes, or it was itself the oldest of its kind at the bound (an event appended to an
   * outbox full of keyed values). Throws when the database refuses the write (disk full):
   * nothing changed then.
   */
  put(key: string, payload: Buffer | string): boolean {
    return this.add(key, payload);
  }

  /** An event, kept in order behind everything already waiting. Same results as put(). */
  append(payload: Buffer | string): boolean {
    return this.add(null, payload);
  }

  /** The oldest `limit` entries, oldest first, without removing them. */
  peek(limit: number): OutboxEntry[] {
    return this.stmts.peek.all(this.name, limit).map((r) => ({ id: r.seq, rev: r.rev, key: r.key, payload: r.payload, time: r.time }));
  }

  oldest(): OutboxEntry | undefined {
    return this.peek(1)[0];
  }

  /** Deletes delivered entries: each only if it still holds the revision that was peeked. */
  remove(entries: readonly Pick<OutboxEntry, 'id' | 'rev'>[]): void {
    if (entries.length > 0) this.removeTx(entries);
  }

  clear(): void {
    this.stmts.clear.run(this.name);
    this.entries = 0;
    this.total = 0;
    this.gauges();
  }

  /** Closes the database only when the outbox opened it itself. */
  close(): void {
    if (this.ownsDb && this.db.open) this.db.close();
  }

  private add(key: string | null, payload: Buffer | string): boolean {
    const buf = typeof payload === 'string' ? Buffer.from(payload) : payload;
    if (buf.length > this.maxBytes) {
      this.m.dropped.inc({ outbox: this.name, kind: key === null ? 'event' : 'keyed' });
      return false;
    }
    return this.putTx(key, buf, Date.now());
  }

  private gauges(): void {
    this.m.entries.set({ outbox: this.name }, this.entries);
    this.m.bytes.set({ outbox: this.name }, this.total);
  }
}

function gauge<L extends string>(registry: Registry, name: string, help: string, labelNames: readonly L[]): Gauge<L> {
  const existing = registry.getSingleMetric(name);
  if (existing) return existing as Gauge<L>;
  return new Gauge<L>({ name, help, labelNames, registers: [registry] });
}
