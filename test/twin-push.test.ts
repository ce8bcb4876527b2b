// pushMethod: each committed reading also goes to an MQTT broker topic or an HTTP endpoint;
// an unreachable endpoint is counted and never blocks the twin.
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { silentLogger } from '../core/log.ts';
import { startEmbeddedBroker } from '../twin/broker.ts';
import { TwinStore } from '../twin/store.ts';
import { AppClient, device, freePort, property, tempDir, waitFor } from '../twin/testing.ts';
import { DeviceTwin } from '../twin/twin.ts';

describe('pushMethod', () => {
  let broker: Awaited<ReturnType<typeof startEmbeddedBroker>>;
  let http: ReturnType<typeof createServer>;
  let httpPort: number;
  const posts: { url: string; type: string; body: string }[] = [];
  let tmp: ReturnType<typeof tempDir>;
  let store: TwinStore;
  let twin: DeviceTwin;
  let registry: Registry;
  let deadPort: number;

  before(async () => {
    broker = await startEmbeddedBroker({ port: await freePort(), log: silentLogger });
    http = createServer(async (req: IncomingMessage, res) => {
      let body = '';
      for await (const c of req) body += c;
      posts.push({ url: req.url ?? '', type: req.headers['content-type'] ?? '', body });
      res.end('ok');
    });
    httpPort = await freePort();
    await new Promise<void>((r) => http.listen(httpPort, '127.0.0.1', () => r()));
    deadPort = await freePort();
    tmp = tempDir();
    store = TwinStore.open(tmp.dir);
    registry = new Registry();
    twin = new DeviceTwin({ store, log: silentLogger, nodeName: 'n1', registry });
    twin.setDevices([
      device('meter', [
        property('power', { type: 'float', pushMethod: { mqtt: { address: broker.url, topic: 'plant/meter/power', qos: 1, retained: true } } }),
        property('energy', { type: 'int', pushMethod: { http: { hostName: '127.0.0.1', port: httpPort, requestPath: '/ingest', timeout: 2000 } } }),
        property('voltage', { type: 'float', pushMethod: { http: { hostName: 'http://127.0.0.1', port: deadPort, requestPath: 'nowhere', timeout: 500 } } }),
      ]),
    ]);
  });
  after(async () => {
    await twin.close();
    store.close();
    await broker.close();
    await new Promise<void>((r) => http.close(() => r()));
    tmp.remove();
  });

  it('publishes each reading to the pushMethod mqtt broker topic, retained', async () => {
    // The push client connects on first use; keep reporting until a reading gets through.
    const sub = await AppClient.connect(broker.url, ['plant/#']);
    let v = 1;
    const msg = await waitFor('a pushed reading', async () => {
      twin.report([{ device: 'default/meter', property: 'power', value: v++ + 0.5, time: Date.now(), quality: 'good' }]);
      await twin.flush();
      await new Promise((r) => setTimeout(r, 50));
      return sub.messages.find((m) => m.topic === 'plant/meter/power');
    });
    assert.equal(msg.json.deviceName, 'meter');
    assert.equal(msg.json.namespace, 'default');
    assert.equal(msg.json.propertyName, 'power');
    assert.match(msg.json.value, /^\d+\.5$/);
    assert.equal(msg.json.type, 'float');
    await sub.close();
    const late = await AppClient.connect(broker.url, ['plant/#']);
    const retained = await late.next('plant/meter/power');
    assert.match(retained.value, /^\d+\.5$/, 'retained: a late subscriber gets the last value');
    await late.close();
  });

  it('POSTs each reading to the pushMethod http endpoint as KubeEdge does', async () => {
    twin.report([{ device: 'default/meter', property: 'energy', value: 1234, time: Date.now(), quality: 'good' }]);
    await twin.flush();
    const post = await waitFor('a POST', () => posts[0]);
    assert.equal(post.url, '/ingest');
    assert.equal(post.type, 'application/x-www-form-urlencoded');
    const form = new URLSearchParams(post.body);
    assert.equal(form.get('energy'), '1234');
    assert.match(form.get('time')!, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
  });

  it('counts a failing endpoint and keeps committing readings', async () => {
    twin.report([{ device: 'default/meter', property: 'voltage', value: 230.1, time: Date.now(), quality: 'good' }]);
    await twin.flush();
    assert.equal(twin.get('default/meter')!.properties.voltage!.reported?.value, 230.1);
    await waitFor('failure counted', async () => /edgetwin_push_total\{method="http",result="failed"\} 1/.test(await registry.metrics()));
  });
});
