// Nothing the store acknowledged is lost when the gateway is killed with SIGKILL mid-stream.
// A value is published on MQTT only after its transaction committed, so every value an MQTT
// subscriber saw before the kill must be in the SQLite file afterwards.

import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { TwinStore } from '../twin/store.ts';
import { startGatewayProcess, type GatewayProcess } from './helpers/gateway-process.ts';
import { waitFor } from '../core/testing.ts';

const PROPS = 20;

function fastDevice(): string {
  const model = Array.from({ length: PROPS }, (_, i) => `    - { name: c${i}, type: INT, accessMode: ReadOnly }`).join('\n');
  const props = Array.from({ length: PROPS }, (_, i) =>
    `    - name: c${i}\n      collectCycle: 10\n      visitors: { protocolName: virtual, configData: { function: step, value: 0, min: 0, max: 1000000000, step: 1, period: 10 } }`).join('\n');
  return `apiVersion: devices.kubeedge.io/v1beta1
kind: DeviceModel
metadata: { name: counter-model, namespace: default }
spec:
  properties:
${model}
    - { name: limit, type: INT, accessMode: ReadWrite, minimum: "0", maximum: "1000" }
---
apiVersion: devices.kubeedge.io/v1beta1
kind: Device
metadata: { name: fast, namespace: default }
spec:
  deviceModelRef: { name: counter-model }
  protocol: { protocolName: virtual }
  properties:
${props}
    - name: limit
      desired: { value: "10" }
      visitors: { protocolName: virtual, configData: { function: constant, value: 0 } }
`;
}

describe('kill -9 of a gateway mid-stream', () => {
  const dir = mkdtempSync(join(tmpdir(), 'edgetwin-kill9-'));
  const devices = join(dir, 'fast.yaml');
  writeFileSync(devices, fastDevice());
  const dataDir = join(dir, 'data');
  let gw: GatewayProcess | undefined;
  after(async () => {
    await gw?.stop('SIGKILL');
  });

  it('keeps every update a subscriber saw, and the runtime desired value, after SIGKILL and a restart', async () => {
    gw = await startGatewayProcess({ devices: [devices], dataDir });
    const res = await fetch(`${gw.apiUrl}/api/v1/devices/default/fast/twin/desired/limit`, {
      method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ value: '700' }),
    });
    assert.equal(res.status, 200, await res.text());

    const client = mqtt.connect(`mqtt://127.0.0.1:${gw.mqttPort}`, { reconnectPeriod: 0 });
    client.on('error', () => {});
    const seen = new Map<string, number>();
    let messages = 0;
    client.on('message', (_topic, payload) => {
      const body = JSON.parse(payload.toString()) as { data: Record<string, { value: string }> };
      for (const [name, d] of Object.entries(body.data)) seen.set(name, Math.max(seen.get(name) ?? -1, Number(d.value)));
      messages++;
    });
    await new Promise<void>((r) => client.on('connect', () => client.subscribe('$ke/events/device/default/fast/data/update', () => r())));
    await waitFor('a stream of data updates', () => messages >= 100);

    gw.child.kill('SIGKILL');
    await gw.stop();
    client.end(true);
    const snapshot = new Map(seen);
    assert.ok(snapshot.size >= PROPS, `saw only ${snapshot.size} properties`);

    const store = TwinStore.open(dataDir);
    try {
      const rows = new Map(store.properties('default/fast').map((r) => [r.name, r]));
      for (const [name, value] of snapshot) {
        const stored = Number(rows.get(name)?.reported);
        assert.ok(stored >= value, `${name}: subscriber saw ${value} but the store holds ${stored}`);
      }
      assert.equal(rows.get('limit')?.desired, '700');
    } finally {
      store.close();
    }

    gw = await startGatewayProcess({ devices: [devices], dataDir });
    await waitFor('the runtime desired value kept over the unchanged YAML one', async () => {
      const twin = (await (await fetch(`${gw!.apiUrl}/api/v1/devices/default/fast/twin`)).json()) as { properties: Record<string, { desired?: { value: unknown } }> };
      return twin.properties.limit?.desired?.value === 700;
    });
  });
});
