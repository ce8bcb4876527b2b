// The fleet view's data and HTTP side, in this process: device states from the edges' reports
// (and from the report log after a restart), the nodes as a raw edge makes them, and the request
// guard with a token (bearer and the sign-in cookie) and beyond loopback.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { request, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { createLogger } from '../../core/log.ts';
import { freePort, waitFor } from '../../core/testing.ts';
import { createJoinToken } from '../join/token.ts';
import { newMessage } from '../message/index.ts';
import { joinAsNode, RawEdge } from '../testing/edge-client.ts';
import { startCloud, type Cloud } from './cloud.ts';
import { ReportedDeviceStates, type FleetSnapshot } from './fleet.ts';

const dir = mkdtempSync(join(tmpdir(), 'edgetwin-fleet-'));
const log = createLogger({ level: 'silent' });
after(() => rmSync(dir, { recursive: true, force: true }));

const stateReport = (node: string, device: string, state: string, at: number) => ({
  node, resource: `node/${node}/device/${device}/state/update`, content: JSON.stringify({ event_id: 'e', timestamp: at, device: { name: device.split('/')[1], state } }), at,
});

async function start(stateDir: string, extra: Partial<Parameters<typeof startCloud>[0]> = {}): Promise<Cloud> {
  return startCloud({ stateDir, listen: '127.0.0.1', port: await freePort(), joinPort: await freePort(), httpPort: await freePort(), advertise: ['127.0.0.1'], log, ...extra });
}

describe('ReportedDeviceStates', () => {
  it('takes states from state/update, lists devices seen only in twin reports as unknown, and ignores what it cannot read', () => {
    const s = new ReportedDeviceStates([stateReport('n1', 'default/a', 'online', 10)]);
    s.apply({ node: 'n1', resource: 'node/n1/device/default/b/twin/edge_updated', content: { twin: {} }, at: 20 });
    s.apply({ node: 'n1', resource: 'node/n1/device/default/a/state/update', content: 'not json', at: 30 });
    s.apply({ node: 'n2', resource: 'node/n2/default/pod/x', content: {}, at: 40 });
    assert.deepEqual(s.devices('n1'), [
      { device: 'default/a', state: 'online', lastReport: 30 },
      { device: 'default/b', state: 'unknown', lastReport: 20 },
    ]);
    s.apply(stateReport('n1', 'default/a', 'offline', 50));
    assert.equal(s.devices('n1')[0]!.state, 'offline');
    assert.deepEqual(s.nodes().sort(), ['n1', 'n2']);
    assert.deepEqual(s.devices('n2'), []);
    assert.equal(s.lastReport('n2'), 40);
  });
});

describe('the fleet on the cloud', () => {
  it('a connected node with its outbox and device states; after a cloud restart it is listed disconnected with what the report log knew', async () => {
    const stateDir = join(dir, 'restart');
    let cloud = await start(stateDir);
    try {
      const creds = await joinAsNode(cloud.ports.join, await createJoinToken(cloud.ca), 'edge-f');
      const e = await RawEdge.connect(cloud.ports.cloudhub, creds);
      e.keepalive(JSON.stringify({ outbox: 7 }));
      const report = newMessage({ source: 'twin', group: 'resource', operation: 'update', resource: 'device/default/press/state/update' },
        JSON.stringify({ event_id: 'x', timestamp: Date.now(), device: { name: 'press', state: 'online' } }));
      e.send(report);
      await e.next('OK', (m) => m.header.parent_msg_id === report.header.msg_id);
      // A later state of the same device: the restarted cloud must rebuild from the newest report.
      const offline = newMessage({ source: 'twin', group: 'resource', operation: 'update', resource: 'device/default/press/state/update' },
        JSON.stringify({ event_id: 'y', timestamp: Date.now(), device: { name: 'press', state: 'offline' } }));
      e.send(offline);
      await e.next('OK', (m) => m.header.parent_msg_id === offline.header.msg_id);
      const fleet = async () => (await (await fetch(`http://127.0.0.1:${cloud.ports.http}/api/v1/fleet`)).json()) as FleetSnapshot;
      const node = await waitFor('the outbox depth', async () => (await fleet()).nodes.find((n) => n.node === 'edge-f' && n.outbox === 7));
      assert.equal(node.connected, true);
      assert.deepEqual(node.devices.map((d) => [d.device, d.state]), [['default/press', 'offline']]);
      assert.equal((await fleet()).link.connectedNodes, 1);
      e.close();
      await waitFor('edge-f disconnected', async () => (await fleet()).nodes.find((n) => n.node === 'edge-f')?.connected === false);

      await cloud.close();
      cloud = await start(stateDir);
      const again = (await fleet()).nodes.find((n) => n.node === 'edge-f');
      assert.equal(again?.connected, false);
      assert.ok(again.lastSeen !== undefined && again.lastSeen > 0);
      assert.deepEqual(again.devices.map((d) => [d.device, d.state]), [['default/press', 'offline']]);
      assert.equal(cloud.reports.latest().filter((r) => r.resource === 'node/edge-f/device/default/press/state/update').length, 1);
    } finally {
      await cloud.close();
    }
  });

  it('takes devices from another source when one is given (the controllers\' DeviceStatus)', async () => {
    const source = {
      nodes: () => ['edge-k'],
      devices: (node: string) => (node === 'edge-k' ? [{ device: 'default/mixer', state: 'unhealthy', lastReport: 5 }] : []),
      lastReport: (node: string) => (node === 'edge-k' ? 5 : undefined),
    };
    const cloud = await start(join(dir, 'source'), { deviceStates: source });
    try {
      const s = (await (await fetch(`http://127.0.0.1:${cloud.ports.http}/api/v1/fleet`)).json()) as FleetSnapshot;
      assert.deepEqual(s.nodes.map((n) => [n.node, n.connected, n.lastSeen, n.devices.map((d) => d.state)]), [['edge-k', false, 5, ['unhealthy']]]);
    } finally {
      await cloud.close();
    }
  });

  it('the SSE stream says hello with the boot id, then pushes the fleet', async () => {
    const cloud = await start(join(dir, 'sse'));
    try {
      const ctl = new AbortController();
      const res = await fetch(`http://127.0.0.1:${cloud.ports.http}/api/v1/fleet/events`, { signal: ctl.signal });
      assert.equal(res.headers.get('content-type'), 'text/event-stream; charset=utf-8');
      const reader = res.body!.getReader();
      let text = '';
      while (!text.includes('event: fleet')) text += new TextDecoder().decode((await reader.read()).value);
      assert.match(text, /event: hello\ndata: \{"boot":"[0-9a-f-]{36}"\}/);
      ctl.abort();
    } finally {
      await cloud.close();
    }
  });
});

describe('the fleet view\'s guard', () => {
  it('refuses to listen beyond loopback without a token', async () => {
    await assert.rejects(start(join(dir, 'exposed'), { httpListen: '0.0.0.0' }), /--http-listen\) listens on 0\.0\.0\.0, beyond loopback.*--http-token-file/);
  });

  it('with a token: the API asks for it (bearer or the sign-in cookie), the page does not; foreign Host and Origin are refused', async () => {
    const token = 'fleet-token-0123456789abcdef';
    const cloud = await start(join(dir, 'token'), { httpToken: token });
    const url = `http://127.0.0.1:${cloud.ports.http}`;
    try {
      const denied = await fetch(`${url}/api/v1/fleet`);
      assert.equal(denied.status, 401);
      assert.equal(((await denied.json()) as { code: string }).code, 'ET_UNAUTHORIZED');
      assert.equal((await fetch(`${url}/api/v1/fleet`, { headers: { authorization: `Bearer ${token}` } })).status, 200);
      assert.equal((await fetch(`${url}/api/v1/fleet`, { headers: { authorization: 'Bearer wrong' } })).status, 401);
      assert.equal((await fetch(`${url}/`)).status, 200);

      const post = (body: unknown, type = 'application/json') => fetch(`${url}/api/v1/session`, { method: 'POST', headers: { 'content-type': type }, body: JSON.stringify(body) });
      assert.equal((await post({ token: 'wrong' })).status, 401);
      assert.equal((await post({ token }, 'text/plain')).status, 403);
      const ok = await post({ token });
      assert.equal(ok.status, 200);
      const cookie = ok.headers.get('set-cookie')!;
      assert.match(cookie, /HttpOnly; SameSite=Strict/);
      assert.equal((await fetch(`${url}/api/v1/fleet`, { headers: { cookie: cookie.split(';')[0]! } })).status, 200);

      // fetch will not send a Host of our choosing (a DNS rebinding page's browser does): node's http does.
      const evilHost = await new Promise<number>((resolve, reject) => {
        request(`${url}/api/v1/fleet`, { headers: { host: 'evil.example', authorization: `Bearer ${token}` } }, (res) => {
          res.resume();
          resolve(res.statusCode!);
        }).on('error', reject).end();
      });
      assert.equal(evilHost, 403);
      const evilOrigin = await fetch(`${url}/api/v1/fleet`, { headers: { origin: 'http://evil.example', authorization: `Bearer ${token}` } });
      assert.equal(evilOrigin.status, 403);
      // As on the gateway: /metrics asks for the token too, /healthz not from this machine.
      assert.equal((await fetch(`${url}/metrics`)).status, 401);
      assert.equal((await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${token}` } })).status, 200);
      assert.equal((await fetch(`${url}/healthz`)).status, 200);
    } finally {
      await cloud.close();
    }
  });

  it('beyond loopback, serves HTTPS with a certificate that verifies against the cloud\'s CA, and no plain HTTP', async () => {
    const token = 'fleet-token-fedcba9876543210';
    // The machine's own address where it has one; else every address, reached through loopback (which the certificate names too).
    const lan = Object.values(networkInterfaces()).flat().find((a) => a && a.family === 'IPv4' && !a.internal)?.address;
    const cloud = await start(join(dir, 'exposed-tls'), { httpListen: lan ?? '0.0.0.0', httpToken: token });
    const url = `https://${lan ?? '127.0.0.1'}:${cloud.ports.http}`;
    // What a user trusts: the CA the join server serves at /ca.crt (DER), as PEM.
    const ca = new X509Certificate(cloud.ca.certDer).toString();
    const get = (path: string, opts: { ca?: string; plain?: boolean; token?: string } = {}) =>
      new Promise<number>((resolve, reject) => {
        const target = opts.plain ? url.replace('https:', 'http:') + path : url + path;
        const headers = opts.token ? { authorization: `Bearer ${opts.token}` } : {};
        (opts.plain ? request(target, { headers }, done) : httpsRequest(target, { headers, ...(opts.ca ? { ca: opts.ca } : {}) }, done)).on('error', reject).end();
        function done(res: IncomingMessage) {
          res.resume();
          resolve(res.statusCode!);
        }
      });
    try {
      assert.equal(await get('/api/v1/fleet', { ca, token }), 200);
      assert.equal(await get('/api/v1/fleet', { ca }), 401, 'the token is still required');
      assert.equal(await get('/metrics', { ca, token }), 200);
      await assert.rejects(get('/healthz'), /self[- ]signed|unable to verify|local issuer/i, 'a client without the cloud CA fails the handshake');
      await assert.rejects(get('/healthz', { plain: true }), 'plain HTTP gets no answer');
    } finally {
      await cloud.close();
    }
  });
});
