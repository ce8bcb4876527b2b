// The simulator alone: a bare socket client keeps many requests in flight on every endpoint (the
// same request mix as variant a), so the bench knows how many requests per second the simulator
// can serve before it trusts any client's number.

import { connect, type Socket } from 'node:net';
import { limitsOf, planReads, type Span } from '../../mappers/modbus/plan.ts';
import type { ModbusVisitor } from '../../mappers/modbus/config.ts';
import type { PropertyBinding } from '../../mappers/sdk/index.ts';
import { devices } from './map.ts';

const args = JSON.parse(process.argv[2]!) as { ports: number[]; seconds: number; inFlight: number };
const FC: Record<string, number> = { CoilRegister: 1, DiscreteInputRegister: 2, HoldingRegister: 3, InputRegister: 4 };

function frames(port: number, index: number): Buffer[] {
  return devices([port], {}, 1).flatMap((d) => planReads(d.properties.map((p) => ({ name: p.name, spec: p, visitor: p.visitor })) as unknown as PropertyBinding<ModbusVisitor>[], limitsOf({})).map((r) => {
    const s = r.detail as Span;
    const f = Buffer.alloc(12);
    f.writeUInt16BE(6, 4);
    f[6] = d.protocolConfig.slaveID as number;
    f[7] = FC[s.table]!;
    f.writeUInt16BE(s.address, 8);
    f.writeUInt16BE(s.count, 10);
    return f;
  })).map((f, i) => { f.writeUInt16BE((i + index) & 0xffff, 0); return f; });
}

let answered = 0;
let running = true;
const sockets: Socket[] = [];
await Promise.all(args.ports.map((port, i) => new Promise<void>((resolve) => {
  const list = frames(port, i);
  let next = 0;
  const s = connect(port, '127.0.0.1', () => {
    s.setNoDelay(true);
    const batch: Buffer[] = [];
    for (let k = 0; k < args.inFlight; k++) batch.push(list[next++ % list.length]!);
    s.write(Buffer.concat(batch));
    resolve();
  });
  sockets.push(s);
  let pending: Buffer | undefined;
  s.on('data', (chunk: Buffer) => {
    let buf = pending ? Buffer.concat([pending, chunk]) : chunk;
    const out: Buffer[] = [];
    while (buf.length >= 6 && buf.length >= 6 + buf.readUInt16BE(4)) {
      buf = buf.subarray(6 + buf.readUInt16BE(4));
      answered++;
      if (running) out.push(list[next++ % list.length]!);
    }
    pending = buf.length ? Buffer.from(buf) : undefined;
    if (out.length) s.write(Buffer.concat(out));
  });
  s.on('error', () => undefined);
})));

await new Promise((r) => setTimeout(r, 1000));
const before = answered;
const t0 = performance.now();
process.send!({ phase: 'start' });
await new Promise((r) => setTimeout(r, args.seconds * 1000));
const requests = answered - before;
const seconds = (performance.now() - t0) / 1000;
running = false;
for (const s of sockets) s.destroy();
process.send!({ phase: 'end', requests, seconds }, () => process.exit(0));
