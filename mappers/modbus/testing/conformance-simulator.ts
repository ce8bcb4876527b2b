// The conformance kit's peer: modbus-serial's ServerTCP on a fixed port across restarts, holding
// a small PLC's registers.

import type { ConformanceSimulator, SimulatedDevice } from '../../sdk/testing.ts';
import { startModbusSerialServer } from './peers.ts';
import type { RegisterImage } from './fixture.ts';

export function modbusSimulator(): ConformanceSimulator {
  // Holding 0: 235 (23.5 at scale 0.1); 1: a counter; 2-5: "PLC-01"; 10-11: a float32 setpoint.
  const image: RegisterImage = { 1: { hr: { 0: 235, 1: 42, 2: 0x504c, 3: 0x432d, 4: 0x3031, 5: 0, 10: 0x41a0, 11: 0 }, co: { 0: 1 }, ir: {}, di: {} } };
  let server: Awaited<ReturnType<typeof startModbusSerialServer>> | undefined;
  let port: number | undefined;
  return {
    async start(): Promise<SimulatedDevice> {
      server = await startModbusSerialServer(image, port);
      port = server.port;
      return {
        protocol: { ip: '127.0.0.1', port: String(port), slaveID: 1, communicateMode: 'TCP', timeout: 500 },
        properties: [
          { name: 'temperature', type: 'float', visitor: { register: 'HoldingRegister', offset: 0, limit: 1, dataType: 'float', scale: 0.1 }, expect: 23.5 },
          { name: 'count', type: 'int', visitor: { register: 'HoldingRegister', offset: 1, limit: 1, dataType: 'int' }, expect: 42 },
          { name: 'label', type: 'string', visitor: { register: 'HoldingRegister', offset: 2, limit: 4, dataType: 'string' }, expect: 'PLC-01' },
          { name: 'running', type: 'boolean', visitor: { register: 'CoilRegister', offset: 0, limit: 1, dataType: 'boolean' }, expect: true },
          { name: 'setpoint', type: 'float', accessMode: 'ReadWrite', visitor: { register: 'HoldingRegister', offset: 10, dataType: 'float32' }, expect: 20, write: 22.5 },
        ],
        failing: { name: 'unmapped', type: 'int', visitor: { register: 'HoldingRegister', offset: 500, limit: 1, dataType: 'int' } },
      };
    },
    async stop() {
      await server?.stop();
      server = undefined;
    },
    async restart() {
      await server?.stop();
      server = await startModbusSerialServer(image, port);
    },
  };
}
