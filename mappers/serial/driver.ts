// The serial instrument driver: a Device YAML describes the protocol (framing, checksum, command
// templates, extraction, stream patterns, writes), so a new instrument needs no code.

import { codedError, defineDriver, SDK_VERSION, serialKey, type Connection, type PropertyBinding, type RawReading } from '../sdk/index.ts';
import { compilePattern, renderCommand } from './bytes.ts';
import { checkDevice } from './check.ts';
import { protocolSchema, serialSettings, visitorSchema, type SerialProtocol, type SerialVisitor } from './config.ts';
import { extract, extractCodec, preview, type Extracted } from './extract.ts';
import type { Frame } from './framer.ts';
import { PortSession, type Verdict } from './session.ts';
import { IoCodes } from '../../core/errors.ts';

type Binding = PropertyBinding<SerialVisitor>;

function toRaw(property: string, x: Extracted): RawReading {
  if ('error' in x) return { property, error: { code: IoCodes.FORMAT, message: x.error } };
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
  // Stream properties arrive through subscribe(); the rest of the device is polled.
  pushes: (p) => p.visitor.stream !== undefined,
  // The runtime turns them bad when the instrument falls silent.
  streamTimeout: (d) => d.config.streamTimeout,

  async connect(device, ctx) {
    const config = device.config;
    const address = config.address;
    const errorRe = config.errorPattern ? compilePattern(config.errorPattern, address) : undefined;
    const patterns = new Map<string, { match?: RegExp; stream?: RegExp; expect?: RegExp; extract?: RegExp }>();
    for (const p of device.properties) {
      const v = p.visitor;
      const regex = v.extract && 'regex' in v.extract ? v.extract.regex : undefined;
      const compiled = (source: string | undefined) => (source !== undefined ? compilePattern(source, address) : undefined);
      const match = compiled(v.match ?? regex);
      const stream = compiled(v.stream);
      // The same RegExp object when extract.regex is also the pattern that picks the frame, so its match is reused.
      const own = [match, stream].find((r) => r !== undefined && r.source === compiled(regex)?.source);
      patterns.set(p.name, { match, stream, expect: compiled(v.write?.expect), extract: own ?? compiled(regex) });
    }
    const streaming = device.properties.filter((p) => p.visitor.stream);
    const link = await ctx.links.acquireSerial(serialSettings(config), 'serial').catch((err: Error & { code?: string }) => {
      if (err.code?.startsWith('ET_')) throw err;
      const why = err.message.replace(/^Error: /, '').replace(/, cannot open .*$/, '');
      throw codedError(err.code ?? IoCodes.NO_DEVICE, `serial port ${config.serialPort} cannot be opened: ${why} (is the adapter plugged in, and the path right?)`, err);
    });
    const session = new PortSession(link, config, ctx.log, ctx.lost, ctx.count);
    await session.settle(config.settleMs);

    const answerOf = (p: Binding) => (frame: Frame): Verdict<Extracted> => {
      const text = frame.text;
      if (errorRe?.test(text)) return { deviceError: text.trim() };
      const { match, stream, extract: re } = patterns.get(p.name)!;
      const pattern = p.visitor.command ? match : stream;
      const gate = pattern?.exec(text);
      if (pattern && !gate) return undefined;
      return { ok: extract(p.visitor.extract, frame, re, gate, pattern) };
    };

    const readOne = async (p: Binding, signal: AbortSignal): Promise<RawReading> => {
      const command = p.visitor.command ? renderCommand(p.visitor.command, { address }) : undefined;
      try {
        return toRaw(p.name, await session.request(command, answerOf(p), command ? `answer to ${p.name}` : `frame for ${p.name}`, signal));
      } catch (err) {
        const code = (err as { code?: string }).code;
        if (code === IoCodes.DEVICE || code === IoCodes.FORMAT) return { property: p.name, error: { code, message: (err as Error).message } };
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
        if (!w) throw codedError(IoCodes.READ_ONLY, `property ${p.name} has no write command`);
        const command = renderCommand(w.command, { address, value: { text: String(value), raw } });
        const expect = patterns.get(p.name)!.expect;
        if (!expect) return session.send(command);
        await session.request(command, (frame) => {
          const text = frame.text;
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

    let unmatchedSeen = 0;
    connection.silence = (ms) => {
      const stats = session.reader.stats;
      const partial = session.reader.pending ? `; ${session.reader.pending} bytes of an unfinished frame` : '';
      const bad = stats.bad ? `; ${stats.bad} bad frames dropped so far (last: ${stats.lastError})` : '';
      // A stream pattern that does not fit the instrument's lines looks like silence: say so.
      const unmatched = session.unmatched > unmatchedSeen ? `; ${session.unmatched - unmatchedSeen} frames matched no stream pattern, last ${preview(session.lastUnmatched!.bytes)}` : '';
      unmatchedSeen = session.unmatched;
      return `no data from the instrument for ${ms} ms${partial}${bad}${unmatched}`;
    };
    connection.subscribe = async (properties, emit) => {
      const mine = properties.filter((p) => p.visitor.stream).map((p) => ({ p, ...patterns.get(p.name)! }));
      // The readings of every frame in one chunk from the port go to the runtime together: they
      // arrived together, and a fast stream brings hundreds per chunk.
      let batch: RawReading[] = [];
      session.onStream = (frame) => {
        const text = frame.text;
        const before = batch.length;
        for (let i = 0; i < mine.length; i++) {
          const { p, stream, extract: re } = mine[i]!;
          const gate = stream!.exec(text);
          if (gate) batch.push(toRaw(p.name, extract(p.visitor.extract, frame, re, gate, stream)));
        }
        return batch.length !== before;
      };
      session.onStreamFlush = () => {
        if (!batch.length) return;
        const readings = batch;
        batch = [];
        emit(readings);
      };
      return async () => {
        session.onStream = undefined;
        session.onStreamFlush = undefined;
      };
    };
    return connection;
  },
});
