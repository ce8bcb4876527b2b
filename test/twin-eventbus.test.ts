// The KubeEdge topics and payloads, with an mqtt.js client acting as a KubeEdge application,
// against mosquitto (external broker mode) and against the embedded aedes broker.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { silentLogger } from '../core/log.ts';
import { startEmbeddedBroker, type EmbeddedBroker } from '../twin/broker.ts';
import { MqttEventBus } from '../twin/eventbus.ts';
import { TwinStore } from '../twin/store.ts';
import { AppClient, device, property, RecordingWriter, startMosquitto, tempDir, waitFor } from '../twin/testing.ts';
import { DeviceTwin } from '../twin/twin.ts';
import { freePort } from '../core/testing.ts';

const THERMO = 'default/thermo';
const SENSOR = 'default/sensor'; // no local driver: its mapper is an MQTT app
const P = '$hw/events/device/';

const devices = () => [
  device('thermo', [property('setpoint', { type: 'float', maximum: 40 }), property('temperature', { type: 'float', accessMode: 'ReadOnly' })]),
  device('sensor', [property('humidity', { type: 'int' })]),
];

for (const kind of ['mosquitto', 'embedded'] as const) {
  describe(`event bus on ${kind}`, () => {
    let broker: { url: string; port: number; aedes?: EmbeddedBroker['aedes']; stop?(): Promise<void>; close?(): Promise<void> };
    let tmp: ReturnType<typeof tempDir>;
    let store: TwinStore;
    let twin: DeviceTwin;
    let bus: MqttEventBus;
    let app: AppClient;
    const writer = new RecordingWriter();
    writer.served.add(THERMO);

    before(async () => {
      broker = kind === 'mosquitto' ? await startMosquitto() : await startEmbeddedBroker({ port: await freePort(), log: silentLogger });
      tmp = tempDir();
      store = TwinStore.open(tmp.dir);
      twin = new DeviceTwin({ store, log: silentLogger, nodeName: 'edge-1', writer });
      twin.setDevices(devices());
      twin.state(THERMO, 'online');
      // On mosquitto the bus is an MQTT client; on the embedded broker it runs in-process, as the gateway runs it.
      bus = new MqttEventBus({ twin, url: broker.url, inProcess: broker.aedes, nodeName: 'edge-1', log: silentLogger });
      await bus.start();
      app = await AppClient.connect(broker.url);
    });
    after(async () => {
      await app.close();
      await bus.stop();
      await twin.close();
      store.close();
      await (broker.stop?.() ?? broker.close?.());
      tmp.remove();
    });

    it('twin/update with expected: result, document and delta as KubeEdge publishes them', async () => {
      const from = app.messages.length;
      app.publish(`${P}${THERMO}/twin/update`, { event_id: 'e-1', timestamp: Date.now(), twin: { setpoint: { expected: { value: '21.5' } } } });
      const result = await app.next(`${P}${THERMO}/twin/update/result`, (j) => j.event_id === 'e-1', from);
      assert.equal(result.twin.setpoint.expected.value, '21.5');
      assert.equal(typeof result.twin.setpoint.expected.metadata.timestamp, 'number');
      assert.deepEqual(result.twin.setpoint.metadata, { type: 'float' });
      assert.equal(result.twin.setpoint.expected_version, undefined, 'results carry no versions');
      assert.equal(result.code, undefined);
      const doc = await app.next(`${P}${THERMO}/twin/update/document`, (j) => j.event_id === 'e-1', from);
      assert.equal(doc.twin.setpoint.last.expected, undefined);
      assert.equal(doc.twin.setpoint.current.expected.value, '21.5');
      const delta = await app.next(`${P}${THERMO}/twin/update/delta`, (j) => j.delta?.setpoint === '21.5', from);
      assert.equal(delta.twin.setpoint.expected.value, '21.5');
      const view = twin.get(THERMO)!.properties.setpoint!;
      assert.deepEqual([view.desired?.value, view.desired?.origin, view.expectedVersion.edge], [21.5, 'mqtt', 1]);
      await waitFor('write through the local driver', () => writer.calls.some((c) => c.value === 21.5));
    });

    it('twin/get answers with the whole twin', async () => {
      twin.report([{ device: THERMO, property: 'temperature', value: 19.25, time: 1234, quality: 'good' }]);
      await twin.flush();
      const from = app.messages.length;
      app.publish(`${P}${THERMO}/twin/get`, { event_id: 'g-1' });
      const r = await app.next(`${P}${THERMO}/twin/get/result`, (j) => j.event_id === 'g-1', from);
      assert.deepEqual(r.twin.temperature.actual, { value: '19.25', metadata: { timestamp: 1234, quality: 'good' } });
      assert.ok(r.twin.setpoint);
      app.publish(`${P}default/ghost/twin/get`, { event_id: 'g-2' });
      const nf = await app.next(`${P}default/ghost/twin/get/result`, (j) => j.event_id === 'g-2', from);
      assert.equal(nf.code, 404);
    });

    it('publishes one data/update per device per flush, with quality in the metadata', async () => {
      const from = app.messages.length;
      twin.report([
        { device: THERMO, property: 'temperature', value: 20.1, time: 5000, quality: 'good' },
        { device: THERMO, property: 'setpoint', time: 5001, quality: 'bad', error: { code: 'ETIMEDOUT', message: 'no answer' } },
      ]);
      await twin.flush();
      const d = await app.next(`$ke/events/device/${THERMO}/data/update`, (j) => j.data.temperature?.value === '20.1', from);
      assert.deepEqual(d.data.temperature.metadata, { timestamp: 5000, type: 'float', quality: 'good' });
      assert.deepEqual(d.data.setpoint.metadata.error, { code: 'ETIMEDOUT', message: 'no answer' });
      assert.equal(d.data.setpoint.metadata.quality, 'bad');
      assert.equal(app.on(`$ke/events/device/${THERMO}/data/update`).length - app.messages.slice(0, from).filter((m) => m.topic.endsWith('data/update')).length, 1);
    });

    it('answers malformed and oversized payloads with 400 and changes nothing', async () => {
      const before = twin.get(THERMO)!.properties.setpoint!.desired;
      const cases: [string, unknown][] = [
        ['bad-json', '{"event_id": "x", twin'],
        ['no-twin', { event_id: 'no-twin' }],
        ['wrong-shape', { event_id: 'wrong-shape', twin: { setpoint: { expected: { value: 22 } } } }],
        ['big-key', { event_id: 'big-key', twin: { ['k'.repeat(129)]: { expected: { value: '1' } } } }],
        ['big-value', { event_id: 'big-value', twin: { setpoint: { expected: { value: '1'.repeat(513) } } } }],
        ['bad-type', { event_id: 'bad-type', twin: { setpoint: { expected: { value: 'warm' } } } }],
        ['read-only', { event_id: 'read-only', twin: { temperature: { expected: { value: '3' } } } }],
      ];
      for (const [name, payload] of cases) {
        const from = app.messages.length;
        app.publish(`${P}${THERMO}/twin/update`, payload);
        const r = await app.next(`${P}${THERMO}/twin/update/result`, (j) => j.code !== undefined, from);
        assert.equal(r.code, 400, `${name}: ${JSON.stringify(r)}`);
        assert.equal(typeof r.reason, 'string');
        assert.equal(typeof r.timestamp, 'number');
        if (name !== 'bad-json') assert.equal(r.event_id, name);
      }
      assert.deepEqual(twin.get(THERMO)!.properties.setpoint!.desired, before);
    });

    it('answers 404 for an unknown device or property', async () => {
      let from = app.messages.length;
      app.publish(`${P}default/ghost/twin/update`, { event_id: 'nf', twin: { x: { expected: { value: '1' } } } });
      assert.equal((await app.next(`${P}default/ghost/twin/update/result`, (j) => j.event_id === 'nf', from)).code, 404);
      from = app.messages.length;
      app.publish(`${P}${THERMO}/twin/update`, { event_id: 'np', twin: { nope: { expected: { value: '1' } } } });
      assert.equal((await app.next(`${P}${THERMO}/twin/update/result`, (j) => j.event_id === 'np', from)).code, 404);
    });

    it('refuses actual for a device a local driver serves (409) and accepts it otherwise', async () => {
      let from = app.messages.length;
      app.publish(`${P}${THERMO}/twin/update`, { event_id: 'a-1', twin: { temperature: { actual: { value: '99' } } } });
      const refused = await app.next(`${P}${THERMO}/twin/update/result`, (j) => j.event_id === 'a-1', from);
      assert.equal(refused.code, 409);
      assert.notEqual(twin.get(THERMO)!.properties.temperature!.reported?.value, 99);
      from = app.messages.length;
      app.publish(`${P}${SENSOR}/twin/update`, { event_id: 'a-2', twin: { humidity: { actual: { value: '55', metadata: { timestamp: 777 } } } } });
      const ok = await app.next(`${P}${SENSOR}/twin/update/result`, (j) => j.event_id === 'a-2', from);
      assert.equal(ok.code, undefined);
      assert.equal(ok.twin.humidity.actual.value, '55');
      assert.equal(twin.get(SENSOR)!.properties.humidity!.reported?.value, 55);
      const data = await app.next(`$ke/events/device/${SENSOR}/data/update`, (j) => j.data.humidity?.value === '55', from);
      assert.equal(data.data.humidity.metadata.timestamp, 777);
    });

    it('state/update: result, connected event; 409 for a served device', async () => {
      let from = app.messages.length;
      app.publish(`${P}${SENSOR}/state/update`, { event_id: 's-1', state: 'ok' });
      const r = await app.next(`${P}${SENSOR}/state/update/result`, (j) => j.event_id === 's-1', from);
      assert.equal(r.device.name, 'sensor');
      assert.equal(r.device.state, 'online');
      assert.match(r.device.last_online, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
      await app.next(`$hw/events/connected/${SENSOR}`, () => true, from);
      assert.equal(twin.get(SENSOR)!.state, 'online');
      from = app.messages.length;
      app.publish(`${P}${THERMO}/state/update`, { event_id: 's-2', state: 'offline' });
      assert.equal((await app.next(`${P}${THERMO}/state/update/result`, (j) => j.event_id === 's-2', from)).code, 409);
      twin.state(THERMO, 'offline', 'link down');
      await app.next(`$hw/events/disconnected/${THERMO}`, () => true, from);
    });

    it('membership: get/result and updated', async () => {
      let from = app.messages.length;
      app.publish('$hw/events/node/edge-1/membership/get', { event_id: 'm-1' });
      const r = await app.next('$hw/events/node/edge-1/membership/get/result', (j) => j.event_id === 'm-1', from);
      assert.deepEqual(r.devices.map((d: { id: string }) => d.id).sort(), [SENSOR, THERMO]);
      from = app.messages.length;
      twin.setDevices([...devices(), device('pump', [property('speed')])]);
      const u = await app.next('$hw/events/node/edge-1/membership/updated', () => true, from);
      assert.deepEqual(u.added_devices.map((d: { id: string }) => d.id), ['default/pump']);
      assert.deepEqual(u.removed_devices, []);
      assert.deepEqual(u.added_devices[0].twin.speed.metadata, { type: 'int' });
    });

    it('a desired value from the API publishes a document and a delta', async () => {
      writer.fallback = { ok: false, error: { code: 'EIO', message: 'write rejected' } };
      const from = app.messages.length;
      twin.setDesired(THERMO, 'setpoint', 30, 'api');
      const doc = await app.next(`${P}${THERMO}/twin/update/document`, (j) => j.twin.setpoint?.current?.expected?.value === '30', from);
      assert.equal(doc.twin.setpoint.last.expected.value, '21.5');
      await app.next(`${P}${THERMO}/twin/update/delta`, (j) => j.delta.setpoint === '30', from);
      writer.fallback = undefined;
    });
  });
}

describe('event bus reconnects', () => {
  it('serves again after the broker restarts', async () => {
    let broker = await startMosquitto();
    const tmp = tempDir();
    const store = TwinStore.open(tmp.dir);
    const twin = new DeviceTwin({ store, log: silentLogger, nodeName: 'edge-1' });
    twin.setDevices(devices());
    const bus = new MqttEventBus({ twin, url: broker.url, nodeName: 'edge-1', log: silentLogger });
    try {
      await bus.start();
      await broker.stop();
      await waitFor('bus notices the broker is gone', () => !bus.connected);
      broker = await startMosquitto(broker.port);
      await waitFor('bus reconnects', () => bus.connected, 20_000);
      const app = await AppClient.connect(broker.url);
      const r = await waitFor('twin/get answered after reconnect', async () => {
        app.publish(`${P}${THERMO}/twin/get`, { event_id: 'r-1' });
        await new Promise((res) => setTimeout(res, 200));
        return app.on(`${P}${THERMO}/twin/get/result`)[0];
      });
      assert.equal(r.event_id, 'r-1');
      await app.close();
    } finally {
      await bus.stop();
      await twin.close();
      store.close();
      await broker.stop();
      tmp.remove();
    }
  });
});
