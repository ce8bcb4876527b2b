// The bench's Modbus TCP simulator: socket level, one process per group of endpoints, answers
// built once per distinct request and then only stamped with the transaction id, so it serves far
// more requests than a client under test asks (the bench checks that before trusting a number).
//   node --import tsx bench/modbus/simulator.ts <port> [<port>...]     (IPC: {count} -> {count}; {moving} -> {moving}; {clocked} -> {clocked})

import { createServer, type Socket } from 'node:net';
import { fillClocked } from './clocked.ts';
import { bitAt, wordAt } from './map.ts';

let served = 0;
const answers = new Map<string, Buffer>();
/**
 * Moving mode: every register and bit of an answer changes from one serve of a request to the
 * next, so a client must decode and report every value of every poll. A register changes in bit 0
 * of each byte only, so a float stays finite and a string stays ASCII.
 */
let moving = false;
const serves = new Map<string, number>();
/**
 * Clocked mode (clocked.ts): holding registers hold, per device, the clock and counter of its last
 * change and values that follow the counter; each read of a device's block changes it first.
 */
let clocked = false;
const counters = new Map<string, number>();

function clockedAnswer(port: number, unit: number, address: number, count: number): Buffer {
  const key = `${port}:${unit}`;
  const counter = ((counters.get(key) ?? 0) + 1) >>> 0;
  counters.set(key, counter);
  const pdu = Buffer.alloc(2 + count * 2);
  pdu[0] = 3;
  pdu[1] = count * 2;
  fillClocked(pdu, 2, unit, address, count, counter, Date.now() >>> 0);
  return frame(unit, pdu);
}

function build(unit: number, pdu: Buffer): Buffer {
  const fc = pdu[0]!;
  const address = pdu.readUInt16BE(1);
  const count = pdu.readUInt16BE(3);
  let body: Buffer;
  if (fc === 1 || fc === 2) {
    body = Buffer.alloc(2 + Math.ceil(count / 8));
    body[1] = body.length - 2;
    for (let i = 0; i < count; i++) if (bitAt(unit, fc, address + i)) body[2 + (i >> 3)]! |= 1 << (i & 7);
  } else if (fc === 3 || fc === 4) {
    body = Buffer.alloc(2 + count * 2);
    body[1] = count * 2;
    for (let i = 0; i < count; i++) body.writeUInt16BE(wordAt(unit, fc, address + i), 2 + i * 2);
  } else {
    body = Buffer.alloc(2);
    body[0] = fc | 0x80;
    body[1] = 1;
    return frame(unit, body);
  }
  body[0] = fc;
  return frame(unit, body);
}

function frame(unit: number, pdu: Buffer): Buffer {
  const out = Buffer.alloc(7 + pdu.length);
  out.writeUInt16BE(pdu.length + 1, 4);
  out[6] = unit;
  pdu.copy(out, 7);
  return out;
}

function serve(socket: Socket, port: number): void {
  socket.setNoDelay(true);
  socket.on('error', () => undefined);
  let pending: Buffer | undefined;
  socket.on('data', (chunk: Buffer) => {
    let buf = pending ? Buffer.concat([pending, chunk]) : chunk;
    const out: Buffer[] = [];
    while (buf.length >= 7) {
      const len = buf.readUInt16BE(4);
      if (buf.length < 6 + len) break;
      if (clocked && len === 6 && buf[7] === 3) {
        const reply = clockedAnswer(port, buf[6]!, buf.readUInt16BE(8), buf.readUInt16BE(10));
        reply[0] = buf[0]!;
        reply[1] = buf[1]!;
        out.push(reply);
        served++;
        buf = buf.subarray(6 + len);
        continue;
      }
      const key = buf.toString('latin1', 6, 6 + len);
      let answer = answers.get(key);
      if (!answer) {
        answer = build(buf[6]!, buf.subarray(7, 6 + len));
        answers.set(key, answer);
      }
      const reply = Buffer.from(answer);
      reply[0] = buf[0]!;
      reply[1] = buf[1]!;
      if (moving && (reply[7]! & 0x80) === 0) {
        const n = (serves.get(key) ?? 0) + 1;
        serves.set(key, n);
        // Data bytes start after the MBAP header, the function code and the byte count; coils and
        // discrete inputs flip every bit, registers bit 0 of every byte.
        const mask = reply[7]! <= 2 ? 0xff : 1;
        if (n & 1) for (let i = 9; i < reply.length; i++) reply[i]! ^= mask;
      }
      out.push(reply);
      served++;
      buf = buf.subarray(6 + len);
    }
    pending = buf.length ? Buffer.from(buf) : undefined;
    if (out.length) socket.write(out.length === 1 ? out[0]! : Buffer.concat(out));
  });
}

const ports = process.argv.slice(2).map(Number);
let listening = 0;
for (const port of ports) {
  createServer((socket) => serve(socket, port)).listen(port, '127.0.0.1', () => {
    if (++listening === ports.length) process.send?.({ ready: true });
  });
}
process.on('message', (m: { count?: boolean; moving?: boolean; clocked?: boolean }) => {
  if (m.count) process.send?.({ count: served });
  if (m.moving !== undefined) {
    moving = m.moving;
    serves.clear();
    process.send?.({ moving });
  }
  if (m.clocked !== undefined) {
    clocked = m.clocked;
    counters.clear();
    process.send?.({ clocked });
  }
});
process.on('disconnect', () => process.exit(0));
