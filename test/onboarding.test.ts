// Onboarding from the dashboard's API on a real gateway: browse a real OPC UA server (the test
// starts it), add the proposal as a file in {dataDir}/devices.d, and see the device run; refusals
// for a taken name, YAML that does not load, a URL that is not OPC UA, and a cross-site request.

import assert from 'node:assert/strict';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { waitFor } from '../core/testing.ts';
import { startTestServer, type TestServer } from '../mappers/opcua/testing/spawn.ts';
import { ROOT, startGatewayProcess, type GatewayProcess } from './helpers/gateway-process.ts';

const JSON_TYPE = { 'content-type': 'application/json' };

describe('onboarding through the API', () => {
  let gw: GatewayProcess;
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ trustAll: true });
    gw = await startGatewayProcess({ devices: [join(ROOT, 'examples', 'quickstart')] });
  });
  after(async () => {
    await gw?.stop();
    await server?.stop();
  });

  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(gw.apiUrl + path, { method: 'POST', headers: { ...JSON_TYPE, ...headers }, body: JSON.stringify(body) });

  it('browses an OPC UA server, adds the proposal to devices.d, and the device runs', async () => {
    const browse = await post('/api/v1/onboarding/opcua/browse', { url: server.url, filter: 'Test/*', name: 'bench' });
    const proposal = (await browse.json()) as { yaml: string; variables: number; name: string };
    assert.equal(browse.status, 200, JSON.stringify(proposal));
    assert.ok(proposal.variables > 5);
    assert.match(proposal.yaml, /kind: DeviceModel/);
    assert.match(proposal.yaml, /kind: Device\n/);
    const add = await post('/api/v1/onboarding/devices', { file: 'bench', yaml: proposal.yaml });
    const added = (await add.json()) as { file: string; devices: string[] };
    assert.equal(add.status, 200, JSON.stringify(added));
    assert.deepEqual(added.devices, ['default/bench']);
    assert.equal(added.file, join(gw.dataDir, 'devices.d', 'bench.yaml'));
    assert.ok(existsSync(added.file));
    await waitFor('the browsed device online', async () => {
      const list = (await (await fetch(`${gw.apiUrl}/api/v1/devices`)).json()) as { devices: { device: string; state: string }[] };
      return list.devices.find((d) => d.device === 'default/bench')?.state === 'online' || undefined;
    }, 60_000, 200);
    const again = await post('/api/v1/onboarding/devices', { file: 'bench', yaml: proposal.yaml });
    assert.equal(again.status, 409, 'a taken file name is refused, not overwritten');
  });

  it('takes back a file that does not load, and the gateway keeps running what it ran', async () => {
    const bad = await post('/api/v1/onboarding/devices', { file: 'broken', yaml: 'apiVersion: devices.kubeedge.io/v1beta1\nkind: Device\nmetadata: { name: x }\nspec: { deviceModelRef: { name: nowhere } }\n' });
    const body = (await bad.json()) as { code: string; message: string };
    assert.equal(bad.status, 400, JSON.stringify(body));
    assert.match(body.message, /not added/);
    assert.deepEqual(readdirSync(join(gw.dataDir, 'devices.d')).sort(), ['bench.yaml']);
    assert.equal((await post('/api/v1/onboarding/devices', { file: '../escape', yaml: 'x: 1' })).status, 400, 'no path outside devices.d');
    const health = (await (await fetch(`${gw.apiUrl}/healthz`)).json()) as { status: string };
    assert.equal(health.status, 'ok', 'the refused file left no load error behind');
  });

  it('a file dropped into devices.d by hand is loaded too (the folder is watched)', async () => {
    const yaml = (await (await post('/api/v1/onboarding/opcua/browse', { url: server.url, filter: 'Test/*', name: 'bench2' })).json()) as { yaml: string };
    writeFileSync(join(gw.dataDir, 'devices.d', 'bench2.yaml'), yaml.yaml);
    await waitFor('the dropped device in the twin', async () => {
      const list = (await (await fetch(`${gw.apiUrl}/api/v1/devices`)).json()) as { devices: { device: string }[] };
      return list.devices.some((d) => d.device === 'default/bench2') || undefined;
    }, 30_000, 200);
  });

  it('refuses a browse of anything but opc.tcp, and any onboarding from another site', async () => {
    const http = await post('/api/v1/onboarding/opcua/browse', { url: 'http://169.254.169.254/latest/meta-data' });
    assert.equal(http.status, 400);
    const cross = await post('/api/v1/onboarding/opcua/browse', { url: server.url }, { origin: 'http://evil.example' });
    assert.equal(cross.status, 403);
    const form = await fetch(gw.apiUrl + '/api/v1/onboarding/devices', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: JSON.stringify({ file: 'x', yaml: 'x' }) });
    assert.equal(form.status, 403);
  });
});
