import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { appendChecksum, checksumBytes, crc16Ccitt, crc16Modbus, verifyChecksum, type ChecksumConfig } from './checksum.ts';
import { frameOut, FrameReader, type FramingConfig } from './framer.ts';
import { compilePattern, renderCommand, unescapeText } from './bytes.ts';

const text = (b: Uint8Array) => Buffer.from(b).toString('latin1');
const hex = (s: string) => Buffer.from(s.replace(/\s/g, ''), 'hex');

function collect(framing: FramingConfig, checksum?: ChecksumConfig) {
  const frames: string[] = [];
  const reader = new FrameReader(framing, checksum, {
    frame: (f) => {
      // A frame's text is cut from the whole buffer's; it must be exactly its bytes.
      assert.equal(f.text, Buffer.from(f.bytes).toString('latin1'));
      assert.equal(f.length, f.bytes.length);
      frames.push(Buffer.from(f.bytes).toString('hex'));
    },
  });
  return { frames, reader };
}

test('checksums match their published check values', () => {
  const nine = Buffer.from('123456789');
  assert.equal(crc16Modbus(nine), 0x4b37);
  assert.equal(crc16Ccitt(nine), 0x29b1);
  assert.deepEqual([...checksumBytes({ type: 'xor' }, Uint8Array.of(0x01, 0x02, 0x04))], [0x07]);
  assert.deepEqual([...checksumBytes({ type: 'sum8' }, Uint8Array.of(0xff, 0x02))], [0x01]);
  assert.deepEqual([...checksumBytes({ type: 'crc16-modbus' }, nine)], [0x37, 0x4b], 'Modbus sends the low byte first');
  assert.deepEqual([...checksumBytes({ type: 'crc16-ccitt' }, nine)], [0x29, 0xb1]);
  assert.equal(text(checksumBytes({ type: 'xor', encoding: 'hex' }, Buffer.from('GPGGA'))), '56');
});

test('a checksum is verified where `at` says, over from..to', () => {
  const nmea = Buffer.from('$GPGGA*56');
  const c: ChecksumConfig = { type: 'xor', encoding: 'hex', from: 1, to: -3, at: -2 };
  assert.equal(verifyChecksum(c, nmea), undefined);
  assert.match(verifyChecksum(c, Buffer.from('$GPGGB*56'))!, /xor checksum mismatch: frame says 56, bytes give 55/);
  assert.equal(verifyChecksum(c, Buffer.from('$Z*5a')), undefined, 'hex digits in either case');
  const framed = appendChecksum({ type: 'crc16-modbus' }, hex('01 03 00 00 00 01'));
  assert.equal(Buffer.from(framed).toString('hex'), '010300000001840a');
});

test('delimiter framing splits lines, skips empty ones, and drops a line with a bad checksum', () => {
  const { frames, reader } = collect({ type: 'delimiter', delimiter: '\\r\\n' }, { type: 'sum8', encoding: 'hex' });
  const line = (body: string) => body + text(checksumBytes({ type: 'sum8', encoding: 'hex' }, Buffer.from(body))) + '\r\n';
  reader.push(Buffer.from(line('W+12.5') + '\r\n' + 'W+99.9FF\r\n' + line('W+13').slice(0, 3)));
  reader.push(Buffer.from(line('W+13').slice(3)));
  assert.deepEqual(frames.map((f) => text(hex(f))), ['W+12.5', 'W+13'], 'frames come without their checksum');
  assert.equal(reader.stats.bad, 1);
  assert.match(reader.stats.lastError!, /sum8 checksum mismatch/);
});

test('delimiter framing gives up on a line longer than maxLength', () => {
  const { frames, reader } = collect({ type: 'delimiter', delimiter: '\n', maxLength: 8 });
  reader.push(Buffer.from('0123456789abcdef'));
  reader.push(Buffer.from('\nok\n'));
  assert.deepEqual(frames.map((f) => text(hex(f))), ['ok']);
  assert.equal(reader.stats.bad, 1);
});

test('fixed framing with a CRC resynchronises after garbage, counting one bad run', () => {
  const { frames, reader } = collect({ type: 'fixed', length: 6 }, { type: 'crc16-modbus' });
  const f1 = appendChecksum({ type: 'crc16-modbus' }, hex('01 02 03 04'));
  const f2 = appendChecksum({ type: 'crc16-modbus' }, hex('05 06 07 08'));
  reader.push(Buffer.concat([hex('ff 13'), f1, f2]));
  assert.deepEqual(frames, ['01020304', '05060708']);
  assert.equal(reader.stats.bad, 1);
  assert.equal(reader.stats.droppedBytes, 2);
});

test('fixed framing aligns on start bytes', () => {
  const { frames, reader } = collect({ type: 'fixed', length: 3, start: { hex: 'aa' } });
  reader.push(hex('00 11 aa 01 02 aa'));
  reader.push(hex('03 04'));
  assert.deepEqual(frames, ['aa0102', 'aa0304']);
});

test('length framing reads the length field and slides past a corrupt frame', () => {
  const framing: FramingConfig = { type: 'length', start: { hex: 'aa' }, lengthOffset: 1, lengthSize: 1, lengthCounts: 'following', lengthAdjust: 2 };
  const { frames, reader } = collect(framing, { type: 'crc16-ccitt' });
  const frame = (payload: string) => appendChecksum({ type: 'crc16-ccitt' }, Buffer.concat([hex('aa'), Uint8Array.of(hex(payload).length), hex(payload)]));
  const good = frame('10 20 30');
  const corrupt = Buffer.from(frame('40 50'));
  corrupt[2] = 0x41;
  reader.push(Buffer.concat([corrupt, good.subarray(0, 4)]));
  reader.push(good.subarray(4));
  reader.push(frame('60'));
  assert.deepEqual(frames, ['aa03102030', 'aa0160']);
  assert.equal(reader.stats.bad, 1);
});

test('length framing with a 16-bit little-endian field counting the whole frame', () => {
  const { frames, reader } = collect({ type: 'length', lengthOffset: 0, lengthSize: 2, lengthOrder: 'little', lengthCounts: 'all' });
  reader.push(hex('05 00 01 02 03 04 00 09'));
  assert.deepEqual(frames, ['0500010203']);
});

test('markers framing unescapes, drops bytes outside frames, and restarts on a second start', () => {
  const framing: FramingConfig = { type: 'markers', start: '\\x02', end: '\\x03', escape: '\\x10', escapeXor: 0x20 };
  const { frames, reader } = collect(framing, { type: 'xor' });
  const payload = Uint8Array.of(0x41, 0x02, 0x10, 0x42);
  const out = frameOut(framing, appendChecksum({ type: 'xor' }, payload));
  assert.equal(Buffer.from(out).toString('hex'), '0241102210304211' + '03', 'STX and DLE in the payload are escaped, XOR 0x20');
  reader.push(Buffer.concat([hex('ff ff'), hex('02 41 42'), out.subarray(0, 5)]));
  reader.push(out.subarray(5));
  assert.deepEqual(frames, ['41021042']);
  assert.equal(reader.stats.bad, 2, 'the garbage before and the unfinished frame');
});

test('silence framing ends a frame after a quiet gap', async () => {
  const { frames, reader } = collect({ type: 'silence', silenceMs: 50 });
  reader.push(hex('01 02'));
  reader.push(hex('03'));
  await sleep(200);
  reader.push(hex('04'));
  await sleep(200);
  reader.close();
  assert.deepEqual(frames, ['010203', '04']);
});

test('templates render escapes, hex, {address} and {value}; patterns get the address', () => {
  assert.deepEqual([...unescapeText('A\\r\\n\\x02\\\\')], [0x41, 13, 10, 2, 92]);
  assert.equal(text(renderCommand('#{address}:SET {value}\\n', { address: 7, value: { text: '12.5' } })), '#7:SET 12.5\n');
  assert.equal(text(renderCommand('@{address:hex}R', { address: 10 })), '@0AR');
  assert.equal(text(renderCommand('S{value:hex}\\r', { value: { text: '42', raw: hex('00 2a') } })), 'S002A\r');
  assert.equal(Buffer.from(renderCommand({ hex: '{address} 06 {value}' }, { address: 1, value: { text: '', raw: hex('00 2a') } })).toString('hex'), '0106002a');
  assert.throws(() => renderCommand('{address}', {}), /sets no address/);
  assert.ok(compilePattern('^{address}:(.*)$', 'a.b').test('a.b:1'));
  assert.ok(!compilePattern('^{address}:(.*)$', 'a.b').test('axb:1'));
  assert.ok(compilePattern('^{address:byte}\\x03', 1).test('\x01\x03'));
});
