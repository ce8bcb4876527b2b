// A virtual oven for gateway tests that need a device moving fast (ticks every 50 ms) and one that
// takes desired values (setpoint, 0..1000): the storage and broker-outage tests share it.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const OVEN = 'default/oven';

const OVEN_YAML = `apiVersion: devices.kubeedge.io/v1beta1
kind: DeviceModel
metadata: { name: oven-model, namespace: default }
spec:
  properties:
    - { name: ticks, type: INT, accessMode: ReadOnly }
    - { name: setpoint, type: INT, accessMode: ReadWrite, minimum: "0", maximum: "1000" }
---
apiVersion: devices.kubeedge.io/v1beta1
kind: Device
metadata: { name: oven, namespace: default }
spec:
  deviceModelRef: { name: oven-model }
  protocol: { protocolName: virtual }
  properties:
    - name: ticks
      collectCycle: 50
      visitors: { protocolName: virtual, configData: { function: step, value: 0, min: 0, max: 1000000000, step: 1, period: 50 } }
    - name: setpoint
      collectCycle: 200
      visitors: { protocolName: virtual, configData: { function: constant, value: 0 } }
`;

/** Writes the oven's DeviceModel and Device into `dir` and returns the file's path. */
export function writeOven(dir: string): string {
  const file = join(dir, 'oven.yaml');
  writeFileSync(file, OVEN_YAML);
  return file;
}
