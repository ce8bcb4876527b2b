// `edgetwin run` with a bad config file, a bad flag or a taken port: the real binary ends with
// `edgetwin: <what> (<where>)` and a hint, exit 2 for a config or flag mistake, never a stack
// trace; and a taken port stops the gateway before it touches a device.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitFor } from '../core/testing.ts';
import { ScriptedServer } from '../mappers/modbus/testing/scripted-server.ts';
import { cli, startGatewayProcess } from './helpers/gateway-process.ts';

const dir = mkdtempSync(join(tmpdir(), 'edgetwin-run-errors-'));
const file = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};

/** Runs `edgetwin run` with the given arguments on free ports; it is expected to exit by itself. */
async function run(args: string[]) {
  return cli(['run', '--no-live', '--data-dir', join(dir, 'data'), '--mqtt-port', String(await freePort()), '--api-port', String(await freePort()), ...args]);
}

function assertNoStack(stderr: string) {
  assert.doesNotMatch(stderr, /\n\s+at /, `no stack frames in:\n${stderr}`);
  assert.doesNotMatch(stderr, /Error:/, `no raw exception in:\n${stderr}`);
}

describe('edgetwin run: config and flag errors', () => {
  const cases: { name: string; args: () => string[]; what: RegExp; where: RegExp; hint: RegExp }[] = [
    {
      name: 'a YAML syntax error in the config file',
      args: () => ['--config', file('syntax.yaml', 'nodeName: gw\napi:\n  port: [7180\n')],
      what: /invalid YAML/, where: /syntax\.yaml:4\)|syntax\.yaml:3\)/, hint: /fix the YAML at that line/,
    },
    {
      name: 'an unknown config key, with the closest known one',
      args: () => ['--config', file('unknown.yaml', 'nodeName: gw\nmqtt:\n  prot: 1883\n')],
      what: /unknown config key "mqtt\.prot"/, where: /unknown\.yaml:3\)/, hint: /did you mean "mqtt\.port"\?/,
    },
    {
      name: 'a malformed value in the config file',
      args: () => ['--config', file('value.yaml', 'api:\n  port: high\n')],
      what: /api\.port: expected a whole number, got "high"/, where: /value\.yaml:2\)/, hint: /docs\/configuration\.md/,
    },
    {
      name: 'an unknown URL scheme in the config file',
      args: () => ['--config', file('scheme.yaml', 'nodeName: gw\nmqtt:\n  url: foo://bar\n')],
      what: /mqtt\.url has the unknown scheme "foo:\/\/"/, where: /scheme\.yaml:3\)/, hint: /accepted schemes: mqtt:\/\//,
    },
    {
      name: '--log-level loud',
      args: () => ['--log-level', 'loud'],
      what: /unknown log level "loud"/, where: /\(--log-level\)/, hint: /use one of trace, debug, info, warn, error/,
    },
    {
      name: '--mqtt-url foo://bar',
      args: () => ['--mqtt-url', 'foo://bar'],
      what: /unknown scheme "foo:\/\/"/, where: /\(--mqtt-url\)/, hint: /accepted schemes: mqtt:\/\/, mqtts:\/\//,
    },
    {
      name: 'a malformed flag value (--api-port abc)',
      args: () => ['--api-port', 'abc'],
      what: /argument 'abc' is invalid\. a port is a whole number from 0 to 65535/, where: /\(--api-port\)/, hint: /see `edgetwin run --help`/,
    },
    {
      name: 'an unknown flag',
      args: () => ['--log-levle', 'debug'],
      what: /unknown option '--log-levle'/, where: /\(--log-levle\)/, hint: /did you mean --log-level\? see `edgetwin run --help`/,
    },
    {
      name: 'a --devices path that does not exist',
      args: () => ['--devices', join(dir, 'no-such-devices')],
      what: /the devices path .*no-such-devices does not exist/, where: /\(--devices\)/, hint: /name an existing/,
    },
    {
      name: 'a devices path in the config file that does not exist',
      args: () => ['--config', file('devices.yaml', 'nodeName: gw\ndevices: [missing-folder]\n')],
      what: /the devices path .*missing-folder does not exist/, where: /devices\.yaml:2\)/, hint: /name an existing/,
    },
    {
      name: 'a config file that does not exist',
      args: () => ['--config', join(dir, 'absent.yaml')],
      what: /the config file does not exist/, where: /absent\.yaml, --config\)/, hint: /check the --config path/,
    },
  ];
  for (const c of cases) {
    it(`${c.name}: exit 2, where and a hint, no stack trace`, async () => {
      const r = await run(c.args());
      assert.equal(r.code, 2, r.stderr);
      const [first, second] = r.stderr.trim().split('\n');
      assert.match(first ?? '', /^edgetwin: /, r.stderr);
      assert.match(first ?? '', c.what, r.stderr);
      assert.match(first ?? '', c.where, r.stderr);
      assert.match(second ?? '', /^ {2}hint: /, r.stderr);
      assert.match(second ?? '', c.hint, r.stderr);
      assertNoStack(r.stderr);
    });
  }
});

describe('edgetwin run: order of start', () => {
  const plcYaml = (port: number) => file(`plc-${port}.yaml`, `apiVersion: devices.kubeedge.io/v1beta1
kind: DeviceModel
metadata: { name: oven-model }
spec:
  protocol: modbus
  properties:
    - { name: setpoint, type: INT, accessMode: ReadWrite }
---
apiVersion: devices.kubeedge.io/v1beta1
kind: Device
metadata: { name: oven }
spec:
  deviceModelRef: { name: oven-model }
  protocol:
    protocolName: modbus
    configData: { communicateMode: TCP, ip: 127.0.0.1, port: "${port}", slaveID: 1, timeout: 500 }
  properties:
    - name: setpoint
      collectCycle: 200
      desired: { value: "42" }
      visitors: { protocolName: modbus, configData: { register: HoldingRegister, offset: 0, dataType: int16 } }
`);

  it('a taken API port stops the gateway before it connects to a device or writes its YAML setpoint', async () => {
    const plc = new ScriptedServer(() => ({ value: 0 }));
    await plc.listen();
    const apiPort = await freePort();
    const squatter: Server = createServer();
    await new Promise<void>((r) => squatter.listen(apiPort, '127.0.0.1', r));
    try {
      const devices = plcYaml(plc.port);
      const r = await cli(['run', '--no-live', '--devices', devices, '--data-dir', mkdtempSync(join(dir, 'taken-')), '--mqtt-port', String(await freePort()), '--api-port', String(apiPort)]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /^edgetwin: local API cannot listen on 127\.0\.0\.1:\d+: .*EADDRINUSE.*--api-port/m);
      assert.doesNotMatch(r.stderr, /\n\s+at /);
      assert.equal(plc.connections, 0, 'the gateway never connected to the PLC');
      assert.deepEqual(plc.log, [], 'no request reached the PLC');

      // The same files with the port free: the gateway does connect and writes the setpoint, so
      // the count above could have been other than 0.
      const gw = await startGatewayProcess({ devices: [devices] });
      try {
        await waitFor('the gateway to write the YAML setpoint to the PLC', () => plc.log.some((q) => q.fc === 6 || q.fc === 16) || undefined, 30_000);
      } finally {
        await gw.stop();
      }
    } finally {
      await new Promise<void>((r) => squatter.close(() => r()));
      await plc.close();
    }
  });
});
