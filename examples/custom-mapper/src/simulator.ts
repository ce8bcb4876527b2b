// An in-process line instrument for tests and demos: a TCP server speaking the driver's
// text protocol. It keeps its port across stop()/start() and restart(), as the conformance kit needs.
import { createServer, type Server, type Socket } from 'node:net';

export class InstrumentSimulator {
  /** What the instrument holds. `temp` is read-only, `setpoint` accepts 5 to 30, `broken` always fails. */
  readonly values = new Map<string, string>([['temp', '23.5'], ['setpoint', '20']]);
  #server: Server | undefined;
  #sockets = new Set<Socket>();
  #port: number;

  constructor(port = 0) {
    this.#port = port;
  }

  get port(): number {
    return this.#port;
  }

  async start(): Promise<number> {
    const server = createServer((socket) => this.#serve(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#port, '127.0.0.1', () => { server.off('error', reject); resolve(); });
    });
    this.#server = server;
    this.#port = (server.address() as { port: number }).port;
    return this.#port;
  }

  async stop(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    this.#sockets.clear();
    const server = this.#server;
    this.#server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** A power cycle: every connection drops, and the instrument answers again at the same port. */
  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  #serve(socket: Socket): void {
    this.#sockets.add(socket);
    socket.setEncoding('utf8');
    socket.on('close', () => this.#sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    let buffer = '';
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      for (let i = buffer.indexOf('\n'); i >= 0; i = buffer.indexOf('\n')) {
        socket.write(`${this.#answer(buffer.slice(0, i).trim())}\n`);
        buffer = buffer.slice(i + 1);
      }
    });
  }

  #answer(line: string): string {
    const [verb, key = '', value] = line.split(' ');
    if (key === 'broken') return 'ERR EHW sensor disconnected';
    if (verb === 'GET') return this.values.has(key) ? `OK ${this.values.get(key)}` : `ERR ENOKEY no key ${key}`;
    if (verb !== 'SET' || value === undefined) return `ERR EINVAL cannot parse "${line}"`;
    if (key === 'temp') return 'ERR EREADONLY temp is measured, not set';
    const n = Number(value);
    if (key === 'setpoint' && !(n >= 5 && n <= 30)) return `ERR ERANGE setpoint ${value} is outside 5..30`;
    this.values.set(key, value);
    return 'OK';
  }
}
