// The scaffold's source files: the driver, its simulator, the simulate script and the conformance test.

import type { ScaffoldNames } from './templates.ts';

export function driverTs(n: ScaffoldNames): string {
  return `// The ${n.protocol} driver: a text instrument on TCP. \`GET <key>\` answers \`OK <value>\` or
// \`ERR <CODE> <message>\`; \`SET <key> <value>\` answers \`OK\` or \`ERR ...\`. Replace the wire
// protocol with your device's: the runtime schedules, retries, reconnects, reports and counts.
import { connect, type Socket } from 'node:net';
import { codedError, defineDriver, permanentError, raceAbort, type RawReading } from 'edgetwin/sdk';

export interface ${cap(n.ident)}Protocol { host: string; port: number }
export interface ${cap(n.ident)}Visitor { key: string }

export const protocolSchema = {
  type: 'object', additionalProperties: false, required: ['host', 'port'],
  properties: {
    host: { type: 'string', minLength: 1, description: 'the instrument\\'s host name or address' },
    port: { type: 'integer', minimum: 1, maximum: 65535, description: 'its TCP port' },
  },
};

export const visitorSchema = {
  type: 'object', additionalProperties: false, required: ['key'],
  properties: { key: { type: 'string', pattern: '^[A-Za-z0-9_.]+$', description: 'the key GET and SET name' } },
};

/** The instrument answered ERR: a per-property failure, not a broken connection. */
class DeviceAnswer extends Error {
  constructor(readonly code: string, message: string) { super(message); }
}

/** Refusals a retry cannot change: the twin marks the write failed until the desired value changes. */
const PERMANENT = new Set(['ERANGE', 'EREADONLY', 'EINVAL']);

export const ${n.ident}Driver = defineDriver<${cap(n.ident)}Protocol, ${cap(n.ident)}Visitor>({
  name: '${n.protocol}',
  // The SDK range this driver was written for, as a literal: the gateway refuses another major.
  sdkVersion: '${n.sdkRange}',
  protocolSchema,
  visitorSchema,
  link: (device) => \`tcp:\${device.config.host}:\${device.config.port}\`,
  async connect(device, ctx) {
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = connect(device.config.port, device.config.host, () => { s.off('error', reject); resolve(s); });
      s.once('error', reject);
    });
    socket.setEncoding('utf8');
    socket.on('error', (err) => ctx.lost(err));
    socket.on('close', () => ctx.lost(codedError('ECONNRESET', 'the instrument closed the connection')));
    let buffer = '';
    let answer: ((line: string) => void) | undefined;
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      for (let i = buffer.indexOf('\\n'); i >= 0; i = buffer.indexOf('\\n')) {
        const line = buffer.slice(0, i);
        buffer = buffer.slice(i + 1);
        answer?.(line);
      }
    });
    // The runtime keeps one request in flight per link (maxInFlight defaults to 1), so one pending
    // answer is enough. A late answer could not be matched, so a timed-out request drops the socket
    // (the runtime reconnects). The listener goes when the request settles: signals are reused.
    const ask = (command: string, signal: AbortSignal) => {
      const onAbort = () => socket.destroy();
      signal.addEventListener('abort', onAbort, { once: true });
      return raceAbort(new Promise<string>((resolve, reject) => {
        answer = (line) => {
          answer = undefined;
          const [status, code = 'EDEVICE', ...rest] = line.split(' ');
          if (status === 'OK') resolve(line.slice(3));
          else reject(new DeviceAnswer(code, rest.join(' ') || line));
        };
        socket.write(\`\${command}\\n\`);
      }), signal).finally(() => signal.removeEventListener('abort', onAbort));
    };
    return {
      async read(request, signal) {
        const readings: RawReading[] = [];
        for (const p of request.properties) {
          try {
            readings.push({ property: p.name, value: await ask(\`GET \${p.visitor.key}\`, signal) });
          } catch (err) {
            if (!(err instanceof DeviceAnswer)) throw err;
            readings.push({ property: p.name, error: { code: err.code, message: err.message } });
          }
        }
        return readings;
      },
      async write(p, { value }, signal) {
        try {
          await ask(\`SET \${p.visitor.key} \${String(value)}\`, signal);
        } catch (err) {
          if (!(err instanceof DeviceAnswer)) throw err;
          throw PERMANENT.has(err.code) ? permanentError(err.code, err.message) : codedError(err.code, err.message);
        }
      },
      async close() {
        socket.removeAllListeners('close');
        socket.destroy();
      },
    };
  },
});
`;
}

export function simulatorTs(n: ScaffoldNames): string {
  return `// An in-process ${n.protocol} instrument for tests and demos: a TCP server speaking the driver's
// text protocol. It keeps its port across stop()/start() and restart(), as the conformance kit needs.
import { createServer, type Server, type Socket } from 'node:net';

export class InstrumentSimulator {
  /** What the instrument holds. \`temp\` is read-only, \`setpoint\` accepts 5 to 30, \`broken\` always fails. */
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
      for (let i = buffer.indexOf('\\n'); i >= 0; i = buffer.indexOf('\\n')) {
        socket.write(\`\${this.#answer(buffer.slice(0, i).trim())}\\n\`);
        buffer = buffer.slice(i + 1);
      }
    });
  }

  #answer(line: string): string {
    const [verb, key = '', value] = line.split(' ');
    if (key === 'broken') return 'ERR EHW sensor disconnected';
    if (verb === 'GET') return this.values.has(key) ? \`OK \${this.values.get(key)}\` : \`ERR ENOKEY no key \${key}\`;
    if (verb !== 'SET' || value === undefined) return \`ERR EINVAL cannot parse "\${line}"\`;
    if (key === 'temp') return 'ERR EREADONLY temp is measured, not set';
    const n = Number(value);
    if (key === 'setpoint' && !(n >= 5 && n <= 30)) return \`ERR ERANGE setpoint \${value} is outside 5..30\`;
    this.values.set(key, value);
    return 'OK';
  }
}
`;
}

export function simulateTs(n: ScaffoldNames): string {
  return `// \`npm run simulate\`: the instrument on the port examples/device.yaml names, for a first run of
// \`edgetwin run --driver . --devices examples\`. Ctrl-C stops it.
import { InstrumentSimulator } from './simulator.js';

const port = Number(process.env.PORT ?? ${n.port});
const simulator = new InstrumentSimulator(port);
await simulator.start();
process.stdout.write(\`${n.protocol} instrument simulator on 127.0.0.1:\${simulator.port}\\n\`);
process.once('SIGINT', () => void simulator.stop());
process.once('SIGTERM', () => void simulator.stop());
`;
}

export function conformanceTs(n: ScaffoldNames): string {
  return `// The edgetwin conformance kit: the tests every driver and its simulator must pass, run through
// the same runtime the gateway uses. Properties use the twin's lower-case types (double, int,
// string, boolean); \`failing\` names a property whose reads the simulator makes fail.
import { runConformance } from 'edgetwin/sdk/testing';
import ${n.ident}Loader from '../src/index.js';
import { InstrumentSimulator } from '../src/simulator.js';

const simulator = new InstrumentSimulator();

runConformance({
  driver: ${n.ident}Loader,
  simulator: {
    async start() {
      const port = await simulator.start();
      return {
        protocol: { host: '127.0.0.1', port },
        properties: [
          { name: 'temperature', type: 'double', accessMode: 'ReadOnly', visitor: { key: 'temp' }, expect: 23.5 },
          { name: 'setpoint', type: 'double', accessMode: 'ReadWrite', visitor: { key: 'setpoint' }, write: 25 },
        ],
        failing: { name: 'probe', type: 'double', visitor: { key: 'broken' } },
      };
    },
    stop: () => simulator.stop(),
    restart: () => simulator.restart(),
  },
  badConfigs: [
    { name: 'missing port', protocol: { host: '127.0.0.1' }, field: 'port' },
    { name: 'port out of range', protocol: { host: '127.0.0.1', port: 70000 }, field: 'port' },
    { name: 'key with a space', visitor: { property: 'temperature', configData: { key: 'a b' } }, field: 'key' },
  ],
});
`;
}

function cap(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}
