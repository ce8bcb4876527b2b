// Child process for the kill -9 test: streams readings into a twin and, after each commit
// (the twin's 'reported' change), prints the value it just acknowledged. The parent kills it
// mid-stream and checks that every acknowledged value is in the store.
import { silentLogger } from '../core/log.ts';
import { TwinStore } from './store.ts';
import { device, property } from './testing.ts';
import { DeviceTwin } from './twin.ts';

const dir = process.argv[2]!;
const store = TwinStore.open(dir);
const twin = new DeviceTwin({ store, log: silentLogger, nodeName: 'crash' });
twin.setDevices([device('counter', [property('n', { accessMode: 'ReadOnly' })])]);
let n = 0;
twin.on('change', (c) => {
  if (c.kind === 'reported') process.stdout.write(`ack ${c.updates[0]!.text}\n`);
});
setInterval(() => {
  for (let i = 0; i < 50; i++) twin.report([{ device: 'default/counter', property: 'n', value: ++n, time: Date.now(), quality: 'good' }]);
}, 2);
