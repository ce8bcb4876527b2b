import { runConformance } from '../sdk/conformance/kit.ts';
import { virtualLoader } from './index.ts';
import { virtualSimulator } from './simulator.ts';

runConformance({
  driver: virtualLoader,
  simulator: virtualSimulator(),
  badConfigs: [
    { name: 'unknown function', visitor: { property: 'temperature', configData: { function: 'triangle' } }, field: 'function' },
    { name: 'min above max', visitor: { property: 'temperature', configData: { function: 'sine', min: 10, max: 5 } }, field: 'max' },
    { name: 'error rate above 1', protocol: { faults: { errorRate: 2 } }, field: 'faults.errorRate' },
    { name: 'unknown protocol field', protocol: { sead: 1 }, field: 'sead' },
  ],
});
