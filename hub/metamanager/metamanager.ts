// MetaManager: the gateway's copy of every object the cloud sent, and the only place the rest of
// the gateway reads cloud objects from. A row is committed BEFORE the ACK goes up, so an object
// the cloud saw acknowledged is on disk even if the gateway is killed the next instant; and a
// gateway restarted with the cloud unreachable starts from this copy.
//
// The table follows KubeEdge's `meta` table (edge/pkg/metamanager/dao/models/meta.go): key = the
// trimmed resource `{ns}/{type}/{name}`, type = the type segment, value = the object's JSON, plus
// the resourceVersion, so a message delivered twice (a resend after a lost ACK) is acknowledged
// again but not applied again.

import { EventEmitter } from 'node:events';
import type Database from 'better-sqlite3';
import type { Logger } from '../../core/log.ts';
import { isNewer, Operations, parseEdgeResource, type Message } from '../message/index.ts';

export interface MetaObject {
  key: string;
  type: string;
  value: unknown;
  resourceVersion: string | null;
}

export type MetaChange =
  | { op: 'upsert'; object: MetaObject }
  | { op: 'delete'; key: string; type: string };

/** What apply() did with one message. */
export type ApplyResult = 'stored' | 'deleted' | 'stale' | 'ignored';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (
  key TEXT PRIMARY KEY,
  type TEXT NOT NULL,
  value TEXT NOT NULL,
  resource_version TEXT
);
CREATE INDEX IF NOT EXISTS meta_type ON meta (type);
`;

interface Row {
  key: string;
  type: string;
  value: string;
  resource_version: string | null;
}

const STORED_OPERATIONS = new Set<string>([Operations.INSERT, Operations.UPDATE, Operations.PATCH, Operations.RESPONSE]);

export class MetaManager extends EventEmitter {
  private readonly stmts;

  constructor(private readonly db: Database.Database, private readonly log: Logger) {
    super();
    db.exec(SCHEMA);
    this.stmts = {
      get: db.prepare<[string], Row>('SELECT key, type, value, resource_version FROM meta WHERE key = ?'),
      rv: db.prepare<[string], { resource_version: string | null }>('SELECT resource_version FROM meta WHERE key = ?'),
      byType: db.prepare<[string], Row>('SELECT key, type, value, resource_version FROM meta WHERE type = ? ORDER BY key'),
      all: db.prepare<[], Row>('SELECT key, type, value, resource_version FROM meta ORDER BY key'),
      upsert: db.prepare<[string, string, string, string | null]>(
        'INSERT INTO meta (key, type, value, resource_version) VALUES (?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET type = excluded.type, value = excluded.value, resource_version = excluded.resource_version',
      ),
      delete: db.prepare<[string]>('DELETE FROM meta WHERE key = ?'),
      counts: db.prepare<[], { type: string; n: number }>('SELECT type, count(*) AS n FROM meta GROUP BY type ORDER BY type'),
    };
  }

  override on(event: 'change', fn: (c: MetaChange) => void): this {
    return super.on(event, fn);
  }

  /**
   * Stores what a cloud message says about an object; returns when the write is committed (the
   * caller ACKs after this returns). A message whose resourceVersion is not newer than the stored
   * one is 'stale': acknowledged by the caller, not applied. Deletes always apply.
   */
  apply(msg: Message): ApplyResult {
    const key = msg.route.resource;
    const parts = parseEdgeResource(key);
    if (!parts || parts.name === undefined) return 'ignored';
    const op = msg.route.operation;
    if (op === Operations.DELETE) {
      const had = this.stmts.delete.run(key).changes > 0;
      if (had) this.emit('change', { op: 'delete', key, type: parts.type } satisfies MetaChange);
      return 'deleted';
    }
    if (!STORED_OPERATIONS.has(op)) return 'ignored';
    const rv = msg.header.resourceversion ?? resourceVersionOf(msg.content);
    const held = this.stmts.rv.get(key);
    if (held && rv !== undefined && held.resource_version !== null && !isNewer(rv, held.resource_version)) {
      this.log.debug({ key, rv, held: held.resource_version }, 'metamanager: not newer than the stored copy; acknowledged, not applied');
      return 'stale';
    }
    const value = JSON.stringify(msg.content ?? null);
    this.stmts.upsert.run(key, parts.type, value, rv ?? null);
    this.emit('change', { op: 'upsert', object: { key, type: parts.type, value: msg.content ?? null, resourceVersion: rv ?? null } } satisfies MetaChange);
    return 'stored';
  }

  get(key: string): MetaObject | undefined {
    const r = this.stmts.get.get(key);
    return r ? toObject(r) : undefined;
  }

  /** Every stored object of a type (`pod`, `device`, `devicemodel`, ...), by key. */
  list(type?: string): MetaObject[] {
    return (type === undefined ? this.stmts.all.all() : this.stmts.byType.all(type)).map(toObject);
  }

  /** How many objects of each type are stored. */
  counts(): Record<string, number> {
    return Object.fromEntries(this.stmts.counts.all().map((r) => [r.type, r.n]));
  }
}

function toObject(r: Row): MetaObject {
  return { key: r.key, type: r.type, value: JSON.parse(r.value) as unknown, resourceVersion: r.resource_version };
}

function resourceVersionOf(content: unknown): string | undefined {
  const rv = (content as { metadata?: { resourceVersion?: unknown } } | null)?.metadata?.resourceVersion;
  return typeof rv === 'string' && rv ? rv : undefined;
}
