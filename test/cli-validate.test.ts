// `edgetwin validate`: exit 0 on the quick start; exit 1 listing every error with file:line on a
// folder that mixes good and bad documents.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli } from './helpers/gateway-process.ts';

describe('edgetwin validate', () => {
  it('accepts the quick start', async () => {
    const r = await cli(['validate', 'examples/quickstart']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /2 device\(s\) valid, 2 model\(s\), 0 error\(s\)/);
  });

  it('lists every error with file and line and exits 1', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'edgetwin-validate-'));
    writeFileSync(join(dir, 'model.yaml'), `apiVersion: devices.kubeedge.io/v1beta1
kind: DeviceModel
metadata: { name: pump-model }
spec:
  properties:
    - { name: speed, type: INT, accessMode: ReadWrite, minimum: "0", maximum: "100" }
    - { name: flow, type: FLOAT, accessMode: ReadOnly }
`);
    writeFileSync(join(dir, 'devices.yaml'), `apiVersion: devices.kubeedge.io/v1beta1
kind: Device
metadata: { name: good-pump }
spec:
  deviceModelRef: { name: pump-model }
  protocol: { protocolName: virtual }
  properties:
    - { name: speed, desired: { value: "50" }, visitors: { protocolName: virtual, configData: { function: constant, value: 0 } } }
---
apiVersion: devices.kubeedge.io/v1beta1
kind: Device
metadata: { name: fast-pump }
spec:
  deviceModelRef: { name: pump-model }
  protocol: { protocolName: virtual }
  properties:
    - { name: speed, desired: { value: "150" }, visitors: { protocolName: virtual, configData: { function: constant } } }
---
apiVersion: devices.kubeedge.io/v1beta1
kind: Device
metadata: { name: odd-pump }
spec:
  deviceModelRef: { name: pump-model }
  protocol: { protocolName: virtual }
  properties:
    - { name: flow, visitors: { protocolName: virtual, configData: { function: zigzag } } }
`);
    const r = await cli(['validate', dir]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /devices\.yaml:17: default\/fast-pump property speed: .*150 is above maximum 100/);
    assert.match(r.stderr, /devices\.yaml:\d+: default\/odd-pump property flow: .*function/);
    assert.match(r.stdout, /1 device\(s\) valid, 1 model\(s\), 2 error\(s\)/);
  });
});
