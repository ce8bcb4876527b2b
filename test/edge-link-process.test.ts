// `edgetwin run --cloud` as a real child process (the bundle in dist/: `node scripts/build.mjs`
// first), linked through the fault-injecting TCP proxy to a bare TLS WebSocket peer that plays the
// cloud: kill -9 of the edge while the cloud sends and while the edge reports, and a restart with
// the cloud unreachable.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { waitFor } from '../core/testing.ts';
import { newMessage, OK, responseTo, type Message } from '../hub/message/index.ts';
import { RawCloud } from '../hub/testing/raw-cloud.ts';
import { TcpProxy } from '../hub/testing/tcp-proxy.ts';
import { tempDir } from '../twin/testing.ts';
import { startEdge, stopEdge, type Edge } from './helpers/edge-process.ts';

const NODE = 'edge-proc';
const PODS = 300;


async function health(e: Edge): Promise<{ cloud: { connected: boolean; outbox: number; objects: Record<string, number> } }> {
  return (await (await fetch(`${e.api}/healthz`)).json()) as never;
}


const pod = (i: number, rv: string) =>
  newMessage({ source: 'edgecontroller', group: 'resource', operation: 'insert', resource: `default/pod/p${i}` }, { metadata: { name: `p${i}`, namespace: 'default', uid: `u${i}`, resourceVersion: rv } }, { resourceVersion: rv });

describe('edgetwin run --cloud as a process', () => {
  const state = tempDir('edgetwin-cloud-');
  const data = tempDir('edgetwin-edge-');
  let cloud: RawCloud;
  let proxy: TcpProxy;
  let edge: Edge | undefined;
  /** resource -> msg_id of the copy waiting for its ACK */
  const waiting = new Map<string, string>();
  const acked = new Set<string>();

  before(async () => {
    cloud = await RawCloud.start(state.dir);
    await cloud.enrol(data.dir, NODE);
    proxy = await TcpProxy.start({ target: { host: '127.0.0.1', port: cloud.port } });
    cloud.answer = (m) => {
      if (m.route.operation === 'response' && waiting.get(m.route.resource) === m.header.parent_msg_id) acked.add(m.route.resource);
      return undefined;
    };
  });
  after(async () => {
    if (edge) await stopEdge(edge, 'SIGKILL');
    await proxy.close();
    await cloud.close();
    state.remove();
    data.remove();
  });

  const sendUnacked = () => {
    for (let i = 0; i < PODS; i++) {
      const m = pod(i, '7');
      if (acked.has(m.route.resource)) continue;
      waiting.set(m.route.resource, m.header.msg_id);
      cloud.send(m);
    }
  };

  it('kill -9 while the cloud sends: every object the edge acknowledged is in MetaManager after the crash', async () => {
    edge = await startEdge(data.dir, proxy.port, ['--devices', 'examples/quickstart', '--log-level', 'warn']);
    await waitFor('the edge to connect', () => cloud.current);
    sendUnacked();
    await waitFor('some ACKs', () => acked.size >= 20, 30_000, 1);
    await stopEdge(edge, 'SIGKILL');
    const ackedAtKill = [...acked];
    const db = new Database(join(data.dir, 'cloud.db'));
    try {
      const has = db.prepare<[string], { key: string }>('SELECT key FROM meta WHERE key = ?');
      const missing = ackedAtKill.filter((k) => !has.get(k));
      assert.deepEqual(missing, [], 'acknowledged but lost');
    } finally {
      db.close();
    }
    // The cloud sends again what was not acknowledged; the restarted edge ends with all of it.
    const before = cloud.connections.length;
    edge = await startEdge(data.dir, proxy.port, ['--devices', 'examples/quickstart', '--log-level', 'warn']);
    await waitFor('the edge to reconnect', () => cloud.connections.length > before && cloud.current);
    sendUnacked();
    await waitFor('every object acknowledged', () => acked.size === PODS, 60_000, 20);
    assert.equal((await health(edge)).cloud.objects.pod, PODS);
  });

  it('restarted with the cloud unreachable, it starts from MetaManager and connects when the cloud returns', async () => {
    await stopEdge(edge!, 'SIGTERM');
    proxy.refuse(true);
    edge = await startEdge(data.dir, proxy.port, ['--devices', 'examples/quickstart', '--log-level', 'warn']);
    const h = await health(edge);
    assert.equal(h.cloud.connected, false);
    assert.equal(h.cloud.objects.pod, PODS, 'the copy of the cloud objects is there without the cloud');
    proxy.refuse(false);
    await waitFor('the link to come up', async () => (await health(edge!)).cloud.connected, 30_000, 50);
  });

  it('kill -9 while the edge reports: unanswered reports survive and go up after the restart', async () => {
    // The cloud does not answer reports: they stay in the outbox.
    const firstConn = cloud.connections.length;
    await waitFor('reports on the wire', () => cloud.frames.filter((f) => f.route.resource.endsWith('/twin/edge_updated')).length >= 3, 30_000, 20);
    await stopEdge(edge!, 'SIGKILL');
    const db = new Database(join(data.dir, 'cloud.db'));
    let keys: string[];
    try {
      keys = db.prepare<[], { key: string }>("SELECT key FROM outbox WHERE queue = 'cloud' AND key LIKE 'twin%'").all().map((r) => r.key);
    } finally {
      db.close();
    }
    assert.ok(keys.length > 0, 'the unanswered reports are in the outbox after kill -9');
    const wanted = keys.map((k) => k.split('\u0000') as [string, string, string]);
    cloud.answer = (m) => (m.route.source === 'twin' ? responseTo(m, OK) : undefined);
    edge = await startEdge(data.dir, proxy.port, ['--devices', 'examples/quickstart', '--log-level', 'warn']);
    await waitFor('every waiting report to arrive on the new connection', () => {
      const after = cloud.connections.slice(firstConn).flatMap((c) => c.frames);
      return wanted.every(([, dev, prop]) => after.some((f: Message) => f.route.resource === `device/${dev}/twin/edge_updated` && prop in (f.content as { twin: object }).twin));
    }, 30_000, 20);
  });
});
