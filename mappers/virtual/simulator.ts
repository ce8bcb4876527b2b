// The virtual driver's simulator for the conformance kit: an in-process switch stands in for the
// cable, so "restart" is a real outage the runtime has to notice and recover from.

import type { ConformanceSimulator, SimulatedDevice } from '../sdk/conformance/kit.ts';
import { virtualSwitch } from './switch.ts';

export function virtualSimulator(switchName = `conformance-${process.pid}`): ConformanceSimulator {
  const sw = virtualSwitch(switchName);
  const device: SimulatedDevice = {
    protocol: { seed: 7, switch: switchName },
    properties: [
      { name: 'temperature', type: 'double', visitor: { function: 'sine', min: 18, max: 24, period: 60_000 } },
      { name: 'count', type: 'int', visitor: { function: 'constant', value: 42 }, expect: 42 },
      { name: 'label', type: 'string', visitor: { function: 'constant', value: 'line-1' }, expect: 'line-1' },
      { name: 'running', type: 'boolean', visitor: { function: 'constant', value: true }, expect: true },
      { name: 'ratio', type: 'float', visitor: { function: 'constant', value: 20, scale: 0.1 }, expect: 2 },
      { name: 'setpoint', type: 'double', accessMode: 'ReadWrite', visitor: { function: 'constant', value: 21 }, write: 22.5 },
      { name: 'enabled', type: 'boolean', accessMode: 'ReadWrite', visitor: { function: 'constant', value: false }, write: true },
      { name: 'mode', type: 'string', accessMode: 'ReadWrite', visitor: { function: 'constant', value: 'auto' }, write: 'manual' },
    ],
    failing: { name: 'broken', type: 'int', visitor: { function: 'ramp', errorRate: 1 } },
  };
  return {
    async start() {
      sw.restore();
      return device;
    },
    async stop() {
      sw.cut();
    },
    async restart() {
      sw.cut();
      // Stay down for a moment so the runtime sees a refused reconnect, as after a power cycle.
      await new Promise((resolve) => setTimeout(resolve, 100));
      sw.restore();
    },
  };
}
