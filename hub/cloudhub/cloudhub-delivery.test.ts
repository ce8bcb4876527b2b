// CloudHub in this process, driven by raw edges: what flows on a session (frames refused with a
// reason, edge reports stored before OK, reliable delivery with ACKs and versions, nodes kept
// apart, ServiceBus calls). Who gets in is in cloudhub.test.ts.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { waitFor, freePort } from '../../core/testing.ts';
import { membershipDetailRequest, newMessage, type Message } from '../message/index.ts';
import type { Cloud } from './cloud.ts';
import { TestCloud } from './testing.ts';

const t = new TestCloud('edgetwin-cloudhub-delivery-');
const logged = t.logged.bind(t);
const connect = t.connect.bind(t);
const metric = t.metric.bind(t);
let cloud: Cloud;

function pod(node: string, name: string, rv: string, opts: { uid?: string; operation?: string } = {}): Message {
  return newMessage(
    { source: 'edgecontroller', group: 'resource', operation: opts.operation ?? 'update', resource: `node/${node}/default/pod/${name}` },
    { metadata: { name, namespace: 'default', uid: opts.uid ?? `uid-${name}`, resourceVersion: rv } },
    { resourceVersion: rv },
  );
}

before(async () => {
  await t.start();
  ({ cloud } = t);
});

after(() => t.close());

describe('frames', () => {
  it('answers not-JSON, over-size and unknown-operation frames with an error, logs them, and the session lives', async () => {
    const e = await connect('edge-b');
    const ka = setInterval(() => e.keepalive(), 200);
    try {
      let from = e.received.length;
      e.send('this is not json');
      const notJson = await e.next('error for not-JSON', (m) => m.route.operation === 'error', undefined, from);
      assert.match(String(notJson.content), /not JSON/);

      from = e.received.length;
      const big = newMessage({ source: 'twin', group: 'twin', operation: 'update', resource: 'default/device/d/twin/edge_updated' }, 'x'.repeat(12_000));
      e.send(big);
      const tooBig = await e.next('error for the big frame', (m) => m.route.operation === 'error', undefined, from);
      assert.match(String(tooBig.content), /over the limit of 10000 bytes/);

      from = e.received.length;
      const odd = newMessage({ source: 'twin', group: 'twin', operation: 'explode', resource: 'default/device/d' }, null);
      e.send(odd);
      const unknown = await e.next('error for the unknown operation', (m) => m.header.parent_msg_id === odd.header.msg_id);
      assert.equal(unknown.route.operation, 'error');
      assert.match(String(unknown.content), /unknown operation "explode"/);

      const report = newMessage({ source: 'twin', group: 'twin', operation: 'update', resource: 'default/device/d/twin/edge_updated' }, { temp: '21' });
      e.send(report);
      const ok = await e.next('OK for a good report after the bad frames', (m) => m.header.parent_msg_id === report.header.msg_id);
      assert.equal(ok.content, 'OK');
      assert.equal(e.closed, false);
      assert.ok(logged('frame refused', (l) => l.node === 'edge-b' && /not JSON/.test(String(l.reason))));
      assert.ok(logged('frame refused', (l) => l.node === 'edge-b' && /over the limit/.test(String(l.reason))));
      assert.ok(logged('frame refused', (l) => l.node === 'edge-b' && /unknown operation/.test(String(l.reason))));
    } finally {
      clearInterval(ka);
      e.close();
    }
  });
});

describe('delivery', () => {
  it('stores an edge report before answering OK, under the session\'s node', async () => {
    const e = await connect('edge-a');
    try {
      const report = newMessage({ source: 'twin', group: 'twin', operation: 'update', resource: 'default/device/thermo/twin/edge_updated' }, { temp: '22' });
      e.send(report);
      const ok = await e.next('OK', (m) => m.header.parent_msg_id === report.header.msg_id);
      assert.equal(ok.route.operation, 'response');
      assert.equal(ok.route.resource, 'default/device/thermo/twin/edge_updated');
      const stored = cloud.reports.list('edge-a').find((r) => r.msgId === report.header.msg_id);
      assert.equal(stored?.resource, 'node/edge-a/default/device/thermo/twin/edge_updated');
      e.send(report);
      await e.next('OK for the repeat', (m) => m.header.parent_msg_id === report.header.msg_id, undefined, e.received.indexOf(ok) + 1);
      assert.equal(cloud.reports.list('edge-a').filter((r) => r.msgId === report.header.msg_id).length, 1);
      // Counted on the hot path in plain numbers, handed to prom-client at the scrape.
      const count = async (name: string) => Number((await metric(name)).split(' ').at(-1));
      const storedTotal = await count('edgetwin_cloudhub_upstream_stored_total');
      const inUpdates = await count('edgetwin_cloudhub_messages_in_total{operation="update"}');
      const outResponses = await count('edgetwin_cloudhub_messages_out_total{operation="response"}');
      assert.ok(storedTotal >= 1 && inUpdates >= 2 && outResponses >= 2, `${storedTotal} ${inUpdates} ${outResponses}`);
      const another = newMessage({ source: 'twin', group: 'twin', operation: 'update', resource: 'default/device/thermo/twin/edge_updated' }, { temp: '23' });
      e.send(another);
      await e.next('OK', (m) => m.header.parent_msg_id === another.header.msg_id);
      assert.equal(await count('edgetwin_cloudhub_upstream_stored_total'), storedTotal + 1);
      assert.equal(await count('edgetwin_cloudhub_messages_in_total{operation="update"}'), inUpdates + 1);
      assert.equal(await count('edgetwin_cloudhub_messages_out_total{operation="response"}'), outResponses + 1);
    } finally {
      e.close();
    }
  });

  it('answers an edge\'s membership/detail get (KubeEdge\'s twin after a reconnect) with the node\'s devices, none yet, and does not log it as a report', async () => {
    const e = await connect('edge-a');
    try {
      const ask = membershipDetailRequest('edge-a');
      e.send(ask);
      const answer = await e.next('the membership detail', (m) => m.header.parent_msg_id === ask.header.msg_id);
      assert.equal(answer.route.operation, 'response');
      assert.equal(answer.route.resource, 'membership/detail', 'KubeEdge\'s twin finds the answer by this resource');
      const content = answer.content as { event_id: string; timestamp: number; devices: unknown[] };
      assert.deepEqual(content.devices, []);
      assert.equal(typeof content.event_id, 'string');
      assert.equal(typeof content.timestamp, 'number');
      assert.equal(cloud.reports.list('edge-a').some((r) => r.msgId === ask.header.msg_id), false);
    } finally {
      e.close();
    }
  });

  it('resends until ACKed, then records the version and drops equal or older versions', async () => {
    const e = await connect('edge-a');
    const ka = setInterval(() => e.keepalive(), 200);
    try {
      const m5 = pod('edge-a', 'web', '5');
      assert.equal(await cloud.send('edge-a', m5), 'queued');
      const first = await e.next('the pod', (m) => m.header.msg_id === m5.header.msg_id);
      assert.equal(first.route.resource, 'default/pod/web');
      assert.equal(first.header.resourceversion, '5');
      const firstIndex = e.received.indexOf(first);
      await e.next('a resend after the lost ACK', (m) => m.header.msg_id === m5.header.msg_id, undefined, firstIndex + 1);
      e.ack(first);
      await waitFor('the ACK recorded', () => cloud.hub.pending('edge-a') === 0);
      assert.match(await metric('edgetwin_cloudhub_resends_total'), /edgetwin_cloudhub_resends_total [1-9]/);
      assert.equal(await cloud.send('edge-a', pod('edge-a', 'web', '5')), 'stale');
      assert.equal(await cloud.send('edge-a', pod('edge-a', 'web', '4')), 'stale');
      assert.equal(await cloud.send('edge-a', pod('edge-a', 'web', '6')), 'queued');
      assert.match(await metric('edgetwin_cloudhub_ack_latency_seconds_count'), /[1-9]/);
    } finally {
      clearInterval(ka);
      e.close();
    }
  });

  it('a newer version replaces a pending older one; a delete is always delivered; a non-numeric version never crashes', async () => {
    // edge-c is not connected: both versions wait, and only the newer one goes out.
    assert.equal(await cloud.send('edge-c', pod('edge-c', 'db', '7')), 'queued');
    assert.equal(await cloud.send('edge-c', pod('edge-c', 'db', '8')), 'queued');
    assert.equal(await cloud.send('edge-c', pod('edge-c', 'db', '6')), 'older-than-pending');
    assert.equal(await cloud.send('edge-c', pod('edge-c', 'odd', 'abc')), 'queued');
    const e = await connect('edge-c');
    const ka = setInterval(() => e.keepalive(), 200);
    try {
      const db = await e.next('db', (m) => m.route.resource === 'default/pod/db');
      assert.equal(db.header.resourceversion, '8');
      const odd = await e.next('odd', (m) => m.route.resource === 'default/pod/odd');
      e.ack(db);
      e.ack(odd);
      await waitFor('both ACKs recorded', () => cloud.hub.pending('edge-c') === 0);
      assert.equal(e.received.filter((m) => m.route.resource === 'default/pod/db' && m.header.resourceversion === '7').length, 0);
      assert.equal(await cloud.send('edge-c', pod('edge-c', 'odd', 'abc')), 'stale');
      assert.equal(await cloud.send('edge-c', pod('edge-c', 'odd', 'abd')), 'queued');
      const del = pod('edge-c', 'db', '2', { operation: 'delete' });
      assert.equal(await cloud.send('edge-c', del), 'queued');
      const gotDel = await e.next('the delete', (m) => m.header.msg_id === del.header.msg_id);
      e.ack(gotDel);
      await waitFor('the delete recorded', async () => (await cloud.hub.pending('edge-c')) <= 1);
      // The tombstone keeps older versions out; the delete's own version may return (an object
      // removed from the node's scope and sent again unchanged).
      assert.equal(await cloud.send('edge-c', pod('edge-c', 'db', '1')), 'stale');
      assert.equal(await cloud.send('edge-c', pod('edge-c', 'db', '2')), 'queued');
    } finally {
      clearInterval(ka);
      e.close();
    }
  });

  it('node A can neither read, ACK nor write node B\'s messages', async () => {
    const a = await connect('edge-a');
    const b = await connect('edge-b');
    const ka = setInterval(() => { a.keepalive(); b.keepalive(); }, 200);
    try {
      const forB = pod('edge-b', 'secret', '1');
      await cloud.send('edge-b', forB);
      const atB = await b.next('B\'s pod', (m) => m.header.msg_id === forB.header.msg_id);
      const ignoredBefore = await metric('edgetwin_cloudhub_acks_ignored_total');
      a.ack(atB);
      await waitFor('A\'s ACK ignored and counted', async () => (await metric('edgetwin_cloudhub_acks_ignored_total')) !== ignoredBefore);
      assert.equal(cloud.hub.pending('edge-b'), 1);
      await b.next('a resend to B: A\'s ACK did not count', (m) => m.header.msg_id === forB.header.msg_id, undefined, b.received.indexOf(atB) + 1);
      assert.equal(a.received.some((m) => m.header.msg_id === forB.header.msg_id), false);
      const forged = newMessage({ source: 'edged', group: 'resource', operation: 'update', resource: 'node/edge-b/default/pod/secret' }, { forged: true });
      a.send(forged);
      await a.next('OK', (m) => m.header.parent_msg_id === forged.header.msg_id);
      const stored = cloud.reports.list().find((r) => r.msgId === forged.header.msg_id);
      assert.equal(stored?.node, 'edge-a');
      assert.equal(stored?.resource, 'node/edge-a/node/edge-b/default/pod/secret');
      b.ack(atB);
      await waitFor('B\'s own ACK recorded', () => cloud.hub.pending('edge-b') === 0);
    } finally {
      clearInterval(ka);
      a.close();
      b.close();
    }
  });
});

describe('ServiceBus', () => {
  it('sends the servicebus request and returns the edge\'s reply; fails when the node is not connected', async () => {
    const e = await connect('edge-d');
    try {
      const call = cloud.callService('edge-d', { port: 8080, path: '/status?x=1', method: 'post', headers: { 'content-type': ['text/plain'] }, body: 'hello' }, 10_000);
      const req = await e.next('the servicebus request', (m) => m.route.source === 'router_servicebus');
      assert.deepEqual(req.route, { source: 'router_servicebus', group: 'user', operation: 'POST', resource: '8080:/status?x=1' });
      const content = req.content as { body: string; method: string; url: string; header: unknown };
      assert.equal(Buffer.from(content.body, 'base64').toString(), 'hello');
      assert.equal(content.method, 'POST');
      e.send(newMessage({ source: 'servicebus', group: 'user', operation: 'upload', resource: '' },
        { header: { 'Content-Type': ['text/plain'] }, status_code: 201, body: Buffer.from('made').toString('base64') }, { parentId: req.header.msg_id }));
      const res = await call;
      assert.equal(res.status, 201);
      assert.equal(res.body.toString(), 'made');
      const refused = cloud.callService('edge-d', { port: 22, path: '/' }, 10_000);
      const req2 = await e.next('the second request', (m) => m.route.resource === '22:/');
      e.send(newMessage({ source: 'servicebus', group: 'user', operation: 'error', resource: '' }, 'port 22 is not allowed', { parentId: req2.header.msg_id }));
      await assert.rejects(refused, /refused the call: port 22 is not allowed/);
    } finally {
      e.close();
    }
    await waitFor('edge-d gone', () => !cloud.hub.isConnected('edge-d'));
    await assert.rejects(cloud.callService('edge-d', { port: 8080, path: '/' }), /not connected/);
  });

  it('serves a real HTTP call end to end when the raw edge forwards it', async () => {
    const http = createServer((req, res) => { res.writeHead(200); res.end(`you said ${req.method} ${req.url}`); });
    const httpPort = await freePort();
    await new Promise<void>((r) => http.listen(httpPort, '127.0.0.1', () => r()));
    const port = (http.address() as { port: number }).port;
    const e = await connect('edge-d');
    try {
      const call = cloud.callService('edge-d', { port, path: '/hi' });
      const req = await e.next('request', (m) => m.route.source === 'router_servicebus');
      const [p, path] = [Number(req.route.resource.split(':')[0]), req.route.resource.slice(req.route.resource.indexOf(':') + 1)];
      const answer = await fetch(`http://127.0.0.1:${p}${path}`, { method: req.route.operation });
      e.send(newMessage({ source: 'servicebus', group: 'user', operation: 'upload', resource: '' },
        { header: {}, status_code: answer.status, body: Buffer.from(await answer.text()).toString('base64') }, { parentId: req.header.msg_id }));
      assert.equal((await call).body.toString(), 'you said GET /hi');
    } finally {
      e.close();
      http.close();
    }
  });
});
