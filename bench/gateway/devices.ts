// bench/gateway's devices: 10 unit ids on each of 10 simulator endpoints, each device the
// simulator's clocked block (bench/modbus/clocked.ts) read as 100 properties in one request.

import { writeFileSync } from 'node:fs';
import { stringify } from 'yaml';
import { CLOCKED_PROPERTIES } from '../modbus/clocked.ts';

export const UNITS_PER_ENDPOINT = 10;
export const NAMESPACE = 'default';

export interface BenchDevice {
  name: string;
  port: number;
  unit: number;
}

export function benchDevices(ports: number[]): BenchDevice[] {
  return ports.flatMap((port, e) => Array.from({ length: UNITS_PER_ENDPOINT }, (_, u) => ({ name: `plc-${e}-${u + 1}`, port, unit: u + 1 })));
}

/** The unit id a device name carries (plc-<endpoint>-<unit>). */
export const unitOf = (name: string): number => Number(name.slice(name.lastIndexOf('-') + 1));

/** One YAML file with the DeviceModel and every Device, as a user would write them for `edgetwin run --devices`. */
export function writeDeviceYaml(file: string, ports: number[], collectCycle: number): void {
  const model = {
    apiVersion: 'devices.kubeedge.io/v1beta1', kind: 'DeviceModel',
    metadata: { name: 'bench-plc-model', namespace: NAMESPACE },
    spec: { protocol: 'modbus', properties: CLOCKED_PROPERTIES.map((p) => ({ name: p.name, type: 'INT', accessMode: 'ReadOnly' })) },
  };
  const docs = benchDevices(ports).map((d) => ({
    apiVersion: 'devices.kubeedge.io/v1beta1', kind: 'Device',
    metadata: { name: d.name, namespace: NAMESPACE },
    spec: {
      deviceModelRef: { name: 'bench-plc-model' },
      protocol: { protocolName: 'modbus', configData: { communicateMode: 'TCP', ip: '127.0.0.1', port: d.port, slaveID: d.unit, timeout: 2000 } },
      properties: CLOCKED_PROPERTIES.map((p) => ({
        name: p.name, collectCycle,
        visitors: { protocolName: 'modbus', configData: { register: 'HoldingRegister', offset: p.address, dataType: p.dataType } },
      })),
    },
  }));
  writeFileSync(file, [model, ...docs].map((d) => stringify(d)).join('---\n'));
}
