// The line driver: a text instrument on TCP. `GET <key>` answers `OK <value>` or
// `ERR <CODE> <message>`; `SET <key> <value>` answers `OK` or `ERR ...`. Replace the wire
// protocol with your device's: the runtime schedules, retries, reconnects, reports and counts.
import { connect, type Socket } from 'node:net';
import { codedError, defineDriver, permanentError, raceAbort, type RawReading } from 'edgetwin/sdk';

export interface LineProtocol { host: string; port: number }
export interface LineVisitor { key: string }

export const protocolSchema = {
  type: 'object', additionalProperties: false, required: ['host', 'port'],
  properties: {
    host: { type: 'string', minLength: 1, description: 'the instrument\'s host name or address' },
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

export const lineDriver = defineDriver<LineProtocol, LineVisitor>({
  name: 'line',
  // The SDK range this driver was written for, as a literal: the gateway refuses another major.
  sdkVersion: '^1.2.0',
  protocolSchema,
  visitorSchema,
  link: (device) => `tcp:${device.config.host}:${device.config.port}`,
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
      for (let i = buffer.indexOf('\n'); i >= 0; i = buffer.indexOf('\n')) {
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
        socket.write(`${command}\n`);
      }), signal).finally(() => signal.removeEventListener('abort', onAbort));
    };
    return {
      async read(request, signal) {
        const readings: RawReading[] = [];
        for (const p of request.properties) {
          try {
            readings.push({ property: p.name, value: await ask(`GET ${p.visitor.key}`, signal) });
          } catch (err) {
            if (!(err instanceof DeviceAnswer)) throw err;
            readings.push({ property: p.name, error: { code: err.code, message: err.message } });
          }
        }
        return readings;
      },
      async write(p, { value }, signal) {
        try {
          await ask(`SET ${p.visitor.key} ${String(value)}`, signal);
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
