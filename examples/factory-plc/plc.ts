// A simulated PLC speaking Modbus TCP, for the factory-plc example: a tank whose level follows
// its fill valve, a temperature that drifts, a motor, a part counter and a writable setpoint.
//   node --import tsx examples/factory-plc/plc.ts [--port 5020]
// Unit id 1. Holding registers 0.. and coils are writable; unmapped addresses answer exception 02.

import { createServer, type Socket } from 'node:net';

const args = process.argv.slice(2);
const port = Number(args[args.indexOf('--port') + 1] || 5020) || 5020;

// Holding: 0 setpoint (degC x10), 1-2 level (float32, word-swapped CDAB), 3-4 parts (uint32),
// 5-8 name ("PLC-FACTORY-1" is cut to 8 bytes: "PLC-FAC1"). Input: 0 temperature (degC x10),
// 1 pressure (int16, mbar). Coils: 0 motor, 1 fill valve. Discrete inputs: 0 high-level alarm.
const holding = new Uint16Array(16);
const input = new Uint16Array(4);
const coils = new Uint8Array(4);
const discrete = new Uint8Array(4);
const MAPPED = { holding: 9, input: 2, coils: 2, discrete: 1 };

holding[0] = 650;
Buffer.from('PLC-FAC1', 'latin1').forEach((b, i) => { holding[5 + (i >> 1)]! |= i % 2 ? b : b << 8; });
coils[0] = 1;
coils[1] = 1;
let level = 40;
let temperature = 21;
let parts = 0;

function setLevel(v: number): void {
  const b = Buffer.alloc(4);
  b.writeFloatBE(v);
  holding[1] = b.readUInt16BE(2);
  holding[2] = b.readUInt16BE(0);
}

setInterval(() => {
  level = Math.max(0, Math.min(100, level + (coils[1] ? 0.7 : -0.5)));
  if (level >= 90) coils[1] = 0;
  if (level <= 20) coils[1] = 1;
  setLevel(Math.round(level * 10) / 10);
  const target = holding[0]! / 10;
  temperature += (target - temperature) * 0.05 + (Math.random() - 0.5) * 0.2;
  input[0] = Math.round(temperature * 10);
  input[1] = 1013 + Math.round((Math.random() - 0.5) * 10);
  if (coils[0]) parts++;
  holding[3] = parts >>> 16;
  holding[4] = parts & 0xffff;
  discrete[0] = level > 85 ? 1 : 0;
}, 250).unref();
setLevel(level);

function answer(pdu: Buffer): Buffer {
  const fc = pdu[0]!;
  const address = pdu.readUInt16BE(1);
  const value = pdu.readUInt16BE(3);
  const fail = (code: number) => Buffer.from([fc | 0x80, code]);
  const bitsRead = (table: Uint8Array, mapped: number) => {
    if (value < 1 || value > 2000 || address + value > mapped) return fail(2);
    const out = Buffer.alloc(2 + Math.ceil(value / 8));
    out[0] = fc;
    out[1] = out.length - 2;
    for (let i = 0; i < value; i++) if (table[address + i]) out[2 + (i >> 3)]! |= 1 << (i & 7);
    return out;
  };
  const wordsRead = (table: Uint16Array, mapped: number) => {
    if (value < 1 || value > 125 || address + value > mapped) return fail(2);
    const out = Buffer.alloc(2 + value * 2);
    out[0] = fc;
    out[1] = value * 2;
    for (let i = 0; i < value; i++) out.writeUInt16BE(table[address + i]!, 2 + i * 2);
    return out;
  };
  switch (fc) {
    case 1: return bitsRead(coils, MAPPED.coils);
    case 2: return bitsRead(discrete, MAPPED.discrete);
    case 3: return wordsRead(holding, MAPPED.holding);
    case 4: return wordsRead(input, MAPPED.input);
    case 5:
      if (address >= MAPPED.coils) return fail(2);
      coils[address] = value === 0xff00 ? 1 : 0;
      return pdu.subarray(0, 5);
    case 6:
      if (address >= MAPPED.holding) return fail(2);
      holding[address] = value;
      return pdu.subarray(0, 5);
    case 16: {
      if (address + value > MAPPED.holding) return fail(2);
      for (let i = 0; i < value; i++) holding[address + i] = pdu.readUInt16BE(6 + i * 2);
      return pdu.subarray(0, 5);
    }
    default: return fail(1);
  }
}

function serve(socket: Socket): void {
  let buf = Buffer.alloc(0);
  socket.setNoDelay(true);
  socket.on('error', () => undefined);
  socket.on('data', (chunk) => {
    buf = Buffer.concat([buf, chunk]);
    while (buf.length >= 7 && buf.length >= 6 + buf.readUInt16BE(4)) {
      const len = buf.readUInt16BE(4);
      const pdu = answer(buf.subarray(7, 6 + len));
      const head = Buffer.from(buf.subarray(0, 7));
      head.writeUInt16BE(pdu.length + 1, 4);
      socket.write(Buffer.concat([head, pdu]));
      buf = buf.subarray(6 + len);
    }
  });
}

createServer(serve).listen(port, '127.0.0.1', () => process.stdout.write(`factory PLC simulator on 127.0.0.1:${port} (unit 1)\n`));
