// `edgetwin ble scan` and `edgetwin ble onboard` through the real CLI: against the simulated world,
// the proposal `edgetwin validate` accepts, and the one-line error on a machine with no adapter.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { cli, ROOT } from './helpers/gateway-process.ts';

const sim = ['--ble-binding', `sim:${join(ROOT, 'examples', 'ble-sensors', 'world.yaml')}`];
const hasAdapter = existsSync('/sys/class/bluetooth') && readdirSync('/sys/class/bluetooth').length > 0;

describe('edgetwin ble', () => {
  it('scan lists address, name, RSSI, services and manufacturer data, and filters', async () => {
    const all = await cli(['ble', 'scan', '--seconds', '1', ...sim]);
    assert.equal(all.code, 0, all.stderr);
    assert.match(all.stdout, /ADDRESS\s+NAME\s+RSSI\s+SERVICES\s+MANUFACTURER DATA/);
    assert.match(all.stdout, /C4:7C:8D:6A:11:01\s+EnvSensor-01\s+-58\s+181a 180f/);
    assert.match(all.stdout, /E2:15:3A:00:33:03\s+Beacon-03\s+-77\s+99040511/);
    assert.match(all.stdout, /3 device\(s\) in 1 s/);

    const byName = await cli(['ble', 'scan', '--seconds', '1', '--name', 'door', '--json', ...sim]);
    assert.deepEqual((JSON.parse(byName.stdout) as { name: string }[]).map((r) => r.name), ['DoorSensor-02']);
    const byService = await cli(['ble', 'scan', '--seconds', '1', '--service', '0x181A', '--json', ...sim]);
    assert.deepEqual((JSON.parse(byService.stdout) as { address: string }[]).map((r) => r.address), ['c4:7c:8d:6a:11:01']);
  });

  it('onboard reads the well-known characteristics and proposes YAML that validates', async () => {
    const r = await cli(['ble', 'onboard', 'C4:7C:8D:6A:11:01', ...sim]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /2a6e \[read, notify\] Temperature = 21\.5/);
    assert.match(r.stderr, /2a19 \[read, notify\] Battery Level = 87/);
    assert.match(r.stderr, /2a24 \[read\] Model Number String = ENV-3/);
    assert.match(r.stdout, /kind: DeviceModel/);
    assert.match(r.stdout, /macAddress: C4:7C:8D:6A:11:01/);
    assert.match(r.stdout, /characteristicUUID: 2a6e\n\s+mode: notify/);
    const file = join(mkdtempSync(join(tmpdir(), 'edgetwin-ble-')), 'proposal.yaml');
    writeFileSync(file, r.stdout);
    const v = await cli(['validate', file]);
    assert.equal(v.code, 0, v.stderr);
    assert.match(v.stdout, /1 device\(s\) valid, 1 model\(s\), 0 error\(s\)/);

    const beacon = await cli(['ble', 'onboard', 'E2:15:3A:00:33:03', ...sim]);
    assert.equal(beacon.code, 0, beacon.stderr);
    assert.match(beacon.stdout, /does not accept connections, so its values come from its advertisements/);
    assert.match(beacon.stdout, /source: manufacturerData\n\s+companyId: 1177/);
    const beaconFile = join(dirname(file), 'beacon.yaml');
    writeFileSync(beaconFile, beacon.stdout);
    assert.equal((await cli(['validate', beaconFile])).code, 0);

    const unknown = await cli(['ble', 'onboard', '00:11:22:33:44:55', '--timeout', '300', ...sim]);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /^error: 00:11:22:33:44:55 did not advertise within 300 ms/);
  });

  it('run refuses a --ble-binding it cannot use, before starting anything', async () => {
    const r = await cli(['run', '--devices', join(ROOT, 'examples', 'ble-sensors', 'devices'), '--ble-binding', 'sim:/nonexistent/world.yaml']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^edgetwin: cannot read the simulated BLE world \/nonexistent\/world.yaml.*\(--ble-binding\)\n  hint: /);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  });

  it('scan with no Bluetooth adapter exits 1 with one line naming it, no stack trace', { skip: hasAdapter ? 'this machine has a Bluetooth adapter' : false }, async () => {
    const r = await cli(['ble', 'scan', '--seconds', '1']);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^error: no Bluetooth adapter: hci0 is not present or does not support Bluetooth Low Energy/);
    assert.equal(r.stderr.trim().split('\n').length, 1, `one line, got: ${r.stderr}`);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  });
});
