// The upstream outbox without a network: what is sent, in which order, and what leaves the outbox
// on which answer.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { silentLogger } from '../../core/log.ts';
import { tempDir, waitFor } from '../../twin/testing.ts';
import { Outbox } from '../../twin/outbox.ts';
import type { MsgTwin } from '../../twin/kubeedge.ts';
import { errorTo, OK, responseTo, type Message } from '../message/index.ts';
import { TokenBucket } from './pacing.ts';
import { Upstream } from './upstream.ts';

const twinOf = (value: string): MsgTwin => ({ optional: false, metadata: { type: 'int' }, actual: { value, metadata: {} } });
const valueOf = (m: Message, prop: string) => (m.content as { twin: Record<string, MsgTwin> }).twin[prop]?.actual?.value;

describe('Upstream', () => {
  let dir: ReturnType<typeof tempDir>;
  let outbox: Outbox;
  let sent: Message[];
  const send = (m: Message) => {
    sent.push(m);
    return true;
  };
  let made: Upstream[] = [];
  const make = (qps = 1000, burst = 1000) => {
    const up = new Upstream({ outbox, bucket: new TokenBucket(qps, burst), log: silentLogger, idSalt: 'test-salt' });
    made.push(up);
    return up;
  };

  beforeEach(() => {
    dir = tempDir('edgetwin-upstream-');
    outbox = new Outbox({ db: join(dir.dir, 'cloud.db'), name: 'cloud' });
    sent = [];
  });
  afterEach(() => {
    for (const up of made) up.close();
    made = [];
    outbox.close();
    dir.remove();
  });

  it('drains oldest first: events in order, one edge_updated per device with every waiting property', async () => {
    const up = make();
    up.event({ route: { source: 'edged', group: 'meta', operation: 'insert', resource: 'default/event/e1' }, content: 1 });
    up.twin('default/a', 'x', twinOf('1'));
    up.event({ route: { source: 'edged', group: 'meta', operation: 'insert', resource: 'default/event/e2' }, content: 2 });
    up.twin('default/a', 'y', twinOf('2'));
    up.twin('default/a', 'x', twinOf('3'));
    up.state('default/a', 'online', '2026-01-01T00:00:00Z');
    up.online(send);
    await waitFor('four messages', () => sent.length === 4);
    assert.deepEqual(sent.map((m) => m.route.resource), ['default/event/e1', 'device/default/a/twin/edge_updated', 'default/event/e2', 'device/default/a/state/update']);
    assert.equal(valueOf(sent[1]!, 'x'), '3', 'the last value of x, at the place of its first');
    assert.equal(valueOf(sent[1]!, 'y'), '2');
    assert.equal(JSON.parse(sent[3]!.content as string).device.lastOnlineTime, '2026-01-01T00:00:00Z');
  });

  it('removes a message on a response or an error for it, keeps the rest, and sends the rest again after a reconnect', async () => {
    const up = make();
    up.twin('default/a', 'x', twinOf('1'));
    up.twin('default/b', 'x', twinOf('1'));
    up.twin('default/c', 'x', twinOf('1'));
    up.online(send);
    await waitFor('three messages', () => sent.length === 3);
    assert.equal(up.answer(responseTo(sent[0]!, OK)), true);
    assert.equal(up.answer(errorTo(sent[1]!, 'refused')), true);
    assert.equal(up.answer(responseTo(sent[0]!, OK)), false, 'an answer to nothing waiting');
    assert.equal(up.depth, 1);
    const firstId = sent[2]!.header.msg_id;
    up.offline();
    sent = [];
    up.online(send);
    await waitFor('the unanswered one again', () => sent.length === 1);
    assert.equal(sent[0]!.route.resource, 'device/default/c/twin/edge_updated');
    assert.equal(sent[0]!.header.msg_id, firstId, 'a resend has the id of the first send, so the cloud stores it once');
  });

  it('a value that changed while its older value was in flight goes again, and the older answer does not remove it', async () => {
    const up = make();
    up.twin('default/a', 'x', twinOf('1'));
    up.online(send);
    await waitFor('the first value', () => sent.length === 1);
    up.twin('default/a', 'x', twinOf('2'));
    await waitFor('the newer value', () => sent.length === 2);
    assert.equal(valueOf(sent[1]!, 'x'), '2');
    assert.notEqual(sent[1]!.header.msg_id, sent[0]!.header.msg_id, 'a new value is a new message');
    up.answer(responseTo(sent[0]!, OK));
    assert.equal(up.depth, 1, 'the newer value stays until its own answer');
    up.answer(responseTo(sent[1]!, OK));
    assert.equal(up.depth, 0);
  });

  it('sends no more than the token bucket allows, and the rest as tokens come', async () => {
    const up = make(20, 2);
    for (const d of ['a', 'b', 'c', 'd']) up.twin(`default/${d}`, 'x', twinOf('1'));
    up.online(send);
    await waitFor('the burst', () => sent.length === 2);
    assert.equal(sent.length, 2);
    await waitFor('the rest, paced', () => sent.length === 4);
  });
});
