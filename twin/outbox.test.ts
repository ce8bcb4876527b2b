import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Registry } from 'prom-client';
import { Outbox } from './outbox.ts';
import { tempDir, waitFor } from './testing.ts';

const text = (o: Outbox, limit = 100) => o.peek(limit).map((e) => `${e.key ?? '-'}=${e.payload.toString()}`);

describe('outbox', () => {
  const tmp = tempDir('edgetwin-outbox-');
  after(() => tmp.remove());
  let n = 0;
  const open = (over: Partial<ConstructorParameters<typeof Outbox>[0]> = {}) =>
    new Outbox({ db: join(tmp.dir, `o${++n}.db`), name: 'test', ...over });

  it('keeps the last value per key at its first position, and events in order', () => {
    const o = open();
    o.put('a', '1');
    o.append('e1');
    o.put('b', '1');
    o.put('a', '2');
    o.append('e2');
    o.put('b', '2');
    assert.deepEqual(text(o), ['a=2', '-=e1', 'b=2', '-=e2']);
    assert.equal(o.size, 4);
    assert.equal(o.bytes, 1 + 2 + 1 + 2);
    assert.equal(o.oldest()?.key, 'a');
    o.close();
  });

  it('removes a delivered entry, but keeps a value put while the older one was in flight', () => {
    const o = open();
    o.put('a', '1');
    o.put('b', '1');
    const inFlight = o.peek(2);
    o.put('a', '2'); // arrives before the consumer confirms the first batch
    o.remove(inFlight);
    assert.deepEqual(text(o), ['a=2']);
    assert.equal(o.size, 1);
    assert.equal(o.bytes, 1);
    o.remove(o.peek(10));
    assert.equal(o.size, 0);
    assert.equal(o.bytes, 0);
    o.close();
  });

  it('drops the oldest event first at the entry bound, then the oldest keyed value, and counts each', async () => {
    const registry = new Registry();
    const o = open({ maxEntries: 3, registry });
    o.put('a', '1');
    o.append('e1');
    o.append('e2');
    o.put('a', '2'); // coalesced: never grows
    assert.equal(o.size, 3);
    assert.equal(o.append('e3'), true);
    assert.deepEqual(text(o), ['a=2', '-=e2', '-=e3']);
    o.put('b', '1');
    o.put('c', '1');
    assert.deepEqual(text(o), ['a=2', 'b=1', 'c=1']);
    o.put('d', '1');
    assert.deepEqual(text(o), ['b=1', 'c=1', 'd=1']);
    // An event arriving at an outbox full of keyed values is itself the oldest event: not kept.
    assert.equal(o.append('e4'), false);
    const metrics = await registry.getSingleMetricAsString('edgetwin_outbox_dropped_total');
    assert.match(metrics, /outbox="test",kind="event"} 4/);
    assert.match(metrics, /outbox="test",kind="keyed"} 1/);
    o.close();
  });

  it('keeps the byte bound, and refuses a payload larger than the bound', async () => {
    const registry = new Registry();
    const o = open({ maxBytes: 10, registry });
    o.append('1234');
    o.append('5678');
    o.append('abcd');
    assert.deepEqual(text(o), ['-=5678', '-=abcd']);
    assert.equal(o.bytes, 8);
    o.put('k', 'xy'); // 10 bytes: fits
    assert.equal(o.bytes, 10);
    o.put('k', 'xyz'); // the longer value pushes the oldest event out
    assert.deepEqual(text(o), ['-=abcd', 'k=xyz']);
    assert.equal(o.put('big', 'x'.repeat(11)), false);
    assert.deepEqual(text(o), ['-=abcd', 'k=xyz']);
    assert.match(await registry.getSingleMetricAsString('edgetwin_outbox_dropped_total'), /kind="keyed"} 1/);
    o.close();
  });

  it('shares a database handle with other queues without mixing them, and reloads its counters', () => {
    const file = join(tmp.dir, 'shared.db');
    const db = new Database(file);
    const x = new Outbox({ db, name: 'x' });
    const y = new Outbox({ db, name: 'y' });
    x.put('k', 'x1');
    y.put('k', 'y1');
    y.append('ye');
    assert.deepEqual(text(x), ['k=x1']);
    assert.deepEqual(text(y), ['k=y1', '-=ye']);
    db.close();
    const again = new Outbox({ db: file, name: 'y' });
    assert.equal(again.size, 2);
    assert.equal(again.bytes, 4);
    assert.deepEqual(text(again), ['k=y1', '-=ye']);
    again.close();
  });

  it('changes nothing when the database refuses a write', () => {
    const file = join(tmp.dir, 'refuse.db');
    const db = new Database(file);
    const o = new Outbox({ db, name: 'r' });
    o.put('k', '1');
    o.append('e');
    // A trigger that fails every insert and update stands in for SQLITE_FULL, after the row was written.
    db.exec(`CREATE TRIGGER refuse_insert AFTER INSERT ON outbox BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END;
             CREATE TRIGGER refuse_update AFTER UPDATE ON outbox BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END;`);
    assert.throws(() => o.put('k', '2'), /disk is full/);
    assert.throws(() => o.append('e2'), /disk is full/);
    assert.equal(o.size, 2);
    assert.equal(o.bytes, 2);
    assert.deepEqual(text(o), ['k=1', '-=e']);
    db.close();
  });

  it('keeps everything it committed when its process is killed with SIGKILL', async () => {
    const dir = tempDir('edgetwin-outbox-crash-');
    try {
      const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'testing-outbox-crash-child.ts'), dir.dir], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      await waitFor('the child to commit 5000 entries', () => out.split('\n').length > 5000, 60_000);
      child.kill('SIGKILL');
      await exited;
      const lastPut = new Map<string, number>();
      const appended: string[] = [];
      for (const line of out.split('\n')) {
        const [op, a, b] = line.split(' ');
        if (op === 'put' && b !== undefined) lastPut.set(a!, Number(b));
        else if (op === 'append' && a !== undefined) appended.push(a);
      }
      const o = new Outbox({ db: join(dir.dir, 'outbox.db'), name: 'crash' });
      const entries = o.peek(1_000_000);
      o.close();
      const stored = new Map(entries.filter((e) => e.key !== null).map((e) => [e.key!, Number(e.payload.toString())]));
      for (const [key, n] of lastPut) assert.ok((stored.get(key) ?? -1) >= n, `${key}: acknowledged ${n}, stored ${stored.get(key)}`);
      const events = entries.filter((e) => e.key === null).map((e) => e.payload.toString());
      // Every acknowledged event is there, in order; at most the one in flight at the kill follows.
      assert.deepEqual(events.slice(0, appended.length), appended);
      assert.ok(events.length - appended.length <= 1, `${events.length - appended.length} unacknowledged events`);
    } finally {
      dir.remove();
    }
  });
});
