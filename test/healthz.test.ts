// /healthz of a real gateway: device files that did not load are a reason, and an external
// broker's URL is shown without its credentials.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { startMosquitto } from '../twin/testing.ts';
import { startGatewayProcess } from './helpers/gateway-process.ts';

const GOOD = `apiVersion: devices.kubeedge.io/v1beta1
kind: DeviceModel
metadata: { name: m, namespace: default }
spec:
  properties:
    - { name: t, type: INT, accessMode: ReadOnly }
---
apiVersion: devices.kubeedge.io/v1beta1
kind: Device
metadata: { name: d, namespace: default }
spec:
  deviceModelRef: { name: m }
  protocol: { protocolName: virtual }
  properties:
    - { name: t, visitors: { protocolName: virtual, configData: { function: constant, value: 1 } } }
`;

const work = mkdtempSync(join(tmpdir(), 'edgetwin-healthz-'));
after(() => rmSync(work, { recursive: true, force: true }));

describe('/healthz of a running gateway', () => {
  it('is degraded (503) when a device file has errors, naming the file', async () => {
    const good = join(work, 'good.yaml');
    const bad = join(work, 'bad.yaml');
    writeFileSync(good, GOOD);
    writeFileSync(bad, GOOD.replace(/name: d,/, 'name: e,').replace('name: m }', 'name: no-such-model }'));
    const gw = await startGatewayProcess({ devices: [good, bad], dataDir: join(work, 'data1') });
    try {
      const res = await fetch(`${gw.apiUrl}/healthz`);
      const h = (await res.json()) as { status: string; reasons: { component: string; message: string }[] };
      assert.equal(res.status, 503);
      assert.equal(h.status, 'degraded');
      const devices = h.reasons.find((r) => r.component === 'devices');
      assert.ok(devices, JSON.stringify(h));
      assert.match(devices.message, /bad\.yaml/);
    } finally {
      await gw.stop();
    }
  });

  it('shows an external broker URL without its password', async () => {
    const broker = await startMosquitto();
    const good = join(work, 'good.yaml');
    writeFileSync(good, GOOD);
    const url = `mqtt://gateway:s3cr3t-pw@127.0.0.1:${broker.port}`;
    const gw = await startGatewayProcess({ devices: [good], dataDir: join(work, 'data2'), extra: ['--mqtt-url', url] });
    try {
      const res = await fetch(`${gw.apiUrl}/healthz`);
      const text = await res.text();
      assert.equal(res.status, 200, text);
      assert.doesNotMatch(text, /s3cr3t-pw/);
      assert.match(text, new RegExp(`"mqtt":"mqtt://gateway:\\*\\*\\*@127\\.0\\.0\\.1:${broker.port}"`));
    } finally {
      await gw.stop();
      await broker.stop();
    }
  });
});
