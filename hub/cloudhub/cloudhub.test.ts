// CloudHub and the join server in this process, driven by raw edges (plain ws and https): who gets in
// (tokens, certificates, node authorization, the node limit, keepalive, revocation). What flows on a
// session is in cloudhub-delivery.test.ts.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { freePort } from '../../core/testing.ts';
import { toPem } from '../join/ca.ts';
import { Revocations } from '../join/revocation.ts';
import { DirCaStore } from '../join/store.ts';
import { createJoinToken, splitJoinToken } from '../join/token.ts';
import { makeNodeCsr } from '../testing/csr.ts';
import { joinAsNode, joinRequest, RawEdge } from '../testing/edge-client.ts';
import { startCloud, type Cloud } from './cloud.ts';
import { TestCloud } from './testing.ts';

const t = new TestCloud('edgetwin-cloudhub-');
const { dir, stateDir, logLines, log, creds } = t;
const logged = t.logged.bind(t);
const connect = t.connect.bind(t);
const metric = t.metric.bind(t);
let cloud: Cloud;
let token: string;

before(async () => {
  await t.start();
  ({ cloud, token } = t);
});

after(() => t.close());

describe('join server', () => {
  it('serves the CA as DER and knows a joined node', async () => {
    const ca = await joinRequest(cloud.ports.join, '/ca.crt');
    assert.equal(ca.status, 200);
    assert.deepEqual(ca.body, cloud.ca.certDer);
    assert.equal((await joinRequest(cloud.ports.join, '/node/edge-a', { ca: cloud.ca.certPem })).status, 200);
    assert.equal((await joinRequest(cloud.ports.join, '/node/nobody', { ca: cloud.ca.certPem })).status, 404);
  });

  it('accepts the CSR by POST too', async () => {
    const { csrDer } = await makeNodeCsr({ cn: 'system:node:edge-post', o: 'system:nodes' });
    const res = await joinRequest(cloud.ports.join, '/edge.crt', { method: 'POST', headers: { NodeName: 'edge-post', Authorization: `Bearer ${splitJoinToken(token).jwt}` }, body: csrDer, ca: cloud.ca.certPem });
    assert.equal(res.status, 200);
  });

  it('refuses an expired, a tampered and a foreign token with 401 and a reason; never logs a token', async () => {
    const { csrDer } = await makeNodeCsr({ cn: 'system:node:edge-x', o: 'system:nodes' });
    const ask = (bearer: string) => joinRequest(cloud.ports.join, '/edge.crt', { headers: { NodeName: 'edge-x', Authorization: `Bearer ${bearer}` }, body: csrDer, ca: cloud.ca.certPem });
    const expired = splitJoinToken(await createJoinToken(cloud.ca, 1000, Date.now() - 3_600_000)).jwt;
    const r1 = await ask(expired);
    assert.equal(r1.status, 401);
    assert.match(r1.body.toString(), /expired/);
    const good = splitJoinToken(token).jwt;
    const tampered = good.slice(0, -3) + (good.endsWith('AAA') ? 'BBB' : 'AAA');
    const r2 = await ask(tampered);
    assert.equal(r2.status, 401);
    assert.match(r2.body.toString(), /signature is not valid|malformed/);
    const r3 = await ask(`${'0'.repeat(64)}.${good}`);
    assert.equal(r3.status, 401);
    assert.match(r3.body.toString(), /different CA/);
    const r4 = await joinRequest(cloud.ports.join, '/edge.crt', { headers: { NodeName: 'edge-x' }, body: csrDer, ca: cloud.ca.certPem });
    assert.equal(r4.status, 401);
    assert.match(r4.body.toString(), /Authorization: Bearer/);
    const text = JSON.stringify(logLines);
    assert.equal(text.includes(good), false);
    assert.equal(text.includes(expired), false);
    assert.ok(logged('join request refused', (l) => l.node === 'edge-x' && /expired/.test(String(l.reason))));
  });

  it('an edge that checks the token\'s hash refuses another cloud\'s CA', async () => {
    const wrongHash = `${'ab'.repeat(32)}.${splitJoinToken(token).jwt}`;
    await assert.rejects(joinAsNode(cloud.ports.join, wrongHash, 'edge-y'), /does not match the token's hash/);
  });

  it('refuses a CSR whose CN is not system:node:{NodeName}', async () => {
    await assert.rejects(joinAsNode(cloud.ports.join, token, 'edge-z', { cn: 'system:node:edge-a' }), /400 .*CN is "system:node:edge-a", it must be "system:node:edge-z"/);
    await assert.rejects(joinAsNode(cloud.ports.join, token, 'edge-z', { o: 'admins' }), /400 .*O is "admins"/);
  });

  it('renews a certificate presented by its own node, not another node\'s', async () => {
    const a = creds['edge-a']!;
    const { csrDer } = await makeNodeCsr({ cn: 'system:node:edge-a', o: 'system:nodes' });
    const ok = await joinRequest(cloud.ports.join, '/edge.crt', { headers: { NodeName: 'edge-a' }, body: csrDer, ca: a.caPem, cert: a.certPem, key: a.keyPem });
    assert.equal(ok.status, 200);
    const { csrDer: csrB } = await makeNodeCsr({ cn: 'system:node:edge-b', o: 'system:nodes' });
    const bad = await joinRequest(cloud.ports.join, '/edge.crt', { headers: { NodeName: 'edge-b' }, body: csrB, ca: a.caPem, cert: a.certPem, key: a.keyPem });
    assert.equal(bad.status, 401);
    assert.match(bad.body.toString(), /node edge-a's, not NodeName edge-b's/);
  });
});

describe('CloudHub connections', () => {
  it('refuses a certificate whose CN names another node, with a logged reason', async () => {
    await assert.rejects(connect('edge-a', { nodeId: 'edge-b' }), /403: the client certificate is for node edge-a .* node_id says edge-b/);
    assert.ok(logged('connection refused', (l) => l.node === 'edge-b' && /node_id says edge-b/.test(String(l.reason))));
  });

  it('refuses a client without a certificate and one from another CA', async () => {
    await assert.rejects(RawEdge.connect(cloud.ports.cloudhub, { node: 'edge-a', certPem: '', keyPem: '', caPem: cloud.ca.certPem } as never), /401: no client certificate/);
    const otherDir = join(dir, 'other-cloud');
    const other = await startCloud({ stateDir: otherDir, listen: '127.0.0.1', port: await freePort(), joinPort: await freePort(), httpPort: await freePort(), advertise: ['127.0.0.1'], log });
    try {
      const foreign = await joinAsNode(other.ports.join, await createJoinToken(other.ca), 'edge-a');
      await assert.rejects(RawEdge.connect(cloud.ports.cloudhub, { ...foreign, caPem: cloud.ca.certPem }), /401: the client certificate is not trusted/);
    } finally {
      await other.close();
    }
  });

  it('refuses a node beyond cloudhub.nodeLimit, and lets a node replace its own session', async () => {
    const limited = await startCloud({ stateDir: join(dir, 'limited'), listen: '127.0.0.1', port: await freePort(), joinPort: await freePort(), httpPort: await freePort(), advertise: ['127.0.0.1'], log, settings: { nodeLimit: 1 } });
    const opened: RawEdge[] = [];
    try {
      const t = await createJoinToken(limited.ca);
      const one = await joinAsNode(limited.ports.join, t, 'edge-one');
      const two = await joinAsNode(limited.ports.join, t, 'edge-two');
      opened.push(await RawEdge.connect(limited.ports.cloudhub, one));
      await assert.rejects(RawEdge.connect(limited.ports.cloudhub, two), /503: this cloud serves at most 1 nodes \(cloudhub.nodeLimit\)/);
      opened.push(await RawEdge.connect(limited.ports.cloudhub, one));
      await opened[0]!.waitClosed();
      assert.equal(opened[1]!.closed, false);
    } finally {
      for (const e of opened) e.close();
      await limited.close();
    }
  });

  it('drops a session that goes silent, and keeps one that sends keepalives', async () => {
    const quiet = await connect('edge-c');
    const talking = await connect('edge-d');
    const timer = setInterval(() => talking.keepalive(JSON.stringify({ outbox: 3 })), 100);
    try {
      await quiet.waitClosed();
      assert.ok(logged('session dropped', (l) => l.node === 'edge-c' && /cloudhub.keepaliveTimeout/.test(String(l.reason))));
      assert.equal(talking.closed, false);
      assert.equal(cloud.hub.isConnected('edge-d'), true);
      assert.match(await metric('edgetwin_cloudhub_edge_outbox_depth'), /node="edge-d"} 3/);
      assert.match(await metric('edgetwin_cloudhub_last_keepalive_seconds'), /node="edge-d"}/);
      assert.equal(cloud.hub.nodeStatus().find((s) => s.node === 'edge-d')?.outbox, 3);
    } finally {
      clearInterval(timer);
      talking.close();
    }
  });
});

describe('revocation', () => {
  it('closes the live session, refuses the certificate at CloudHub and for rotation, and lets a new join in', async () => {
    const e = await connect('edge-b');
    const ka = setInterval(() => e.keepalive(), 200);
    try {
      // What `edgetwin cloud revoke edge-b` does, from another process's point of view.
      await new Revocations(new DirCaStore(stateDir)).revoke('edge-b');
      await e.waitClosed();
      assert.ok(logged('session dropped', (l) => l.node === 'edge-b' && /revoked/.test(String(l.reason))));
    } finally {
      clearInterval(ka);
    }
    await assert.rejects(connect('edge-b'), /403: node edge-b's certificate was revoked/);
    const b = creds['edge-b']!;
    const { csrDer } = await makeNodeCsr({ cn: 'system:node:edge-b', o: 'system:nodes' });
    const rotation = await joinRequest(cloud.ports.join, '/edge.crt', { headers: { NodeName: 'edge-b' }, body: csrDer, ca: b.caPem, cert: b.certPem, key: b.keyPem });
    assert.equal(rotation.status, 401);
    assert.match(rotation.body.toString(), /revoked/);
    await new Promise((r) => setTimeout(r, 1100)); // a certificate's notBefore has whole seconds
    const rejoin = await joinRequest(cloud.ports.join, '/edge.crt', { headers: { NodeName: 'edge-b', Authorization: `Bearer ${splitJoinToken(token).jwt}` }, body: csrDer, ca: b.caPem, cert: b.certPem, key: b.keyPem });
    assert.equal(rejoin.status, 200, 'a new token beside the revoked certificate is a re-join');
    creds['edge-b'] = await joinAsNode(cloud.ports.join, token, 'edge-b');
    const again = await connect('edge-b');
    again.close();
    assert.equal(toPem('CERTIFICATE', cloud.ca.certDer), cloud.ca.certPem);
  });
});
