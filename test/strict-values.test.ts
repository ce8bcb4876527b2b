// Values are decimal only, wherever they enter: the local API, MQTT twin/update, `edgetwin twin
// set` and a Device YAML's desired value. A FLOAT once took "0x10" as 16 and the API took [[13]]
// as 13; each is now refused with the device, the property and the accepted form.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { cli, ROOT, startGatewayProcess, type GatewayProcess } from './helpers/gateway-process.ts';

const SETPOINT = 'api/v1/devices/default/thermostat/twin/desired/setpoint';

describe('strict values at every entry', () => {
  let gw: GatewayProcess;
  let devices: string;
  before(async () => {
    devices = mkdtempSync(join(tmpdir(), 'edgetwin-strict-'));
    cpSync(join(ROOT, 'examples', 'quickstart'), devices, { recursive: true });
    gw = await startGatewayProcess({ devices: [devices] });
  });
  after(async () => {
    await gw?.stop();
  });

  const put = async (value: unknown) => {
    const res = await fetch(`${gw.apiUrl}/${SETPOINT}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ value }) });
    return { status: res.status, body: (await res.json()) as { code?: string; message?: string; value?: unknown } };
  };
  const desired = async () => {
    const res = await fetch(`${gw.apiUrl}/api/v1/devices/default/thermostat/twin`);
    const twin = (await res.json()) as { properties: Record<string, { desired?: { value: unknown } }> };
    return twin.properties.setpoint?.desired?.value;
  };

  it('the API refuses hex, binary, octal, NaN, Infinity and arrays with 400 naming device, property and the accepted form', async () => {
    const before = await desired();
    for (const value of ['0x10', '0b1111', '0o17', 'NaN', 'Infinity', [[13]], [13]]) {
      const r = await put(value);
      assert.equal(r.status, 400, `${JSON.stringify(value)}: ${JSON.stringify(r.body)}`);
      assert.match(r.body.message ?? '', /default\/thermostat property setpoint/, JSON.stringify(r.body));
      assert.match(r.body.message ?? '', /expected a decimal number: optional sign, digits, optional fraction and exponent/, JSON.stringify(r.body));
    }
    assert.deepEqual(await desired(), before, 'no refused value became desired');
    const ok = await put('2.25e1');
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.equal(await desired(), 22.5);
  });

  it('MQTT twin/update refuses a hex expected value with an error result naming the property', async () => {
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${gw.mqttPort}`);
    try {
      const topic = '$hw/events/device/default/thermostat/twin/update';
      await client.subscribeAsync(`${topic}/result`);
      const result = new Promise<Record<string, unknown>>((resolve) => {
        client.on('message', (_t, payload) => {
          const msg = JSON.parse(payload.toString()) as Record<string, unknown>;
          if (msg.event_id === 'strict-1') resolve(msg);
        });
      });
      await client.publishAsync(topic, JSON.stringify({ event_id: 'strict-1', timestamp: Date.now(), twin: { setpoint: { expected: { value: '0x10' } } } }));
      const msg = await result;
      assert.match(JSON.stringify(msg), /setpoint.*expected a decimal number.*got \\"0x10\\"/);
      assert.notEqual(await desired(), 16);
    } finally {
      await client.endAsync();
    }
  });

  it('`edgetwin twin set` with a hex value exits 1 with the refusal, no stack trace', async () => {
    const r = await cli(['twin', 'set', 'default/thermostat', 'setpoint=0x10', '--api-url', gw.apiUrl]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /default\/thermostat property setpoint: desired value rejected: expected a decimal number.*got "0x10"/);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  });

  it('a Device YAML desired value "0x10" is a load error with file:line', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'edgetwin-strict-yaml-'));
    const text = readFileSync(join(devices, 'thermostat.yaml'), 'utf8');
    assert.match(text, /value: "21\.5"/, 'the quick start sets the setpoint to 21.5');
    writeFileSync(join(dir, 'thermostat.yaml'), text.replace('value: "21.5"', 'value: "0x10"'));
    const r = await cli(['validate', dir]);
    assert.equal(r.code, 1);
    const line = text.split('\n').findIndex((l) => l.includes('value: "21.5"')) + 1;
    assert.match(r.stderr, new RegExp(`thermostat\\.yaml:${line}: default/thermostat property setpoint: .*expected a decimal number.*got "0x10"`));
  });
});
