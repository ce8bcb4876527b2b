// Peers the Modbus tests start themselves, on 127.0.0.1 and free ports, and stop again:
// modbus-serial's ServerTCP in process, pymodbus (Debian) as a TCP server or an RTU slave in a
// child process, a socat pty pair, and a TCP proxy that can play a pulled cable.

import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RegisterImage, Table } from './fixture.ts';
import { freePort } from '../../../core/testing.ts';

export { freePort };

const HERE = import.meta.dirname;


/** modbus-serial's ServerTCP serving `image`; unmapped addresses answer exception 02. */
export async function startModbusSerialServer(image: RegisterImage, port?: number): Promise<{ port: number; image: RegisterImage; stop(): Promise<void> }> {
  const { default: Modbus } = await import('modbus-serial');
  const at = (table: Table, unit: number, addr: number) => {
    const v = image[unit]?.[table]?.[addr];
    if (v === undefined) throw Object.assign(new Error('illegal address'), { modbusErrorCode: 2 });
    return v;
  };
  const set = (table: Table, unit: number, addr: number, v: number) => {
    if (image[unit]?.[table]?.[addr] === undefined) throw Object.assign(new Error('illegal address'), { modbusErrorCode: 2 });
    image[unit]![table]![addr] = v;
  };
  const vector = {
    getHoldingRegister: (a: number, u: number) => at('hr', u, a),
    getInputRegister: (a: number, u: number) => at('ir', u, a),
    getCoil: (a: number, u: number) => at('co', u, a) === 1,
    getDiscreteInput: (a: number, u: number) => at('di', u, a) === 1,
    setRegister: (a: number, v: number, u: number) => set('hr', u, a, v),
    setCoil: (a: number, v: boolean, u: number) => set('co', u, a, v ? 1 : 0),
  };
  const listenPort = port ?? await freePort();
  const server = new Modbus.ServerTCP(vector, { host: '127.0.0.1', port: listenPort, unitID: 255 });
  await new Promise<void>((resolve, reject) => {
    server.on('initialized', () => resolve());
    server.on('error', reject);
  });
  server.on('socketError', () => undefined);
  return {
    port: listenPort,
    image,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

export interface PymodbusServer {
  child: ChildProcess;
  stop(): Promise<void>;
}

/** pymodbus 3.0 from Debian, as a TCP server (`tcp:<port>`) or an RTU slave (`rtu:<device>:<baud>`). */
export async function startPymodbus(where: { tcp: number } | { rtu: string; baud: number }, image: RegisterImage): Promise<PymodbusServer> {
  const dir = mkdtempSync(join(tmpdir(), 'edgetwin-pymodbus-'));
  const file = join(dir, 'image.json');
  writeFileSync(file, JSON.stringify(image));
  const args = 'tcp' in where ? ['tcp', String(where.tcp), file] : ['rtu', where.rtu, String(where.baud), file];
  // stdin stays open: the server exits when it closes, so a killed test leaves no server behind.
  const child = spawn('/usr/bin/python3', [join(HERE, 'pymodbus_server.py'), ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  };
  try {
    await new Promise<void>((resolve, reject) => {
      child.stdout!.on('data', (d: Buffer) => { if (d.toString().includes('READY')) resolve(); });
      child.once('exit', (code) => reject(new Error(`pymodbus exited with ${code}: ${out}`)));
    });
    if ('tcp' in where) await waitListening(where.tcp);
  } catch (err) {
    await stop();
    throw err;
  }
  return { child, stop };
}

async function waitListening(port: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1', () => { s.destroy(); resolve(true); });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nothing listens on 127.0.0.1:${port}`);
}

/** `socat -d -d pty,raw,echo=0 pty,raw,echo=0`: two linked ptys, their paths read from socat's log. */
export async function socatPair(): Promise<{ a: string; b: string; stop(): Promise<void> }> {
  const child = spawn('socat', ['-d', '-d', 'pty,raw,echo=0', 'pty,raw,echo=0'], { stdio: ['ignore', 'ignore', 'pipe'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const paths = await new Promise<string[]>((resolve, reject) => {
    let log = '';
    child.stderr!.on('data', (d) => {
      log += d;
      const found = [...log.matchAll(/PTY is (\S+)/g)].map((m) => m[1]!);
      if (found.length === 2) resolve(found);
    });
    child.once('exit', (code) => reject(new Error(`socat exited with ${code}: ${log}`)));
  });
  return {
    a: paths[0]!,
    b: paths[1]!,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/**
 * A TCP proxy that plays a pulled cable: pause() stops forwarding in both directions without
 * closing anything (bytes wait, as in a switch buffer), resume() delivers them and carries on.
 */
export class CableProxy {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  readonly #held: [Socket, Buffer][] = [];
  #paused = false;
  port = 0;

  constructor(readonly target: number) {
    this.#server = createServer((client) => {
      const upstream = connect(target, '127.0.0.1');
      const end = () => { client.destroy(); upstream.destroy(); this.#sockets.delete(client); this.#sockets.delete(upstream); };
      for (const [from, to] of [[client, upstream], [upstream, client]] as const) {
        this.#sockets.add(from);
        from.on('error', end).on('close', end);
        from.on('data', (d: Buffer) => (this.#paused ? this.#held.push([to, d]) : to.write(d)));
      }
    });
  }

  async listen(): Promise<number> {
    const port = await freePort();
    await new Promise<void>((resolve) => this.#server.listen(port, '127.0.0.1', () => resolve()));
    this.port = (this.#server.address() as { port: number }).port;
    return this.port;
  }

  pause(): void {
    this.#paused = true;
  }

  resume(): void {
    this.#paused = false;
    for (const [to, d] of this.#held.splice(0)) if (!to.destroyed) to.write(d);
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
