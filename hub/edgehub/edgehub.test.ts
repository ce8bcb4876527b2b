// EdgeHub, MetaManager, the upstream outbox and ServiceBus against a bare TLS WebSocket server
// (hub/testing/raw-cloud.ts) and, for link faults, the fault-injecting TCP proxy between them.

import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { silentLogger } from '../../core/log.ts';
import { device, property, tempDir, waitFor } from '../../twin/testing.ts';
import { TwinStore } from '../../twin/store.ts';
import { DeviceTwin } from '../../twin/twin.ts';
import { EdgeLink, nodeIdentity, type CloudLinkConfig } from '../edge.ts';
import { membershipDetail, newMessage, OK, responseTo, type MembershipDevice, type Message } from '../message/index.ts';
import { RawCloud } from '../testing/raw-cloud.ts';
import { TcpProxy } from '../testing/tcp-proxy.ts';
import { DEFAULT_PROJECT_ID } from './edgehub.ts';
import { Backoff, TokenBucket } from './pacing.ts';
import { freePort } from '../../core/testing.ts';

const NODE = 'edge-1';
const DEV = 'default/thermo';

interface Rig {
  cloud: RawCloud;
  proxy: TcpProxy;
  link: EdgeLink;
  twin: DeviceTwin;
  store: TwinStore;
  dataDir: string;
  stop(): Promise<void>;
}

async function rig(opts: { allowedPorts?: number[]; refuse?: boolean } = {}): Promise<Rig> {
  const state = tempDir('edgetwin-cloud-');
  const data = tempDir('edgetwin-edge-');
  const cloud = await RawCloud.start(state.dir);
  await cloud.enrol(data.dir, NODE);
  const proxy = await TcpProxy.start({ target: { host: '127.0.0.1', port: cloud.port } });
  if (opts.refuse) proxy.refuse(true);
  const store = TwinStore.open(data.dir);
  const twin = new DeviceTwin({ store, log: silentLogger, nodeName: NODE });
  twin.setDevices([device('thermo', [property('temp', { accessMode: 'ReadOnly' })])]);
  const config: CloudLinkConfig = {
    url: `wss://127.0.0.1:${proxy.port}`,
    projectId: DEFAULT_PROJECT_ID,
    qps: 1000,
    burst: 1000,
    heartbeatMs: 200,
    reconnect: { firstMs: 100, maxMs: 400 },
    resendMs: 60_000,
    serviceBus: { allowedPorts: opts.allowedPorts ?? [] },
  };
  const id = nodeIdentity(data.dir, undefined);
  const link = new EdgeLink({ config, dataDir: data.dir, twin, log: silentLogger, registry: new Registry(), ...id });
  link.start();
  return {
    cloud, proxy, link, twin, store, dataDir: data.dir,
    async stop() {
      await link.close();
      await twin.close();
      store.close();
      await proxy.close();
      await cloud.close();
      state.remove();
      data.remove();
    },
  };
}

const podMessage = (op: string, rv: string, name = 'nginx') =>
  newMessage({ source: 'edgecontroller', group: 'resource', operation: op, resource: `default/pod/${name}` }, { metadata: { name, namespace: 'default', uid: `uid-${name}`, resourceVersion: rv } }, { resourceVersion: rv });

const acksOf = (frames: Message[], id: string) => frames.filter((f) => f.route.operation === 'response' && f.header.parent_msg_id === id);
const edgeUpdates = (frames: Message[]) => frames.filter((f) => f.route.resource === `device/${DEV}/twin/edge_updated`);

describe('EdgeHub on the wire', () => {
  let r: Rig;
  before(async () => {
    r = await rig({ allowedPorts: [] });
  });
  after(async () => r.stop());

  it('dials /{project}/{node}/events with node_id, project_id and the node certificate, and sends keepalives', async () => {
    const c = await waitFor('the edge to connect', () => r.cloud.current);
    assert.equal(c.path, `/${DEFAULT_PROJECT_ID}/${NODE}/events`);
    assert.equal(c.headers['node_id'], NODE);
    assert.equal(c.headers['project_id'], DEFAULT_PROJECT_ID);
    assert.equal(c.cn, `system:node:${NODE}`);
    // The twin's membership/detail request waits unanswered in the outbox: a depth of 1 to report.
    const depth = await waitFor('something waiting in the outbox', () => r.link.upstream.depth || undefined);
    const ka = await waitFor('a keepalive carrying the outbox depth', () => c.frames.find((f) => f.route.operation === 'keepalive' && (f.content as { outbox?: number }).outbox === depth));
    assert.deepEqual(ka.route, { source: 'websocket', group: 'resource', operation: 'keepalive', resource: 'node' });
    assert.deepEqual(ka.content, { outbox: depth }, 'the keepalive tells the cloud the outbox depth');
  });

  it('stores a cloud object before it ACKs it; a resend is ACKed but not re-applied; a delete removes it', async () => {
    const stored: (string | null | undefined)[] = [];
    let changes = 0;
    r.link.meta.on('change', () => changes++);
    // What the edge has stored at the moment its ACK reaches the cloud.
    r.cloud.answer = (m) => {
      if (m.route.operation === 'response') stored.push(r.link.meta.get('default/pod/nginx')?.resourceVersion);
      return undefined;
    };
    const insert = podMessage('insert', '5');
    r.cloud.send(insert);
    const ack = await waitFor('the ACK', () => acksOf(r.cloud.frames, insert.header.msg_id)[0]);
    assert.equal(ack.content, OK);
    assert.deepEqual(ack.route, { source: 'edgecontroller', group: 'resource', operation: 'response', resource: 'default/pod/nginx' });
    assert.deepEqual(stored, ['5']);
    assert.equal(changes, 1);

    const again = podMessage('update', '5');
    r.cloud.send(again);
    await waitFor('the second ACK', () => acksOf(r.cloud.frames, again.header.msg_id)[0]);
    const older = podMessage('update', '4');
    r.cloud.send(older);
    await waitFor('the third ACK', () => acksOf(r.cloud.frames, older.header.msg_id)[0]);
    assert.equal(changes, 1, 'a message not newer than the stored copy is not applied');
    assert.equal(r.link.meta.get('default/pod/nginx')?.resourceVersion, '5');

    const del = podMessage('delete', '6');
    r.cloud.send(del);
    await waitFor('the delete ACK', () => acksOf(r.cloud.frames, del.header.msg_id)[0]);
    assert.equal(r.link.meta.get('default/pod/nginx'), undefined);
    r.cloud.answer = undefined;
  });

  it('answers a frame that is not JSON with an error and keeps the session', async () => {
    const before = r.cloud.connections.length;
    r.cloud.send('this is not json');
    const err = await waitFor('the error reply', () => r.cloud.frames.find((f) => f.route.operation === 'error' && String(f.content).includes('not JSON')));
    assert.match(String(err.content), /not JSON/);
    const m = podMessage('insert', '1', 'after-bad-frame');
    r.cloud.send(m);
    await waitFor('the ACK after the bad frame', () => acksOf(r.cloud.frames, m.header.msg_id)[0]);
    assert.equal(r.cloud.connections.length, before, 'same connection');
  });

  it('sends twin reports as twin/edge_updated and state/update, and keeps them until the cloud answers', async () => {
    r.twin.state(DEV, 'online');
    r.twin.report([{ device: DEV, property: 'temp', value: 21, time: Date.now(), quality: 'good' }]);
    await r.twin.flush();
    const up = await waitFor('edge_updated', () => edgeUpdates(r.cloud.frames).find((f) => (f.content as { twin: Record<string, { actual?: { value: string } }> }).twin.temp?.actual?.value === '21'));
    assert.deepEqual({ ...up.route }, { source: 'twin', group: 'resource', operation: 'update', resource: `device/${DEV}/twin/edge_updated` });
    const st = await waitFor('state/update', () => r.cloud.frames.find((f) => f.route.resource === `device/${DEV}/state/update`));
    assert.equal(typeof st.content, 'string', 'KubeEdge sends the device state as a JSON string');
    const state = JSON.parse(st.content as string) as { device: { name: string; state: string; lastOnlineTime?: string } };
    assert.equal(state.device.name, 'thermo');
    assert.equal(state.device.state, 'online');
    assert.match(state.device.lastOnlineTime ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    // Unanswered: still in the outbox, and sent again on the next connection.
    assert.ok(r.link.upstream.depth >= 2);
    const connections = r.cloud.connections.length;
    r.cloud.answer = (m) => (m.route.source === 'twin' ? responseTo(m, OK) : undefined);
    r.proxy.cut();
    await waitFor('a new connection', () => r.cloud.connections.length > connections && r.link.hub.connected);
    await waitFor('the outbox to empty once the cloud answered', () => r.link.upstream.depth === 0);
    r.cloud.answer = undefined;
  });

  it('refuses a --node-name that differs from the certificate, and takes the name from it otherwise', () => {
    assert.throws(() => nodeIdentity(r.dataDir, 'edge-2'), /--node-name "edge-2" differs from the node certificate's name "edge-1"/);
    assert.equal(nodeIdentity(r.dataDir, undefined).nodeName, NODE);
    assert.equal(nodeIdentity(r.dataDir, NODE).nodeName, NODE);
  });
});

describe('EdgeHub across link faults', () => {
  it('1,000 reports of one property while offline arrive as 1 message with the last value', async () => {
    const r = await rig({ refuse: true });
    try {
      for (let i = 1; i <= 1000; i++) {
        r.twin.report([{ device: DEV, property: 'temp', value: i, time: Date.now(), quality: 'good' }]);
        await r.twin.flush();
      }
      assert.equal(r.cloud.connections.length, 0);
      r.cloud.answer = (m) => (m.route.source === 'twin' ? responseTo(m, OK) : undefined);
      r.proxy.refuse(false);
      await waitFor('the outbox to drain', () => r.cloud.connections.length > 0 && r.link.upstream.depth === 0);
      const ups = edgeUpdates(r.cloud.frames);
      assert.equal(ups.length, 1);
      assert.equal((ups[0]!.content as { twin: Record<string, { actual: { value: string } }> }).twin.temp!.actual.value, '1000');
    } finally {
      await r.stop();
    }
  });

  it('a link stalled longer than the keepalive is dropped and dialled again; reports made meanwhile arrive in order', async () => {
    const r = await rig();
    try {
      r.cloud.answer = (m) => (m.route.source === 'twin' ? responseTo(m, OK) : undefined);
      await waitFor('the edge to connect', () => r.link.hub.connected);
      const dropped = new Promise<void>((resolve) => r.link.once('disconnected', () => resolve()));
      r.proxy.stall();
      for (let i = 1; i <= 20; i++) {
        r.twin.report([{ device: DEV, property: 'temp', value: i, time: Date.now(), quality: 'good' }]);
        await r.twin.flush();
      }
      await dropped;
      r.proxy.resume();
      await waitFor('reconnected and drained', () => r.link.hub.connected && r.link.upstream.depth === 0);
      const values = edgeUpdates(r.cloud.frames).map((f) => Number((f.content as { twin: Record<string, { actual: { value: string } }> }).twin.temp!.actual.value));
      assert.equal(values.at(-1), 20, 'the last value arrives');
      for (let i = 1; i < values.length; i++) assert.ok(values[i]! >= values[i - 1]!, `in order: ${values.join(',')}`);
      assert.ok(r.cloud.connections.length >= 2);
    } finally {
      await r.stop();
    }
  });
});

describe('the twin and the link', () => {
  it('tells the twin the link is up or down; every connection after a disconnect asks the cloud for membership/detail, whose answer the link hands on', async () => {
    const r = await rig({ refuse: true });
    try {
      const details: MembershipDevice[][] = [];
      r.link.on('membership', (d) => details.push(d));
      assert.equal(r.twin.cloudLink?.connected, false, 'the twin starts disconnected, as KubeEdge\'s');
      const device: MembershipDevice = { id: 'default/thermo', name: 'thermo' };
      r.cloud.answer = (m) => (m.route.resource === 'membership/detail' ? responseTo(m, membershipDetail([device])) : m.route.source === 'twin' ? responseTo(m, OK) : undefined);
      r.proxy.refuse(false);
      await waitFor('connected', () => r.link.hub.connected && r.twin.cloudLink?.connected === true);
      const asked = await waitFor('membership/detail get', () => r.cloud.frames.find((f) => f.route.resource === 'membership/detail'));
      assert.deepEqual({ ...asked.route }, { source: 'twin', group: 'resource', operation: 'get', resource: 'membership/detail' });
      const body = JSON.parse(asked.content as string) as Record<string, unknown>;
      assert.equal(body.event_type, 'group_membership_event');
      assert.equal(body.operation, 'detail');
      assert.equal(body.group_id, NODE);
      await waitFor('the answer handed on', () => details.length === 1);
      assert.deepEqual(details[0], [device]);
      await waitFor('the request answered', () => r.link.upstream.depth === 0);

      const connections = r.cloud.connections.length;
      r.proxy.refuse(true);
      r.proxy.cut();
      await waitFor('the twin to learn the link is down', () => r.twin.cloudLink?.connected === false);
      r.proxy.refuse(false);
      await waitFor('reconnected', () => r.cloud.connections.length > connections && r.twin.cloudLink?.connected === true);
      await waitFor('a second membership/detail on the new connection', () => r.cloud.current!.frames.some((f) => f.route.resource === 'membership/detail'));
      await waitFor('its answer handed on', () => details.length === 2);
      assert.equal(r.cloud.frames.filter((f) => f.route.resource === 'membership/detail').length, 2, 'one request per connection');
    } finally {
      await r.stop();
    }
  });
});

describe('ServiceBus', () => {
  let r: Rig;
  let allowed: Server;
  let other: Server;
  let otherConnections = 0;
  const listen = async (s: Server) => {
    const port = await freePort();
    return new Promise<number>((resolve) => s.listen(port, '127.0.0.1', () => resolve(port)));
  };
  before(async () => {
    allowed = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => res.writeHead(201, { 'x-seen': req.method ?? '' }).end(`${req.url} ${body}`));
    });
    other = createServer((_req, res) => res.end('should not be called'));
    other.on('connection', () => otherConnections++);
    const allowedPort = await listen(allowed);
    await listen(other);
    r = await rig({ allowedPorts: [allowedPort] });
    await waitFor('the edge to connect', () => r.cloud.current);
  });
  after(async () => {
    await r.stop();
    allowed.close();
    other.close();
  });

  const call = (port: number, path: string, body: string) =>
    newMessage({ source: 'router_servicebus', group: 'user', operation: 'POST', resource: `${port}:${path}` }, { header: {}, method: 'POST', url: path, body: Buffer.from(body).toString('base64') });
  const replyTo = (m: Message) => waitFor('the servicebus reply', () => r.cloud.frames.find((f) => f.header.parent_msg_id === m.header.msg_id));

  it('calls an allowed loopback port and sends the answer back', async () => {
    const port = (allowed.address() as { port: number }).port;
    const m = call(port, '/hello?x=1', 'payload');
    r.cloud.send(m);
    const reply = await replyTo(m);
    assert.deepEqual(reply.route, { source: 'servicebus', group: 'user', operation: 'upload', resource: '' });
    const c = reply.content as { status_code: number; body: string; header: Record<string, string> };
    assert.equal(c.status_code, 201);
    assert.equal(Buffer.from(c.body, 'base64').toString(), '/hello?x=1 payload');
    assert.equal(c.header['x-seen'], 'POST');
  });

  it('refuses a port not allowed with 403 and never connects to it', async () => {
    const port = (other.address() as { port: number }).port;
    const m = call(port, '/secret', '');
    r.cloud.send(m);
    const reply = await replyTo(m);
    const c = reply.content as { status_code: number; body: string };
    assert.equal(c.status_code, 403);
    assert.match(Buffer.from(c.body, 'base64').toString(), /allowedPorts/);
    assert.equal(otherConnections, 0);
  });
});

describe('pacing', () => {
  it('retries the first time within 1 s and never waits more than the cap', () => {
    const b = new Backoff(1000, 30_000, () => 1);
    assert.equal(b.next(), 1000);
    const waits = Array.from({ length: 20 }, () => b.next());
    assert.equal(Math.max(...waits), 30_000);
    const low = new Backoff(1000, 30_000, () => 0);
    assert.equal(low.next(), 500);
  });

  it('a token bucket lets a burst through, then qps a second', () => {
    let now = 0;
    const tb = new TokenBucket(10, 3, () => now);
    assert.deepEqual([tb.take(), tb.take(), tb.take(), tb.take()], [true, true, true, false]);
    assert.equal(tb.waitMs(), 100);
    now += 100;
    assert.equal(tb.take(), true);
    assert.equal(tb.take(), false);
  });
});
