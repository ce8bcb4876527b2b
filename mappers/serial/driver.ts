// The serial instrument driver: a Device YAML describes the protocol (framing, checksum, command
// templates, extraction, stream patterns, writes), so a new instrument needs no code.

import { codedError, defineDriver, SDK_VERSION, serialKey, type Connection, type PropertyBinding, type RawReading } from '../sdk/index.ts';
import { compilePattern, frameText, renderCommand } from './bytes.ts';
import { checkDevice } from './check.ts';
import { protocolSchema, serialSettings, visitorSchema, type SerialProtocol, type SerialVisitor } from './config.ts';
import { extract, extractCodec, type Extracted } from './extract.ts';
import { PortSession, type Verdict } from './session.ts';

type Binding = PropertyBinding<SerialVisitor>;

function toRaw(property: string, x: Extracted): RawReading {
  if ('error' in x) return { property, error: { code: 'EFORMAT', message: x.error } };
  return 'raw' in x ? { property, raw: x.raw } : { property, value: x.value };
}

export const serialDriver = defineDriver<SerialProtocol, SerialVisitor>({
  name: 'serial',
  sdkVersion: `^${SDK_VERSION}`,
  protocolSchema,
  visitorSchema,
  check: checkDevice,
  link: (d) => serialKey(d.config.serialPort),
  serial: (d) => serialSettings(d.config),
  // A request may first wait for another device's request on the same port.
  timeout: (d) => d.config.timeout * 2 + 1000,
  codec: (p) => extractCodec(p.visitor.extract, p.visitor),

  async connect(device, ctx) {
    const config = device.config;
    const link = await ctx.links.acquireSerial(serialSettings(config), 'serial');
    const session = new PortSession(link, config, ctx.log, ctx.lost);
    const address = config.address;
    const errorRe = config.errorPattern ? compilePattern(config.errorPattern, address) : undefined;
    const patterns = new Map<string, { match?: RegExp; stream?: RegExp; expect?: RegExp }>();
    for (const p of device.properties) {
      const v = p.visitor;
      const regex = v.extract && 'regex' in v.extract ? v.extract.regex : undefined;
      patterns.set(p.name, {
        match: (v.match ?? regex) !== undefined ? compilePattern((v.match ?? regex)!, address) : undefined,
        stream: v.stream ? compilePattern(v.stream, address) : undefined,
        expect: v.write?.expect ? compilePattern(v.write.expect, address) : undefined,
      });
    }
    const streaming = device.properties.filter((p) => p.visitor.stream);

    /** Extract a property's value from a frame its pattern accepted (the capture of that same pattern). */
    const valueOf = (p: Binding, frame: Uint8Array, pattern: RegExp | undefined): Extracted =>
      extract(p.visitor.extract, frame, p.visitor.extract && !('regex' in p.visitor.extract) ? undefined : pattern);

    const answerOf = (p: Binding) => (frame: Uint8Array): Verdict<Extracted> => {
      const text = frameText(frame);
      if (errorRe?.test(text)) return { deviceError: text.trim() };
      const { match, stream } = patterns.get(p.name)!;
      const pattern = p.visitor.command ? match : stream;
      if (pattern && !pattern.test(text)) return undefined;
      return { ok: valueOf(p, frame, pattern) };
    };

    const readOne = async (p: Binding, signal: AbortSignal): Promise<RawReading> => {
      const command = p.visitor.command ? renderCommand(p.visitor.command, { address }) : undefined;
      try {
        return toRaw(p.name, await session.request(command, answerOf(p), command ? `answer to ${p.name}` : `frame for ${p.name}`, signal));
      } catch (err) {
        const code = (err as { code?: string }).code;
        if (code === 'EDEVICE' || code === 'EFORMAT') return { property: p.name, error: { code, message: (err as Error).message } };
        throw err;
      }
    };

    const connection: Connection<SerialVisitor> = {
      async read(request, signal) {
        const out: RawReading[] = [];
        for (const p of request.properties) out.push(await readOne(p, signal));
        return out;
      },
      async write(p, { value, raw }, signal) {
        const w = p.visitor.write;
        if (!w) throw codedError('EREADONLY', `property ${p.name} has no write command`);
        const command = renderCommand(w.command, { address, value: { text: String(value), raw } });
        const expect = patterns.get(p.name)!.expect;
        if (!expect) return session.send(command);
        await session.request(command, (frame) => {
          const text = frameText(frame);
          if (errorRe?.test(text)) return { deviceError: text.trim() };
          return expect.test(text) ? { ok: undefined } : undefined;
        }, `confirmation of ${p.name}`, signal);
      },
      async close() {
        session.close();
        await ctx.links.release(link.key);
      },
    };
    if (!streaming.length) return connection;

    connection.subscribe = async (properties, emit) => {
      const mine = properties.filter((p) => p.visitor.stream);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const arm = () => {
        if (timer) clearTimeout(timer);
        timer = setTimeout(() => {
          const stats = session.reader.stats;
          const partial = session.reader.pending ? `; ${session.reader.pending} bytes of an unfinished frame` : '';
          const bad = stats.bad ? `; ${stats.bad} bad frames dropped so far (last: ${stats.lastError})` : '';
          const message = `no data from the instrument for ${config.streamTimeout} ms${partial}${bad}`;
          emit(mine.map((p) => ({ property: p.name, error: { code: 'ETIMEDOUT', message } })));
          arm();
        }, config.streamTimeout);
      };
      session.onStream = (frame) => {
        const text = frameText(frame);
        const readings: RawReading[] = [];
        for (const p of mine) {
          const stream = patterns.get(p.name)!.stream!;
          if (stream.test(text)) readings.push(toRaw(p.name, valueOf(p, frame, stream)));
        }
        if (!readings.length) return false;
        arm();
        emit(readings);
        return true;
      };
      arm();
      return async () => {
        session.onStream = undefined;
        if (timer) clearTimeout(timer);
      };
    };
    return connection;
  },
});
