// Runs the two simulated instruments, each behind its own socat pty pair, until Ctrl-C:
//   <dir>/scale  a weighing scale streaming its weight
//   <dir>/meter  a SCPI-style meter answering queries
// The gateway opens those paths; the instruments hold the other ends.

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { PtyPair } from './pty.ts';
import { Scale, ScpiMeter } from './instruments.ts';

const { values } = parseArgs({ options: { dir: { type: 'string', default: '/tmp/edgetwin-serial' }, period: { type: 'string', default: '200' } } });
const dir = values.dir!;
mkdirSync(dir, { recursive: true });

const scalePty = new PtyPair(join(dir, 'scale'), join(dir, '.scale-instrument'));
const meterPty = new PtyPair(join(dir, 'meter'), join(dir, '.meter-instrument'));
const scale = new Scale();
const meter = new ScpiMeter();
await scalePty.start();
await meterPty.start();
await scale.start(scalePty.instrument, Number(values.period));
await meter.start(meterPty.instrument);

// The load on the scale drifts and settles, so the twin shows it move.
let t = 0;
const drift = setInterval(() => {
  t++;
  scale.stable = t % 10 >= 3;
  scale.weight = Math.round((12.345 + (scale.stable ? 0 : Math.sin(t) * 0.2)) * 1000) / 1000;
  meter.volts = Math.round((12.5 + Math.sin(t / 3) * 0.05) * 10000) / 10000;
}, 1000);

console.log(`scale on ${scalePty.gateway}, meter on ${meterPty.gateway} (Ctrl-C to stop)`);

const stop = async () => {
  clearInterval(drift);
  await scale.stop();
  await meter.stop();
  await scalePty.stop();
  await meterPty.stop();
  process.exit(0);
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
