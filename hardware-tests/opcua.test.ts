// The OPC UA mapper against a real server (a PLC, a SCADA server, a vendor simulator). Opt-in: set
//   EDGETWIN_OPCUA_URL=opc.tcp://plc.local:4840     the endpoint
//   EDGETWIN_OPCUA_NODE=ns=3;s=Temperature          optional: a readable variable (default i=2258, the server's CurrentTime)
//   EDGETWIN_OPCUA_WRITE_NODE=ns=3;s=Setpoint       optional: a writable Double the test may change (it restores it)
//   EDGETWIN_OPCUA_SECURITY_POLICY=Basic256Sha256   optional, with EDGETWIN_OPCUA_SECURITY_MODE (default SignAndEncrypt)
//   EDGETWIN_OPCUA_USER=operator EDGETWIN_OPCUA_PASSWORD_FILE=/path/to/file   optional user identity
//   EDGETWIN_OPCUA_DATA_DIR=./edgetwin-data         where the client certificate lives (the server must trust it)
// Without EDGETWIN_OPCUA_URL every test is skipped with the reason.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { silentLogger } from '../core/log.ts';
import { makeDevice, RecordingSink, waitFor } from '../mappers/sdk/conformance/harness.ts';
import { MapperHost } from '../mappers/sdk/host.ts';
import { opcuaLoader } from '../mappers/opcua/index.ts';
import type { OpcuaProtocol } from '../mappers/opcua/config.ts';

const env = process.env;
const url = env.EDGETWIN_OPCUA_URL;
const skip = url ? false : 'set EDGETWIN_OPCUA_URL (e.g. opc.tcp://plc.local:4840) to run against a real OPC UA server';
const dataDir = resolve(env.EDGETWIN_OPCUA_DATA_DIR ?? './edgetwin-data');
const protocol = {
  url: url ?? '',
  ...(env.EDGETWIN_OPCUA_SECURITY_POLICY ? { securityPolicy: env.EDGETWIN_OPCUA_SECURITY_POLICY, securityMode: (env.EDGETWIN_OPCUA_SECURITY_MODE ?? 'SignAndEncrypt') as OpcuaProtocol['securityMode'] } : {}),
  ...(env.EDGETWIN_OPCUA_USER ? { userName: env.EDGETWIN_OPCUA_USER, password: env.EDGETWIN_OPCUA_PASSWORD_FILE && resolve(env.EDGETWIN_OPCUA_PASSWORD_FILE) } : {}),
  timeout: 10,
} satisfies OpcuaProtocol;
const node = env.EDGETWIN_OPCUA_NODE ?? 'i=2258';

async function withHost(fn: (host: MapperHost, sink: RecordingSink) => Promise<void>): Promise<void> {
  const sink = new RecordingSink();
  const host = new MapperHost({ sink, drivers: [opcuaLoader], log: silentLogger, dataDir });
  try {
    await fn(host, sink);
  } finally {
    await host.close();
  }
}

describe('OPC UA against a real server', { skip }, () => {
  for (const mode of ['subscribe', 'poll'] as const) {
    it(`${mode}: reads ${node} with good quality and a source timestamp`, async () => {
      await withHost(async (host, sink) => {
        const d = makeDevice({ name: `hw-opcua-${mode}`, protocol: 'opcua', config: { ...protocol, mode }, properties: [{ name: 'value', type: 'string', collectCycle: 1000, visitor: { nodeID: node } }] });
        const { errors } = await host.apply([d]);
        assert.deepEqual(errors.map((e) => e.format()), []);
        const r = await waitFor(() => sink.readings.find((x) => x.quality === 'good'), `a good reading (state: ${sink.states.at(-1)?.reason ?? 'none'})`, 60_000);
        assert.ok(r.time > Date.now() - 24 * 3600_000, 'a plausible source timestamp');
      });
    });
  }

  it('writes a Double setpoint and reads it back, then restores it', { skip: env.EDGETWIN_OPCUA_WRITE_NODE ? false : 'set EDGETWIN_OPCUA_WRITE_NODE to a writable Double the test may change' }, async () => {
    await withHost(async (host, sink) => {
      const d = makeDevice({ name: 'hw-opcua-write', protocol: 'opcua', config: protocol, properties: [{ name: 'setpoint', type: 'double', accessMode: 'ReadWrite', collectCycle: 1000, visitor: { nodeID: env.EDGETWIN_OPCUA_WRITE_NODE! } }] });
      await host.apply([d]);
      const before = await waitFor(() => sink.readings.find((x) => x.quality === 'good'), 'the current setpoint', 60_000);
      const target = Number(before.value) + 1;
      try {
        const outcome = await host.write(d.id, 'setpoint', target);
        assert.equal(outcome.ok, true, outcome.error?.message);
        assert.equal(outcome.readBack, target);
      } finally {
        await host.write(d.id, 'setpoint', before.value!);
      }
    });
  });

  it('browse finds variables under Objects', async () => {
    const { browseServer } = await import('../mappers/opcua/browse.ts');
    const variables = await browseServer(protocol, dataDir, { depth: 3 });
    assert.ok(variables.length > 0, 'some variables');
  });
});
