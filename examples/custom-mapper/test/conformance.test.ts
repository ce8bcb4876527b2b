// The edgetwin conformance kit: the tests every driver and its simulator must pass, run through
// the same runtime the gateway uses. Properties use the twin's lower-case types (double, int,
// string, boolean); `failing` names a property whose reads the simulator makes fail.
import { runConformance } from 'edgetwin/sdk/testing';
import lineLoader from '../src/index.js';
import { InstrumentSimulator } from '../src/simulator.js';

const simulator = new InstrumentSimulator();

runConformance({
  driver: lineLoader,
  simulator: {
    async start() {
      const port = await simulator.start();
      return {
        protocol: { host: '127.0.0.1', port },
        properties: [
          { name: 'temperature', type: 'double', accessMode: 'ReadOnly', visitor: { key: 'temp' }, expect: 23.5 },
          { name: 'setpoint', type: 'double', accessMode: 'ReadWrite', visitor: { key: 'setpoint' }, write: 25 },
        ],
        failing: { name: 'probe', type: 'double', visitor: { key: 'broken' } },
      };
    },
    stop: () => simulator.stop(),
    restart: () => simulator.restart(),
  },
  badConfigs: [
    { name: 'missing port', protocol: { host: '127.0.0.1' }, field: 'port' },
    { name: 'port out of range', protocol: { host: '127.0.0.1', port: 70000 }, field: 'port' },
    { name: 'key with a space', visitor: { property: 'temperature', configData: { key: 'a b' } }, field: 'key' },
  ],
});
