// The per-node queue on its own, with a clock the test moves: the resend schedule, backoff, and
// what an ACK record does to later offers.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { newMessage } from '../message/index.ts';
import { SqliteAckRecordStore, type AckRecord, type AckRecordStore } from './ack-store.ts';
import { waitFor } from '../../core/testing.ts';
import { NodeQueue } from './queue.ts';

const dir = mkdtempSync(join(tmpdir(), 'edgetwin-queue-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const device = (rv: string | undefined, op = 'update') => newMessage(
  { source: 'devicecontroller', group: 'resource', operation: op, resource: 'node/n1/default/device/thermo' },
  { metadata: { name: 'thermo', uid: 'dev-1', ...(rv === undefined ? {} : { resourceVersion: rv }) } },
);

describe('node queue', () => {
  it('resends at the interval for the first retries, then doubles up to the cap', async () => {
    const store = new SqliteAckRecordStore(join(dir, 'a.db'));
    const sends: number[] = [];
    let clock = 0;
    const q = new NodeQueue('n1', store, { resendIntervalMs: 100, retriesAtInterval: 2, maxResendIntervalMs: 500 }, {
      write: () => { sends.push(clock); return true; },
    });
    await q.offer(device('1'));
    // transmit() stamps Date.now(); drive the schedule by flushing at the times it set.
    sends.length = 0;
    const start = Date.now();
    for (clock = start; clock < start + 3000; clock += 10) q.flush(clock);
    const gaps = sends.slice(1).map((t, i) => t - sends[i]!);
    assert.deepEqual(gaps.slice(0, 5), [100, 200, 400, 500, 500]);
    store.close();
  });

  it('takes the version from the object when the header has none, and refuses an ACK message with no version', async () => {
    const store = new SqliteAckRecordStore(join(dir, 'b.db'));
    const frames: string[] = [];
    const q = new NodeQueue('n1', store, { resendIntervalMs: 100, retriesAtInterval: 4, maxResendIntervalMs: 1000 }, { write: (f) => { frames.push(f); return true; } });
    const m = device('41');
    assert.equal(await q.offer(m), 'queued');
    assert.equal(JSON.parse(frames[0]!).header.resourceversion, '41');
    assert.equal(JSON.parse(frames[0]!).route.resource, 'default/device/thermo');
    assert.equal(await q.offer(device(undefined)), 'no-version');
    assert.equal(await q.ack('not-a-pending-id'), false);
    assert.equal(await q.ack(m.header.msg_id), true);
    assert.deepEqual(await store.get('n1', 'dev-1'), { resourceVersion: '41', deleted: false });
    assert.equal(await q.offer(device('41')), 'stale');
    assert.equal(await q.offer(device(undefined, 'delete')), 'queued');
    await assert.rejects(q.offer(newMessage({ source: 's', group: 'resource', operation: 'update', resource: 'node/n2/default/pod/x' }, {}, { resourceVersion: '1' })), /not node\/n1/);
    store.close();
  });

  it('after a delete, an older version stays out and the same version may return (an unchanged DeviceModel sent to a node again)', async () => {
    const store = new SqliteAckRecordStore(join(dir, 'd.db'));
    const q = new NodeQueue('n1', store, { resendIntervalMs: 100, retriesAtInterval: 4, maxResendIntervalMs: 1000 }, { write: () => true });
    const insert = device('7', 'insert');
    await q.offer(insert);
    await q.ack(insert.header.msg_id);
    const del = device('7', 'delete');
    await q.offer(del);
    await q.ack(del.header.msg_id);
    assert.deepEqual(await store.get('n1', 'dev-1'), { resourceVersion: '7', deleted: true });
    assert.equal(await q.offer(device('6', 'insert')), 'stale');
    assert.equal(await q.offer(device('7', 'insert')), 'queued');
    store.close();
  });

  it('a slow ACK record holds up neither offers nor the ACKs of other objects; ACKs of one object are recorded in order', async () => {
    // A store whose writes wait until the test lets them go (ObjectSync: each record is an API write).
    const records = new Map<string, AckRecord>();
    const writes: { key: string; rv?: string; done: () => void }[] = [];
    const store: AckRecordStore = {
      get: async (_node, key) => records.get(key),
      put: (_node, key, record) => new Promise<void>((resolve) => writes.push({ key, rv: record.resourceVersion, done: () => { records.set(key, record); resolve(); } })),
      list: async () => new Map(records),
      close: () => undefined,
    };
    const q = new NodeQueue('n1', store, { resendIntervalMs: 60_000, retriesAtInterval: 4, maxResendIntervalMs: 60_000 }, { write: () => true });
    const pod = (name: string, rv: string) => newMessage(
      { source: 'edgecontroller', group: 'resource', operation: 'update', resource: `node/n1/default/pod/${name}` },
      { metadata: { name, uid: `uid-${name}`, resourceVersion: rv } },
    );
    const a1 = pod('a', '1');
    const b1 = pod('b', '1');
    assert.equal(await q.offer(a1), 'queued');
    assert.equal(await q.offer(b1), 'queued');
    const ackA1 = q.ack(a1.header.msg_id);
    await waitFor('A\'s record being written', () => writes.length === 1, 10_000, 5);
    // A's record is still being written: B's ACK is recorded meanwhile, and a new offer goes out.
    const ackB1 = q.ack(b1.header.msg_id);
    await waitFor('B\'s record written beside A\'s', () => writes.some((w) => w.key === 'uid-b'), 10_000, 5);
    writes.find((w) => w.key === 'uid-b')!.done();
    assert.equal(await ackB1, true);
    const a2 = pod('a', '2');
    assert.equal(await q.offer(a2), 'queued');
    // The node acknowledges the newer version before the older one's record is written: the newer
    // one's record waits, so it is the one that stays.
    const ackA2 = q.ack(a2.header.msg_id);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(writes.map((w) => `${w.key}@${w.rv}`), ['uid-a@1', 'uid-b@1']);
    writes[0]!.done();
    assert.equal(await ackA1, true);
    await waitFor('A\'s newer record written', () => writes.length === 3, 10_000, 5);
    assert.equal(`${writes[2]!.key}@${writes[2]!.rv}`, 'uid-a@2');
    writes[2]!.done();
    assert.equal(await ackA2, true);
    assert.equal(records.get('uid-a')?.resourceVersion, '2');
    assert.equal(q.depth, 0);
  });

  it('a NO-ACK message is written once, or dropped when the node has no session', async () => {
    const store = new SqliteAckRecordStore(join(dir, 'c.db'));
    let connected = false;
    const q = new NodeQueue('n1', store, { resendIntervalMs: 100, retriesAtInterval: 4, maxResendIntervalMs: 1000 }, { write: () => connected });
    const membership = newMessage({ source: 'devicecontroller', group: 'twin', operation: 'update', resource: 'node/n1/membership' }, {});
    assert.equal(await q.offer(membership), 'not-connected');
    connected = true;
    assert.equal(await q.offer(membership), 'sent');
    assert.equal(q.depth, 0);
    store.close();
  });
});
