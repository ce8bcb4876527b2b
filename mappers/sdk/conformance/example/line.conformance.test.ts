import { runConformance } from '../kit.ts';
import { lineDriver } from './line-driver.ts';
import { lineSimulator } from './line-simulator.ts';

runConformance({
  driver: { name: 'line', load: async () => lineDriver },
  simulator: lineSimulator(),
  badConfigs: [
    { name: 'missing port', protocol: { host: '127.0.0.1' }, field: 'port' },
    { name: 'port out of range', protocol: { host: '127.0.0.1', port: 70000 }, field: 'port' },
    { name: 'key with a space', visitor: { property: 'temperature', configData: { key: 'a b' } }, field: 'key' },
  ],
});
