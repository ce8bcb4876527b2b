// The cloud as a child process, killed with -9 and started again on the same state directory:
// it resends only what a node has not acknowledged, and never loses an edge report it answered.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { freePort, waitFor } from '../core/testing.ts';
import { ReportLog } from '../hub/cloudhub/report-log.ts';
import { newMessage, type Message } from '../hub/message/index.ts';
import { CloudProcess } from '../hub/testing/cloud-process.ts';
import { joinAsNode, RawEdge } from '../hub/testing/edge-client.ts';

const dir = mkdtempSync(join(tmpdir(), 'edgetwin-cloud-restart-'));
const children: CloudProcess[] = [];
const edges: RawEdge[] = [];
after(async () => {
  for (const e of edges) e.close();
  for (const c of children) await c.kill9();
  rmSync(dir, { recursive: true, force: true });
});

async function cloudOn(stateDir: string, ports?: { port: number; joinPort: number; httpPort: number }): Promise<CloudProcess> {
  const p = ports ?? { port: await freePort(), joinPort: await freePort(), httpPort: await freePort() };
  const c = await CloudProcess.start({
    stateDir, listen: '127.0.0.1', ...p, advertise: ['127.0.0.1'],
    settings: { keepaliveTimeoutMs: 60_000, resend: { resendIntervalMs: 300, retriesAtInterval: 4, maxResendIntervalMs: 2000 } },
  });
  children.push(c);
  return c;
}

function pod(node: string, name: string, rv: string): Message {
  return newMessage(
    { source: 'edgecontroller', group: 'resource', operation: 'update', resource: `node/${node}/default/pod/${name}` },
    { metadata: { name, namespace: 'default', uid: `uid-${name}`, resourceVersion: rv } },
    { resourceVersion: rv },
  );
}

describe('cloud restarted on the same state directory', () => {
  it('resends exactly what the node lacks, and nothing it acknowledged', async () => {
    const stateDir = join(dir, 'resend');
    const first = await cloudOn(stateDir);
    const ports = { port: first.ports.cloudhub, joinPort: first.ports.join, httpPort: first.ports.http };
    const creds = await joinAsNode(first.ports.join, await first.token(), 'edge-r');
    const e1 = await RawEdge.connect(first.ports.cloudhub, creds);
    edges.push(e1);
    for (const name of ['p1', 'p2', 'p3']) assert.equal(await first.send('edge-r', pod('edge-r', name, '1')), 'queued');
    for (const name of ['p1', 'p2']) e1.ack(await e1.next(name, (m) => m.route.resource === `default/pod/${name}`));
    await e1.next('p3', (m) => m.route.resource === 'default/pod/p3');
    // The ACKs are recorded once the cloud calls the same version stale.
    await waitFor('p1 and p2 recorded', async () => (await first.send('edge-r', pod('edge-r', 'p1', '1'))) === 'stale' && (await first.send('edge-r', pod('edge-r', 'p2', '1'))) === 'stale');
    await first.kill9();
    e1.close();

    const second = await cloudOn(stateDir, ports);
    const e2 = await RawEdge.connect(second.ports.cloudhub, creds);
    edges.push(e2);
    // What the controllers do on start: offer every object again.
    const offers = {
      p1: await second.send('edge-r', pod('edge-r', 'p1', '1')),
      p2: await second.send('edge-r', pod('edge-r', 'p2', '1')),
      p3: await second.send('edge-r', pod('edge-r', 'p3', '1')),
      p2v2: await second.send('edge-r', pod('edge-r', 'p2', '2')),
    };
    assert.deepEqual(offers, { p1: 'stale', p2: 'stale', p3: 'queued', p2v2: 'queued' });
    const p3 = await e2.next('p3', (m) => m.route.resource === 'default/pod/p3');
    const p2 = await e2.next('p2 v2', (m) => m.route.resource === 'default/pod/p2');
    assert.equal(p2.header.resourceversion, '2');
    e2.ack(p3);
    e2.ack(p2);
    assert.equal(e2.received.some((m) => m.route.resource === 'default/pod/p1'), false);
    assert.equal(e2.received.some((m) => m.route.resource === 'default/pod/p2' && m.header.resourceversion === '1'), false);
    await second.stop();
  });

  it('never loses an edge report it answered, across kill -9', async () => {
    const stateDir = join(dir, 'reports');
    const cloud = await cloudOn(stateDir);
    const creds = await joinAsNode(cloud.ports.join, await cloud.token(), 'edge-k');
    const e = await RawEdge.connect(cloud.ports.cloudhub, creds);
    edges.push(e);
    const sent: string[] = [];
    for (let i = 0; i < 3000; i++) {
      const m = newMessage({ source: 'twin', group: 'twin', operation: 'update', resource: `default/device/d${i % 7}/twin/edge_updated` }, { n: String(i) });
      sent.push(m.header.msg_id);
      e.send(m);
    }
    await waitFor('some reports answered', () => e.received.filter((m) => m.content === 'OK').length >= 20);
    await cloud.kill9();
    const answered = e.received.filter((m) => m.route.operation === 'response' && m.content === 'OK').map((m) => m.header.parent_msg_id!);
    assert.ok(answered.length >= 20);
    const log = new ReportLog(stateDir);
    try {
      const stored = new Set(log.list('edge-k').map((r) => r.msgId));
      const lost = answered.filter((id) => !stored.has(id));
      assert.deepEqual(lost, []);
    } finally {
      log.close();
    }
  });
});
