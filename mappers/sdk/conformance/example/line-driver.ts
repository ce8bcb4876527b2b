// A complete driver for a made-up text instrument on TCP: `GET <key>` answers `OK <value>` or
// `ERR <CODE> <message>`; `SET <key> <value>` answers `OK`. docs/mapper-guide.md shows this file.
import { connect, type Socket } from 'node:net';
import { codedError, defineDriver, raceAbort, SDK_VERSION, type RawReading } from '../../index.ts';

interface LineProtocol { host: string; port: number }
interface LineVisitor { key: string }

/** The instrument answered ERR: a per-property failure, not a broken connection. */
class DeviceAnswer extends Error {
  constructor(readonly code: string, message: string) { super(message); }
}

export const lineDriver = defineDriver<LineProtocol, LineVisitor>({
  name: 'line',
  sdkVersion: `^${SDK_VERSION}`,
  protocolSchema: {
    type: 'object', additionalProperties: false, required: ['host', 'port'],
    properties: { host: { type: 'string', minLength: 1 }, port: { type: 'integer', minimum: 1, maximum: 65535 } },
  },
  visitorSchema: {
    type: 'object', additionalProperties: false, required: ['key'],
    properties: { key: { type: 'string', pattern: '^[A-Za-z0-9_.]+$' } },
  },
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
    // The runtime keeps one request in flight per link (maxInFlight defaults to 1), so one
    // pending answer is enough. A late answer could not be matched, so a timeout starts over.
    const ask = (command: string, signal: AbortSignal) => {
      signal.addEventListener('abort', () => socket.destroy(), { once: true });
      return raceAbort(new Promise<string>((resolve, reject) => {
        answer = (line) => {
          answer = undefined;
          const [status, code = 'EDEVICE', ...rest] = line.split(' ');
          if (status === 'OK') resolve(line.slice(3));
          else reject(new DeviceAnswer(code, rest.join(' ') || line));
        };
        socket.write(`${command}\n`);
      }), signal);
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
        await ask(`SET ${p.visitor.key} ${String(value)}`, signal);
      },
      async close() {
        socket.removeAllListeners('close');
        socket.destroy();
      },
    };
  },
});
