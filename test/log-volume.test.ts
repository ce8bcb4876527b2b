// The log at the default level: 2,000 devices once logged 47 MB in 80 s, a line per reported
// value. Now a gateway of many fast-changing virtual devices logs one line per device state
// change and a summary per interval at info, and no line per reading.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from '../core/testing.ts';
import { startGatewayProcess } from './helpers/gateway-process.ts';

const DEVICES = 40;

function fleet(dir: string): string {
  const docs = [`apiVersion: devices.kubeedge.io/v1beta1
kind: DeviceModel
metadata: { name: sensor-model }
spec:
  protocol: virtual
  properties:
    - { name: temperature, type: DOUBLE, accessMode: ReadOnly }
    - { name: count, type: INT, accessMode: ReadOnly }
`];
  for (let i = 0; i < DEVICES; i++) {
    docs.push(`apiVersion: devices.kubeedge.io/v1beta1
kind: Device
metadata: { name: sensor-${i} }
spec:
  deviceModelRef: { name: sensor-model }
  protocol: { protocolName: virtual }
  properties:
    - { name: temperature, collectCycle: 50, visitors: { protocolName: virtual, configData: { function: ramp, min: 0, max: 100, period: 700 } } }
    - { name: count, collectCycle: 50, visitors: { protocolName: virtual, configData: { function: step, min: 0, max: 1000000, step: 1, period: 50 } } }
`);
  }
  const file = join(dir, 'fleet.yaml');
  writeFileSync(file, docs.join('---\n'));
  return file;
}

interface Line { level: number; msg: string; device?: string; property?: string; state?: string; reads?: Record<string, number>; devices?: Record<string, number> }

describe('log volume at the default level', () => {
  it('no line per reading; one line per device state change; a summary with reads per protocol', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'edgetwin-logvol-'));
    const config = join(dir, 'gateway.yaml');
    writeFileSync(config, 'log:\n  summaryIntervalMs: 300\n');
    // No EDGETWIN_LOG_LEVEL: the default level is what is tested.
    const gw = await startGatewayProcess({ devices: [fleet(dir)], extra: ['--config', config], env: { EDGETWIN_LOG_LEVEL: '' } });
    const lines = (): Line[] => gw.log().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Line);
    try {
      // Two summaries that saw every device online and reads flowing: seconds of fast polling.
      await waitFor('two summaries with every device online and reads counted', () => {
        const full = lines().filter((l) => l.msg === 'summary' && l.devices?.online === DEVICES && (l.reads?.virtual ?? 0) > 0);
        return full.length >= 2 || undefined;
      }, 60_000, 50);
    } finally {
      await gw.stop();
    }
    const all = lines();
    assert.ok(all.every((l) => l.level >= 30), 'nothing below info at the default level');
    assert.deepEqual(all.filter((l) => l.msg === 'reported'), [], 'no line per reported value');
    const perProperty = all.filter((l) => l.property !== undefined);
    assert.deepEqual(perProperty, [], 'no line names a property: none was set or reconciled');
    const online = all.filter((l) => l.msg === 'twin: device state changed' && l.state === 'online');
    assert.equal(online.length, DEVICES, 'one line per device going online');
    assert.equal(new Set(online.map((l) => l.device)).size, DEVICES);
    const summaries = all.filter((l) => l.msg === 'summary');
    const reads = summaries.reduce((n, l) => n + (l.reads?.total ?? 0), 0);
    assert.ok(reads > all.length, `the log (${all.length} lines) is smaller than the reads it summarises (${reads})`);
  });
});
