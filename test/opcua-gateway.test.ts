// The OPC UA driver in the real gateway (`edgetwin run`, the bundle in dist/): an OPC UA device goes
// online, its values reach the twin API, a desired value is applied; and a gateway without OPC UA
// devices never loads node-opcua.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startGatewayProcess, ROOT } from './helpers/gateway-process.ts';
import { waitFor } from '../core/testing.ts';
import { startTestServer, type TestServer } from '../mappers/opcua/testing/spawn.ts';

let server: TestServer;
const dir = mkdtempSync(join(tmpdir(), 'edgetwin-opcua-gw-'));
const WATCH = join(ROOT, 'mappers', 'opcua', 'testing', 'watch-imports.mjs');

before(async () => {
  server = await startTestServer({ trustAll: true });
});
after(async () => {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
});

interface Twin {
  state: string;
  properties: Record<string, { reported?: { value?: unknown; quality: string }; reconcile: { state: string; reason?: string } }>;
}

const yaml = (url: string) => `
apiVersion: devices.kubeedge.io/v1beta1
kind: DeviceModel
metadata: { name: bench-model }
spec:
  protocol: opcua
  properties:
    - { name: counter, type: INT, accessMode: ReadOnly }
    - { name: setpoint, type: DOUBLE, accessMode: ReadWrite }
---
apiVersion: devices.kubeedge.io/v1beta1
kind: Device
metadata: { name: bench }
spec:
  deviceModelRef: { name: bench-model }
  protocol: { protocolName: opcua, configData: { url: "${url}", timeout: 5 } }
  properties:
    - name: counter
      collectCycle: 200
      visitors: { protocolName: opcua, configData: { nodeID: "ns=1;s=Test.Counter" } }
    - name: setpoint
      collectCycle: 200
      visitors: { protocolName: opcua, configData: { browsePath: "/Objects/Test/Double" } }
`;

test('an OPC UA device in the gateway: online, values in the twin, a desired value applied', async () => {
  const file = join(dir, 'opcua.yaml');
  writeFileSync(file, yaml(server.url));
  const imports = join(dir, 'imports-opcua.log');
  const gw = await startGatewayProcess({ devices: [file], dataDir: join(dir, 'data'), env: { NODE_OPTIONS: `--import ${WATCH}`, EDGETWIN_IMPORT_LOG: imports } });
  try {
    const twin = async () => (await (await fetch(`${gw.apiUrl}/api/v1/devices/default/bench/twin`)).json()) as Twin;
    await waitFor('the device online with a good counter', async () => {
      const t = await twin();
      return t.state === 'online' && t.properties.counter?.reported?.quality === 'good' ? true : undefined;
    }, 60_000, 200);
    const put = await fetch(`${gw.apiUrl}/api/v1/devices/default/bench/twin/desired/setpoint`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ value: '77.5' }) });
    assert.equal(put.status < 300, true, await put.text());
    await waitFor('the setpoint applied', async () => {
      const t = await twin();
      return t.properties.setpoint?.reconcile.state === 'applied' && t.properties.setpoint.reported?.value === 77.5 ? true : undefined;
    }, 60_000, 200);
    assert.ok(existsSync(join(dir, 'data', 'pki', 'opcua', 'own', 'certs', 'client_certificate.pem')), 'the certificate store is under the data directory');
    assert.match(readFileSync(imports, 'utf8'), /node-opcua-client/);
  } finally {
    await gw.stop();
  }
});

test('a gateway without OPC UA devices never loads node-opcua', async () => {
  const imports = join(dir, 'imports-virtual.log');
  const gw = await startGatewayProcess({ devices: [join(ROOT, 'examples', 'quickstart')], dataDir: join(dir, 'data-virtual'), env: { NODE_OPTIONS: `--import ${WATCH}`, EDGETWIN_IMPORT_LOG: imports } });
  try {
    await waitFor('the quick start devices online', async () => {
      const body = (await (await fetch(`${gw.apiUrl}/api/v1/devices`)).json()) as { devices: { state: string }[] };
      return body.devices.length > 0 && body.devices.every((d) => d.state === 'online') ? true : undefined;
    }, 60_000, 200);
  } finally {
    await gw.stop();
  }
  assert.equal(existsSync(imports) ? readFileSync(imports, 'utf8') : '', '', 'no node-opcua module was imported');
});
