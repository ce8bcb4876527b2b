// A socket-level Modbus TCP server whose answers a test scripts per address: values, exception
// codes, silence, malformed frames. It logs every request so a test can see what was asked.

import { createServer, type Server, type Socket } from 'node:net';
import { freePort } from '../../../core/testing.ts';

export type Answer =
  | { value: number }
  | { exception: number }
  | { silent: true }
  | { short: true };

export class ScriptedServer {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  /** Every read request: function code, address, count. */
  readonly log: { fc: number; address: number; count: number; unit: number }[] = [];
  port = 0;
  /** Answer each request after this many ms (by its first address), so answers can overtake each other. */
  delay?: (address: number) => number;
  /** Requests received and not yet answered, now and at most. */
  outstanding = 0;
  /** Connections accepted so far. */
  connections = 0;
  maxOutstanding = 0;

  /** `script(unit, address)` answers a register read; a range answers its first non-value entry, else the values. */
  constructor(readonly script: (unit: number, address: number) => Answer | undefined) {
    this.#server = createServer((socket) => {
      this.connections++;
      this.#sockets.add(socket);
      socket.on('close', () => this.#sockets.delete(socket));
      socket.on('error', () => undefined);
      let buf = Buffer.alloc(0);
      socket.on('data', (chunk: Buffer) => {
        buf = Buffer.concat([buf, chunk]);
        while (buf.length >= 7 && buf.length >= 6 + buf.readUInt16BE(4)) {
          const frame = buf.subarray(0, 6 + buf.readUInt16BE(4));
          buf = buf.subarray(frame.length);
          this.#answer(socket, frame);
        }
      });
    });
  }

  #answer(socket: Socket, frame: Buffer): void {
    const unit = frame[6]!;
    const fc = frame[7]!;
    const address = frame.readUInt16BE(8);
    const count = frame.readUInt16BE(10);
    this.log.push({ fc, address, count, unit });
    this.outstanding++;
    this.maxOutstanding = Math.max(this.maxOutstanding, this.outstanding);
    const wait = this.delay?.(address) ?? 0;
    const reply = (pdu: Buffer): void => void setTimeout(() => {
      this.outstanding--;
      if (socket.destroyed) return;
      const head = Buffer.alloc(7);
      frame.copy(head, 0, 0, 4);
      head.writeUInt16BE(pdu.length + 1, 4);
      head[6] = unit;
      socket.write(Buffer.concat([head, pdu]));
    }, wait);
    const values: number[] = [];
    for (let a = address; a < address + count; a++) {
      const answer = this.script(unit, a) ?? { exception: 2 };
      if ('silent' in answer) { this.outstanding--; return; }
      if ('exception' in answer) return reply(Buffer.from([fc | 0x80, answer.exception]));
      if ('short' in answer) return reply(Buffer.from([fc, count * 2 + 2, 0, 1]));
      values.push(answer.value);
    }
    const pdu = Buffer.alloc(2 + count * 2);
    pdu[0] = fc;
    pdu[1] = count * 2;
    values.forEach((v, i) => pdu.writeUInt16BE(v, 2 + i * 2));
    reply(pdu);
  }

  async listen(): Promise<number> {
    const port = await freePort();
    await new Promise<void>((resolve) => this.#server.listen(port, '127.0.0.1', () => resolve()));
    this.port = (this.#server.address() as { port: number }).port;
    return this.port;
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
