// The instrument end of the bench: opened through the SDK's serial links, sends frames paced at a
// 115200-baud line's rate or as fast as the pty takes them. Prints "ready", waits for "go" on
// stdin, then prints one JSON line: frames sent and, paced, when each batch went out; exits when
// stdin closes.

import { parseArgs } from 'node:util';
import { once } from 'node:events';
import { LinkRegistry } from '../../mappers/sdk/index.ts';
import { frame, FRAME_BYTES, LINE_BYTES_PER_SECOND, now } from './frames.ts';

const { values } = parseArgs({ options: { path: { type: 'string' }, mode: { type: 'string' }, seconds: { type: 'string' } } });
const seconds = Number(values.seconds);
const links = new LinkRegistry();
const link = await links.acquireSerial({ path: values.path!, baudRate: 115200 }, 'bench');
process.stdout.write('ready\n');
await once(process.stdin, 'data');

let seq = 0;
const batches: [number, number, number][] = [];
const start = now();
if (values.mode === 'paced') {
  const perMs = LINE_BYTES_PER_SECOND / FRAME_BYTES / 1000;
  // Timers cannot fire every 1.7 ms, so every 10 ms the frames due so far go out together.
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const t = now();
      const due = Math.min(Math.floor((t - start) * perMs), Math.floor(seconds * 1000 * perMs));
      if (due > seq) {
        const first = seq;
        const chunk: Buffer[] = [];
        while (seq < due) chunk.push(frame(seq++));
        link.port.write(Buffer.concat(chunk));
        batches.push([first, seq - first, now()]);
      }
      if (t - start >= seconds * 1000) {
        clearInterval(timer);
        resolve();
      }
    }, 10);
  });
} else {
  const block = 200;
  while (now() - start < seconds * 1000) {
    const chunk: Buffer[] = [];
    for (let i = 0; i < block; i++) chunk.push(frame(seq++));
    if (!link.port.write(Buffer.concat(chunk))) await once(link.port, 'drain');
  }
}
await new Promise<void>((resolve) => link.port.write(Buffer.alloc(0), () => resolve()));
const ended = once(process.stdin, 'end');
process.stdout.write(`${JSON.stringify({ sent: seq, batches })}\n`);
await ended;
await links.closeAll();
process.exit(0);
