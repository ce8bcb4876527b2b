// The link end to end with the real CloudHub and the real EdgeHub, with the fault-injecting TCP
// proxy between them: a stream of object updates through a cut and a stall longer than the
// keepalive, and ServiceBus calls from the cloud to allowed and refused ports.

import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { silentLogger } from '../core/log.ts';
import { waitFor, freePort } from '../core/testing.ts';
import { startCloud, type Cloud } from '../hub/cloudhub/cloud.ts';
import { EdgeLink, nodeIdentity } from '../hub/edge.ts';
import { DEFAULT_PROJECT_ID } from '../hub/edgehub/edgehub.ts';
import { join } from '../hub/join/client.ts';
import { createJoinToken } from '../hub/join/token.ts';
import { newMessage } from '../hub/message/index.ts';
import { TcpProxy } from '../hub/testing/tcp-proxy.ts';
import { tempDir } from '../twin/testing.ts';
import { TwinStore } from '../twin/store.ts';
import { DeviceTwin } from '../twin/twin.ts';

const NODE = 'gw-link';
const OBJECTS = ['a', 'b', 'c'];
const VERSIONS = 40;

describe('CloudHub and EdgeHub through link faults', () => {
  const state = tempDir('edgetwin-cloud-');
  const data = tempDir('edgetwin-edge-');
  let cloud: Cloud;
  let proxy: TcpProxy;
  let link: EdgeLink;
  let store: TwinStore;
  let twin: DeviceTwin;
  let service: Server;
  let otherConnections = 0;
  let other: Server;

  before(async () => {
    cloud = await startCloud({
      stateDir: state.dir, listen: '127.0.0.1', port: await freePort(), joinPort: await freePort(), httpPort: await freePort(), advertise: ['127.0.0.1'], log: silentLogger,
      settings: { keepaliveTimeoutMs: 1000, resend: { resendIntervalMs: 200, retriesAtInterval: 4, maxResendIntervalMs: 1000 } },
    });
    await join({ cloud: `127.0.0.1:${cloud.ports.join}`, token: await createJoinToken(cloud.ca), nodeName: NODE, dataDir: data.dir });
    proxy = await TcpProxy.start({ target: { host: '127.0.0.1', port: cloud.ports.cloudhub } });
    service = createServer((req, res) => res.end(`hello from ${req.url}`));
    other = createServer((_req, res) => res.end('must not be reached'));
    other.on('connection', () => otherConnections++);
    const servicePort = await freePort();
    await new Promise<void>((r) => service.listen(servicePort, '127.0.0.1', () => r()));
    const otherPort = await freePort();
    await new Promise<void>((r) => other.listen(otherPort, '127.0.0.1', () => r()));
    store = TwinStore.open(data.dir);
    twin = new DeviceTwin({ store, log: silentLogger, nodeName: NODE });
    link = new EdgeLink({
      config: {
        url: `wss://127.0.0.1:${proxy.port}`, projectId: DEFAULT_PROJECT_ID, qps: 100, burst: 200, heartbeatMs: 300,
        reconnect: { firstMs: 100, maxMs: 500 }, resendMs: 5000, serviceBus: { allowedPorts: [(service.address() as { port: number }).port] },
      },
      dataDir: data.dir, twin, log: silentLogger, registry: new Registry(), ...nodeIdentity(data.dir, undefined),
    });
    link.start();
    await waitFor('the node session', () => cloud.hub.isConnected(NODE));
  });
  after(async () => {
    await link.close();
    await twin.close();
    store.close();
    await proxy.close();
    await cloud.close();
    service.close();
    other.close();
    state.remove();
    data.remove();
  });

  it('a stream of updates through a cut and a stall longer than the keepalive: each object ends at its last version, never applied twice or backwards', async () => {
    const applied = new Map<string, number[]>();
    link.meta.on('change', (c) => {
      if (c.op !== 'upsert') return;
      const list = applied.get(c.object.key) ?? [];
      list.push(Number(c.object.resourceVersion));
      applied.set(c.object.key, list);
    });
    let sent = 0;
    for (let v = 1; v <= VERSIONS; v++) {
      for (const o of OBJECTS) {
        const rv = String(v);
        await cloud.send(NODE, newMessage(
          { source: 'edgecontroller', group: 'resource', operation: 'update', resource: `node/${NODE}/default/configmap/${o}` },
          { metadata: { name: o, namespace: 'default', uid: `uid-${o}`, resourceVersion: rv }, data: { v: rv } },
          { resourceVersion: rv },
        ));
        sent++;
        if (sent === 30) proxy.cut();
        if (sent === 60) proxy.stall(2500);
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    await waitFor('every object at its last version', () => OBJECTS.every((o) => link.meta.get(`default/configmap/${o}`)?.resourceVersion === String(VERSIONS)), 60_000, 20);
    await waitFor('nothing pending at the cloud', () => cloud.hub.pending(NODE) === 0, 60_000, 20);
    for (const o of OBJECTS) {
      const list = applied.get(`default/configmap/${o}`)!;
      for (let i = 1; i < list.length; i++) assert.ok(list[i]! > list[i - 1]!, `${o} applied in order, once each: ${list.join(',')}`);
      assert.equal(list.at(-1), VERSIONS);
    }
    assert.ok(proxy.accepted >= 3, 'the edge dialled again after the cut and after the stall');
  });

  it('ServiceBus: the cloud calls an allowed port and gets the answer; another port is refused with 403 and never connected', async () => {
    await waitFor('the node session', () => cloud.hub.isConnected(NODE) && link.hub.connected);
    const ok = await cloud.callService(NODE, { port: (service.address() as { port: number }).port, path: '/status', method: 'GET' });
    assert.equal(ok.status, 200);
    assert.equal(Buffer.from(ok.body).toString(), 'hello from /status');
    const refused = await cloud.callService(NODE, { port: (other.address() as { port: number }).port, path: '/', method: 'GET' });
    assert.equal(refused.status, 403);
    assert.equal(otherConnections, 0);
  });
});
