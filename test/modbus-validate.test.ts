// `edgetwin validate` on Modbus YAML: each bad combination is refused with file:line, the device,
// the property and the field, so a user can fix it without reading code.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli } from './helpers/gateway-process.ts';

const YAML = `apiVersion: devices.kubeedge.io/v1beta1
kind: DeviceModel
metadata: { name: m, namespace: default }
spec:
  protocol: modbus
  properties:
    - { name: volts, type: FLOAT, accessMode: ReadOnly }
    - { name: alarm, type: BOOLEAN, accessMode: ReadOnly }
    - { name: flow, type: INT, accessMode: ReadWrite }
    - { name: speed, type: INT, accessMode: ReadWrite }
---
apiVersion: devices.kubeedge.io/v1beta1
kind: Device
metadata: { name: meter, namespace: default }
spec:
  deviceModelRef: { name: m }
  protocol:
    protocolName: modbus
    configData: { ip: 10.0.0.5, port: "502", slaveID: 1, communicateMode: TCP }
  properties:
    - name: volts
      visitors: { protocolName: modbus, configData: { register: HoldingRegister, offset: 0, dataType: float32, limit: 1 } }
    - name: alarm
      visitors: { protocolName: modbus, configData: { register: CoilRegister, offset: 0, dataType: bit, bitIndex: 3 } }
    - name: flow
      visitors: { protocolName: modbus, configData: { register: HoldingRegister, offset: 4, dataType: int32, order: CDAB, isRegisterSwap: true } }
    - name: speed
      desired: { value: "1200" }
      visitors: { protocolName: modbus, configData: { register: InputRegister, offset: 9 } }
`;

test('edgetwin validate names file:line, device, property and field for each bad Modbus combination', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'edgetwin-modbus-validate-'));
  const file = join(dir, 'meter.yaml');
  writeFileSync(file, YAML);
  const r = await cli(['validate', file]);
  assert.equal(r.code, 1);
  const out = r.stdout + r.stderr;
  for (const [line, index, property, field, why] of [
    // The line of the visitor that holds the field (the property's name is the line above).
    [22, 0, 'volts', 'limit', /limit 1 does not fit dataType float32/],
    [24, 1, 'alarm', 'bitIndex', /bitIndex applies to registers/],
    [26, 2, 'flow', 'order', /order cannot be combined with isSwap\/isRegisterSwap/],
    [29, 3, 'speed', 'register', /desired value is set but an InputRegister cannot be written/],
  ] as const) {
    const entry = out.split('\n').find((l) => l.includes(`property ${property}:`));
    assert.ok(entry, `an error for ${property}: ${out}`);
    assert.ok(entry.includes(`${file}:${line}: default/meter property ${property}: spec.properties[${index}].visitors.configData.${field}`), entry);
    assert.match(entry, why);
  }
});
