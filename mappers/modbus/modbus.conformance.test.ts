import { runConformance } from '../sdk/testing.ts';
import { modbusLoader } from './index.ts';
import { modbusSimulator } from './testing/conformance-simulator.ts';

runConformance({
  driver: modbusLoader,
  simulator: modbusSimulator(),
  badConfigs: [
    { name: 'TCP without ip', protocol: { communicateMode: 'TCP', port: 502 }, field: 'ip' },
    { name: 'unknown communicateMode', protocol: { ip: '127.0.0.1', communicateMode: 'UDP' }, field: 'communicateMode' },
    { name: 'slaveID out of range', protocol: { ip: '127.0.0.1', slaveID: 256 }, field: 'slaveID' },
    { name: 'limit that does not fit float32', visitor: { property: 'setpoint', configData: { register: 'HoldingRegister', offset: 10, dataType: 'float32', limit: 4 } }, field: 'limit' },
    { name: 'bitIndex on a coil', visitor: { property: 'running', configData: { register: 'CoilRegister', offset: 0, dataType: 'bit', bitIndex: 1 } }, field: 'bitIndex' },
    { name: 'order with isSwap', visitor: { property: 'count', configData: { register: 'HoldingRegister', offset: 1, dataType: 'int32', order: 'BADC', isSwap: true } }, field: 'order' },
    { name: 'unknown register table', visitor: { property: 'count', configData: { register: 'Holding', offset: 1 } }, field: 'register' },
  ],
});
