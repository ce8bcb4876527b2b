// The cloud's --config file: the `devices:` section reaches the DeviceController's settings, and
// every mistake names the file and the key.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { tempDir } from '../twin/testing.ts';
import { loadCloudConfig } from './cloud-command.ts';

describe('cloud config file', () => {
  const dir = tempDir('edgetwin-cloud-config-');
  after(() => dir.remove());
  const file = (name: string, text: string) => {
    const p = join(dir.dir, name);
    writeFileSync(p, text);
    return p;
  };

  it('devices.statusWriter and devices.sync', () => {
    const c = loadCloudConfig(file('ok.yaml', 'cloudhub:\n  nodeLimit: 10\ndevices:\n  statusWriter:\n    perDeviceInterval: 2s\n    budget: 20\n  sync: 1m\n'));
    assert.deepEqual(c.controllers, { devices: { syncMs: 60_000, statusWriter: { perDeviceIntervalMs: 2000, budgetPerSecond: 20 } } });
    assert.equal(c.settings.nodeLimit, 10);
    assert.equal(loadCloudConfig(file('none.yaml', 'cloudhub: {}\n')).controllers, undefined);
  });

  it('mistakes name the file and the key', () => {
    const bad = (text: string, re: RegExp) => assert.throws(() => loadCloudConfig(file('bad.yaml', text)), (e: Error) => re.test(e.message) && e.message.includes('bad.yaml'));
    bad('devices:\n  statusWriter:\n    budget: 0\n', /devices\.statusWriter\.budget must be a whole number/);
    bad('devices:\n  statusWriter:\n    perDeviceInterval: soon\n', /devices\.statusWriter\.perDeviceInterval/);
    bad('devices:\n  budget: 5\n', /devices\.budget is not a setting/);
    bad('device:\n  sync: 1s\n', /device is not a section; the sections are cloudhub and devices/);
  });
});
