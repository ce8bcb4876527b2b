// The local HTTP API: routes, typed JSON values, errors with their status, and /metrics.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { silentLogger } from '../core/log.ts';
import { startApi } from '../twin/api.ts';
import { Health } from '../twin/health.ts';
import { TwinStore } from '../twin/store.ts';
import { device, property, RecordingWriter, tempDir, waitFor } from '../twin/testing.ts';
import { DeviceTwin } from '../twin/twin.ts';
import { freePort } from '../core/testing.ts';

describe('local API', () => {
  let tmp: ReturnType<typeof tempDir>;
  let store: TwinStore;
  let twin: DeviceTwin;
  let api: Awaited<ReturnType<typeof startApi>>;
  let setMqttProblem: (m: string | undefined) => void = () => {};
  const writer = new RecordingWriter();
  writer.served.add('line/packer');

  const call = async (method: string, path: string, body?: string) => {
    const res = await fetch(api.url + path, { method, ...(body !== undefined ? { body, headers: { 'content-type': 'application/json' } } : {}) });
    const text = await res.text();
    return { status: res.status, type: res.headers.get('content-type') ?? '', text, json: text.startsWith('{') ? JSON.parse(text) : undefined };
  };

  before(async () => {
    tmp = tempDir();
    store = TwinStore.open(tmp.dir);
    const registry = new Registry();
    twin = new DeviceTwin({ store, log: silentLogger, nodeName: 'n1', writer, registry });
    twin.setDevices([
      device('packer', [
        property('speed', { type: 'int', minimum: 0, maximum: 120 }),
        property('label', { type: 'string' }),
        property('count', { type: 'int', accessMode: 'ReadOnly' }),
      ], { namespace: 'line', id: 'line/packer', methods: [{ name: 'setup', propertyNames: ['speed', 'label'] }] }),
    ]);
    twin.state('line/packer', 'online');
    let mqttProblem: string | undefined;
    setMqttProblem = (m) => (mqttProblem = m);
    const health = new Health().add('store', () => twin.storeProblem).add('mqtt', () => mqttProblem).add('cloud', () => 'offline', { degrades: false });
    api = await startApi({ twin, port: await freePort(), log: silentLogger, registry, health: () => ({ ...health.report(), mqtt: 'mqtt://127.0.0.1:1' }) });
  });
  after(async () => {
    await api.close();
    await twin.close();
    store.close();
    tmp.remove();
  });

  it('lists devices and shows a twin', async () => {
    twin.report([{ device: 'line/packer', property: 'count', value: 42, time: 1000, quality: 'good' }]);
    await twin.flush();
    const list = await call('GET', '/api/v1/devices');
    assert.equal(list.status, 200);
    assert.deepEqual(list.json.devices.map((d: { device: string }) => d.device), ['line/packer']);
    const t = await call('GET', '/api/v1/devices/line/packer/twin');
    assert.equal(t.status, 200);
    assert.equal(t.json.properties.count.reported.value, 42);
    assert.equal(t.json.properties.count.reported.quality, 'good');
  });

  it('shows the node and its cloud link: null standalone, then what the link owner last told the twin', async () => {
    const standalone = await call('GET', '/api/v1/node');
    assert.equal(standalone.status, 200);
    assert.deepEqual(standalone.json, { nodeName: 'n1', devices: 1, cloud: null });
    const changes: unknown[] = [];
    const listen = (c: { kind: string }) => {
      if (c.kind === 'cloud') changes.push(c);
    };
    twin.on('change', listen);
    try {
      twin.setCloudConnected(true);
      twin.setCloudConnected(true);
      const up = await call('GET', '/api/v1/node');
      assert.equal(up.json.cloud.connected, true);
      assert.equal(typeof up.json.cloud.since, 'number');
      twin.setCloudConnected(false);
      assert.equal((await call('GET', '/api/v1/node')).json.cloud.connected, false);
      assert.deepEqual(changes.map((c) => (c as { connected: boolean }).connected), [true, false], 'one change per transition, none for a repeat');
    } finally {
      twin.off('change', listen);
    }
  });

  it('sets a desired value and shows it applied', async () => {
    const r = await call('PUT', '/api/v1/devices/line/packer/twin/desired/speed', '{"value": "60"}');
    assert.equal(r.status, 200, r.text);
    assert.deepEqual([r.json.value, r.json.version], [60, 1]);
    await waitFor('applied', async () => (await call('GET', '/api/v1/devices/line/packer/twin')).json.properties.speed.reconcile.state === 'applied');
    const t = await call('GET', '/api/v1/devices/line/packer/twin');
    assert.deepEqual([t.json.properties.speed.desired.value, t.json.properties.speed.desired.origin], [60, 'api']);
    const cli = await call('PUT', '/api/v1/devices/line/packer/twin/desired/label', '{"value": "box", "origin": "cli"}');
    assert.equal(cli.status, 200, cli.text);
    assert.equal((await call('GET', '/api/v1/devices/line/packer/twin')).json.properties.label.desired.origin, 'cli');
  });

  it('invokes a method with values (or properties)', async () => {
    const r = await call('POST', '/api/v1/devices/line/packer/methods/setup', JSON.stringify({ values: { speed: 80, label: 'box-A' } }));
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json.results.map((x: { property: string; value: unknown }) => [x.property, x.value]), [['speed', 80], ['label', 'box-A']]);
    const p = await call('POST', '/api/v1/devices/line/packer/methods/setup', JSON.stringify({ properties: { label: 'box-B' } }));
    assert.equal(p.status, 200, p.text);
  });

  it('answers errors as {code, message} with 400, 404 and 409', async () => {
    const cases: [string, string, string | undefined, number, string][] = [
      ['GET', '/api/v1/devices/line/ghost/twin', undefined, 404, 'ET_NOT_FOUND'],
      ['PUT', '/api/v1/devices/line/packer/twin/desired/nope', '{"value": 1}', 404, 'ET_NOT_FOUND'],
      ['PUT', '/api/v1/devices/line/packer/twin/desired/count', '{"value": 1}', 409, 'ET_READ_ONLY'],
      ['PUT', '/api/v1/devices/line/packer/twin/desired/speed', '{"value": 500}', 400, 'ET_MODEL_VALUE'],
      ['PUT', '/api/v1/devices/line/packer/twin/desired/speed', '{"value": ', 400, 'ET_BAD_REQUEST'],
      ['PUT', '/api/v1/devices/line/packer/twin/desired/speed', '{"val": 1}', 400, 'ET_BAD_REQUEST'],
      ['POST', '/api/v1/devices/line/packer/methods/reboot', '{"values": {}}', 404, 'ET_NOT_FOUND'],
      ['POST', '/api/v1/devices/line/packer/methods/setup', '{"values": {"count": 1}}', 400, 'ET_BAD_REQUEST'],
      ['POST', '/api/v1/devices/line/packer/methods/setup', '[]', 400, 'ET_BAD_REQUEST'],
      ['GET', '/api/v2/things', undefined, 404, 'ET_NOT_FOUND'],
    ];
    for (const [method, path, body, status, code] of cases) {
      const r = await call(method, path, body);
      assert.equal(r.status, status, `${method} ${path} ${body}: ${r.text}`);
      assert.equal(r.json.code, code, `${method} ${path}`);
      assert.equal(typeof r.json.message, 'string');
    }
    const big = await call('PUT', '/api/v1/devices/line/packer/twin/desired/speed', '{"value": 500}');
    assert.match(big.json.message, /line\/packer property speed: desired value 500 is above the maximum 120/);
    const t = await call('GET', '/api/v1/devices/line/packer/twin');
    assert.equal(t.json.properties.speed.desired.value, 80, 'a refused request changes nothing');
  });

  it('serves /healthz and Prometheus /metrics', async () => {
    const h = await call('GET', '/healthz');
    assert.equal(h.status, 200);
    assert.deepEqual(h.json, {
      status: 'ok', reasons: [], devices: 1, mqtt: 'mqtt://127.0.0.1:1',
      components: {
        store: { status: 'ok', degrades: true },
        mqtt: { status: 'ok', degrades: true },
        cloud: { status: 'problem', message: 'offline', degrades: false },
      },
    });
    setMqttProblem('not connected to the MQTT broker');
    const d = await call('GET', '/healthz');
    setMqttProblem(undefined);
    assert.equal(d.status, 503);
    assert.equal(d.json.status, 'degraded');
    assert.deepEqual(d.json.reasons, [{ component: 'mqtt', message: 'not connected to the MQTT broker' }]);
    const m = await call('GET', '/metrics');
    assert.equal(m.status, 200);
    assert.match(m.type, /text\/plain/);
    assert.match(m.text, /edgetwin_twin_updates_total [1-9]\d*\n/);
    assert.match(m.text, /edgetwin_twin_desired_total\{origin="api"\} \d+/);
    assert.match(m.text, /edgetwin_api_requests_total\{route="desired",status="200"\}/);
  });
});
