// An external broker (a real mosquitto started by the test) stopped for a while and started again:
// what the gateway published meanwhile waits in its outbox and reaches a subscriber once the broker
// is back, /healthz says degraded while it is away, and nothing is dropped. A retained twin/update
// (stale by nature) is not applied.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import mqtt from 'mqtt';
import { waitFor } from '../core/testing.ts';
import { startMosquitto } from '../twin/testing.ts';
import { OVEN, writeOven } from './helpers/oven.ts';
import { startGatewayProcess, type GatewayProcess } from './helpers/gateway-process.ts';

const work = mkdtempSync(join(tmpdir(), 'edgetwin-outage-'));
const devices = writeOven(work);

type Twin = { properties: Record<string, { desired?: { value: number }; reported?: { value: number } }> };
const twinOf = async (gw: GatewayProcess) => (await (await fetch(`${gw.apiUrl}/api/v1/devices/${OVEN}/twin`)).json()) as Twin;
const healthz = async (gw: GatewayProcess) => (await (await fetch(`${gw.apiUrl}/healthz`)).json()) as { status: string; reasons: { component: string; message: string }[] };
const metric = async (gw: GatewayProcess, name: string) => {
  const text = await (await fetch(`${gw.apiUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(name));
  return line === undefined ? 0 : Number(line.split(' ').at(-1));
};

describe('external broker outage', () => {
  const stops: (() => Promise<unknown>)[] = [];
  after(async () => {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
    rmSync(work, { recursive: true, force: true });
  });

  it('keeps what the gateway publishes while the broker is away and delivers the last values when it returns', async () => {
    // The broker keeps sessions across its restart, so the subscriber's queue survives too.
    const persistence = mkdtempSync(join(work, 'mosquitto-'));
    const conf = `allow_anonymous true\npersistence true\npersistence_location ${persistence}/`;
    let broker = await startMosquitto(undefined, conf);
    stops.push(() => broker.stop());
    const port = broker.port;

    const seen = { ticks: [] as number[], setpointDocuments: [] as string[] };
    const watcher = await mqtt.connectAsync(broker.url, { clientId: 'outage-watcher', clean: false, reconnectPeriod: 100 });
    stops.push(() => watcher.endAsync(true));
    watcher.on('message', (topic, payload) => {
      const msg = JSON.parse(payload.toString()) as Record<string, any>;
      if (topic.endsWith('/data/update') && msg.data.ticks) seen.ticks.push(Number(msg.data.ticks.value));
      if (topic.endsWith('/twin/update/document') && msg.twin.setpoint) seen.setpointDocuments.push(msg.twin.setpoint.current.expected?.value);
    });
    await watcher.subscribeAsync([`$ke/events/device/${OVEN}/data/update`, `$hw/events/device/${OVEN}/twin/update/document`], { qos: 1 });

    const gw = await startGatewayProcess({ devices: [devices], dataDir: join(work, 'data'), extra: ['--mqtt-url', broker.url] });
    stops.push(() => gw.stop());
    await waitFor('data updates through the external broker', () => seen.ticks.length >= 3);
    assert.equal((await healthz(gw)).status, 'ok');

    await broker.stop();
    const down = await waitFor('/healthz to report the broker away', async () => {
      const h = await healthz(gw);
      return h.status === 'degraded' ? h : undefined;
    }, 30_000, 50);
    assert.match(down.reasons.find((r) => r.component === 'mqtt')?.message ?? '', /not connected to the MQTT broker mqtt:\/\/127\.0\.0\.1:\d+/);
    const before = (await twinOf(gw)).properties.ticks!.reported!.value;
    await waitFor('the device to keep reporting while the broker is away', async () => (await twinOf(gw)).properties.ticks!.reported!.value >= before + 10);
    const put = await fetch(`${gw.apiUrl}/api/v1/devices/${OVEN}/twin/desired/setpoint`, {
      method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ value: '77' }),
    });
    assert.equal(put.status, 200, await put.text());
    const shownWhileDown = (await twinOf(gw)).properties.ticks!.reported!.value;
    assert.ok(await metric(gw, 'edgetwin_outbox_entries{outbox="mqtt"}') > 0, 'messages wait in the outbox');
    const seenBeforeReturn = seen.ticks.length;

    broker = await startMosquitto(port, conf);
    await waitFor('the subscriber to get the values the twin had while the broker was away', () => seen.ticks.slice(seenBeforeReturn).some((v) => v >= shownWhileDown), 30_000);
    await waitFor('the desired value set while the broker was away', () => seen.setpointDocuments.includes('77'));
    await waitFor('/healthz to be ok again', async () => (await healthz(gw)).status === 'ok', 30_000, 50);
    await waitFor('the outbox to be empty', async () => (await metric(gw, 'edgetwin_outbox_entries{outbox="mqtt"}')) === 0);
    assert.ok(await metric(gw, 'edgetwin_mqtt_outbox_replayed_total') > 0);
    assert.equal(await metric(gw, 'edgetwin_mqtt_dropped_total'), 0, 'nothing was dropped');
    assert.equal(await metric(gw, 'edgetwin_outbox_dropped_total'), 0, 'nothing was dropped at the outbox bound');
  });

  it('ignores a retained twin/update with a warning', async () => {
    const broker = await startMosquitto();
    stops.push(() => broker.stop());
    const app = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 });
    stops.push(() => app.endAsync(true));
    const request = JSON.stringify({ event_id: 'stale', timestamp: Date.now(), twin: { setpoint: { expected: { value: '55' } } } });
    await app.publishAsync(`$hw/events/device/${OVEN}/twin/update`, request, { qos: 1, retain: true });

    const gw = await startGatewayProcess({ devices: [devices], dataDir: join(work, 'retained'), extra: ['--mqtt-url', broker.url] });
    stops.push(() => gw.stop());
    await waitFor('the warning about the retained request', () => /ignored a retained request/.test(gw.log()));
    await waitFor('the device in the twin', async () => (await twinOf(gw)).properties.setpoint !== undefined);
    assert.equal((await twinOf(gw)).properties.setpoint!.desired, undefined);
    // The same request, live, is applied.
    await app.publishAsync(`$hw/events/device/${OVEN}/twin/update`, request, { qos: 1 });
    await waitFor('the live request to be applied', async () => (await twinOf(gw)).properties.setpoint!.desired?.value === 55);
  });
});
