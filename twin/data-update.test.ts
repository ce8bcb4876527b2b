import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DataUpdateWriter } from './data-update.ts';
import { UpdateSlot } from './entry.ts';
import type { ReportedUpdate } from './types.ts';

const EVENT = '0f8b3c1e-5d2a-4c7b-9e10-2b3a4c5d6e7f';
const NOW = 1764230400123;

/**
 * What data/update must be, byte for byte, built with JSON.stringify: each entry is stringified on
 * its own (an object would reorder integer-like names and merge repeated ones), its metadata keys
 * in KubeEdge's order.
 */
function reference(updates: readonly ReportedUpdate[], persisted: boolean): Buffer {
  const entries = updates.map((u) => {
    const metadata: Record<string, unknown> = { timestamp: u.time, type: u.type, quality: u.quality };
    if (!persisted) metadata.persisted = 'false';
    if (u.error) metadata.error = { code: u.error.code, message: u.error.message };
    return `${JSON.stringify(u.property)}:${JSON.stringify({ value: u.text ?? '', metadata })}`;
  });
  return Buffer.from(`{"event_id":${JSON.stringify(EVENT)},"timestamp":${JSON.stringify(NOW)},"data":{${entries.join(',')}}}`, 'utf8');
}

const slot = (property: string, type: ReportedUpdate['type'], text: string | null, over: Partial<UpdateSlot> = {}): UpdateSlot =>
  Object.assign(new UpdateSlot(property, type), { text, time: 1700000000000, quality: 'good' }, over);

/** A listener's own update: no pre-encoded name, so the writer encodes it itself. */
const plain = (property: string, type: ReportedUpdate['type'], text: string | null, time: number): ReportedUpdate =>
  ({ property, type, text, time, quality: 'uncertain', error: undefined, deltaChanged: false });

function assertSame(writer: DataUpdateWriter, updates: readonly ReportedUpdate[], persisted: boolean): Buffer {
  const got = writer.write(updates, persisted, EVENT, NOW);
  const want = reference(updates, persisted);
  // Compared as text first for a readable diff, then as bytes (a wrong UTF-8 encoding can decode alike).
  assert.equal(got.toString('utf8'), want.toString('utf8'));
  assert.ok(got.equals(want), 'the same text in different bytes');
  return got;
}

/** Deterministic so a failure repeats: a linear congruential generator. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

describe('DataUpdateWriter', () => {
  it('writes the bytes JSON.stringify writes, for every type, quality, error and persisted flag', () => {
    const writer = new DataUpdateWriter();
    const updates: ReportedUpdate[] = [
      slot('temp', 'int', '-12'),
      slot('ratio', 'double', '1.5e-7', { time: 1700000000001 }),
      slot('level', 'float', '23.1', { quality: 'uncertain' }),
      slot('on', 'boolean', 'true'),
      slot('blob', 'bytes', 'AAEC/w=='),
      slot('label', 'string', 'plain'),
      slot('gone', 'float', null, { quality: 'bad', error: { code: 'ETIMEDOUT', message: 'no "answer" in 1000 ms\nretrying' } }),
      slot('big', 'int', '123456789012345678901234567890'),
      plain('mine', 'int', '7', 5),
      // A listener's own update may carry a quality outside the known three: written as it comes.
      { ...plain('odd', 'int', '8', 6), quality: 'stale' as ReportedUpdate['quality'], error: { code: 'E1', message: 'm' } },
    ];
    assertSame(writer, updates, true);
    assertSame(writer, updates, false);
    assertSame(writer, [], true);
  });

  it('escapes names and string values as JSON does: quotes, backslashes, newlines, control characters, unicode', () => {
    const writer = new DataUpdateWriter();
    const updates: ReportedUpdate[] = [
      slot('say "hi"\\', 'string', 'line\n"quoted"\\ \u0001\t\r\b\f'),
      slot('Temperatur Kühlraum', 'string', 'Grüße, 温度 25 °C'),
      slot('温度', 'double', '25.5'),
      slot('emoji 🌡', 'string', 'hot 🔥 and a lone surrogate \ud800 and \udfff'),
      slot('\u2028sep\u2029', 'string', '\u2028\u2029\u007f\u0080'),
      slot('0', 'int', '1'),
      slot('42', 'int', '2'),
      slot('42', 'int', '3'), // the same name twice stays twice, in order
      slot('', 'string', ''),
      plain('ünlisted "x"', 'string', 'ä', 6),
    ];
    assertSame(writer, updates, true);
    assertSame(writer, updates, false);
  });

  it('writes any timestamp as JSON does, also when consecutive values repeat or change theirs', () => {
    const writer = new DataUpdateWriter();
    const times = [0, 5, 9, 10, 99, 100, 1700000000000, 1700000000000, 1700000000001, 1700000000000, 1.5, -3, Number.MAX_SAFE_INTEGER, 2 ** 60, 1e21, 1700000000000];
    assertSame(writer, times.map((time, i) => slot(`p${i}`, 'int', String(i), { time })), true);
    // Across messages: the digits kept from the last message's final value must not leak into this one.
    assertSame(writer, [slot('a', 'int', '1', { time: 1700000000000 }), slot('b', 'int', '2', { time: 1 })], true);
    assertSame(writer, [slot('a', 'int', '1', { time: 1 })], true);
  });

  it('returns buffers that later messages never overwrite, past messages bigger than the scratch buffer, none holding more memory than its own', () => {
    const writer = new DataUpdateWriter();
    const long = 'ü"'.repeat(4000);
    const kept: { got: Buffer; updates: ReportedUpdate[]; persisted: boolean }[] = [];
    const keep = (updates: ReportedUpdate[], persisted: boolean) => kept.push({ got: assertSame(writer, updates, persisted), updates, persisted });
    for (let i = 0; i < 400; i++) {
      // ~9 KB messages; one in 50 (~70 KB) and one of ~2.4 MB outgrow the scratch buffer mid-message.
      const size = i === 200 ? 150 : i % 50 === 7 ? 800 : 100;
      keep(Array.from({ length: size }, (_, k) => slot(`p${i}.${k}`, k % 3 === 0 ? 'string' : 'int', k % 3 === 0 ? (i === 200 ? long : `v${k}`) : String(i * k), {
        time: 1700000000000 + i,
        error: k % 97 === 0 ? { code: 'E', message: i === 200 ? long : 'x' } : undefined,
      })), i % 2 === 0);
    }
    // Every buffer handed out still holds its own message.
    for (const { got, updates, persisted } of kept) assert.ok(got.equals(reference(updates, persisted)));
    // Each starts 8-byte aligned, and pins no more than Node's 8 KB pool or its own bytes: a slow
    // subscriber holding a small message must not hold a large buffer with it.
    for (const { got } of kept) {
      assert.equal(got.byteOffset % 8, 0);
      assert.ok(got.buffer.byteLength <= 8 * 1024 || got.buffer.byteLength === got.length, `a ${got.length}-byte message holds ${got.buffer.byteLength} bytes`);
    }
    const small = writer.write([slot('a', 'int', '1', { time: 1 })], true);
    assert.ok(small.buffer.byteLength <= 8 * 1024);
  });

  it('gives each message its own version 4 UUID as event id and the clock as timestamp', () => {
    const writer = new DataUpdateWriter();
    const ids = new Set<string>();
    // Past the 4 KB of random bytes drawn at a time (256 ids), so the refill is exercised too.
    for (let i = 0; i < 600; i++) {
      const before = Date.now();
      const doc = JSON.parse(writer.write([slot('x', 'int', '1')], true).toString('utf8')) as { event_id: string; timestamp: number };
      assert.match(doc.event_id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      assert.ok(doc.timestamp >= before && doc.timestamp <= Date.now(), `timestamp ${doc.timestamp} is not the clock's`);
      ids.add(doc.event_id);
    }
    assert.equal(ids.size, 600);
  });

  it('matches the reference on random names and values drawn from ASCII, escapes and non-ASCII text', () => {
    const writer = new DataUpdateWriter();
    const next = random(15);
    const alphabet = ['a', 'Z', '0', ' ', '"', '\\', '/', '\n', '\u0000', '\u001f', 'é', 'ß', '€', '温', '🌡', '\ud83d', '\u2028', '{', '}', ':', ','];
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!;
    const text = (max: number) => Array.from({ length: Math.floor(next() * max) }, () => pick(alphabet)).join('');
    const types = ['int', 'float', 'double', 'string', 'boolean', 'bytes'] as const;
    const qualities = ['good', 'uncertain', 'bad'] as const;
    for (let round = 0; round < 200; round++) {
      const updates = Array.from({ length: 1 + Math.floor(next() * 20) }, () => {
        const type = pick(types);
        // Only a string property carries arbitrary text; the others' texts are numbers, booleans or base64.
        const value = type === 'string' ? text(40) : type === 'boolean' ? pick(['true', 'false']) : type === 'bytes' ? 'AAEC/w==' : String(Math.floor(next() * 2e6) - 1e6);
        const error = next() < 0.2 ? { code: text(8), message: text(30) } : undefined;
        const time = 1700000000000 + Math.floor(next() * 3);
        return next() < 0.5
          ? slot(text(12), type, next() < 0.1 ? null : value, { quality: pick(qualities), error, time })
          : { ...plain(text(12), type, value, time), quality: pick(qualities), error };
      });
      assertSame(writer, updates, next() < 0.5);
    }
  });
});
