import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BYTE_ORDERS, checkCodecSpec, CodecError, CODEC_TYPES, decode, decodeAt, encode, reorder, type ByteOrder, type CodecSpec, type CodecType } from './codec.ts';

// Where each big-endian byte lands on the wire, per order and width (wire[i] = abcd[perm[i]]).
const PERM: Record<ByteOrder, Record<number, number[]>> = {
  ABCD: { 1: [0], 2: [0, 1], 4: [0, 1, 2, 3], 8: [0, 1, 2, 3, 4, 5, 6, 7] },
  CDAB: { 1: [0], 2: [0, 1], 4: [2, 3, 0, 1], 8: [6, 7, 4, 5, 2, 3, 0, 1] },
  BADC: { 1: [0], 2: [1, 0], 4: [1, 0, 3, 2], 8: [1, 0, 3, 2, 5, 4, 7, 6] },
  DCBA: { 1: [0], 2: [1, 0], 4: [3, 2, 1, 0], 8: [7, 6, 5, 4, 3, 2, 1, 0] },
};

const KNOWN: { type: CodecType; value: number | bigint; abcd: number[] }[] = [
  { type: 'int8', value: -5, abcd: [0xfb] },
  { type: 'uint8', value: 200, abcd: [0xc8] },
  { type: 'int16', value: -2, abcd: [0xff, 0xfe] },
  { type: 'uint16', value: 0x1234, abcd: [0x12, 0x34] },
  { type: 'int32', value: -123456789, abcd: [0xf8, 0xa4, 0x32, 0xeb] },
  { type: 'uint32', value: 3735928559, abcd: [0xde, 0xad, 0xbe, 0xef] },
  { type: 'int64', value: -2, abcd: [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe] },
  { type: 'uint64', value: 18446744073709551615n, abcd: [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff] },
  { type: 'uint64', value: 0x0102030405060708n, abcd: [1, 2, 3, 4, 5, 6, 7, 8] },
  { type: 'float32', value: 23.5, abcd: [0x41, 0xbc, 0x00, 0x00] },
  { type: 'float64', value: -2.5, abcd: [0xc0, 0x04, 0, 0, 0, 0, 0, 0] },
];

for (const { type, value, abcd } of KNOWN) {
  for (const order of Object.keys(PERM) as ByteOrder[]) {
    test(`codec ${type} ${order}: known bytes decode, encode and round-trip`, () => {
      const wire = Uint8Array.from(PERM[order][abcd.length]!.map((i) => abcd[i]!));
      const spec: CodecSpec = { type, order };
      const decoded = decode(wire, spec);
      assert.equal(typeof value === 'bigint' ? BigInt(decoded as bigint) : decoded, value);
      assert.deepEqual([...encode(decoded, spec)], [...wire]);
    });
  }
}

test('int64 values beyond 2^53 stay exact as bigint', () => {
  assert.equal(decode(Uint8Array.from([0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), { type: 'int64' }), 9223372036854775807n);
  assert.equal(decode(Uint8Array.from([0, 0, 0, 0, 0, 0, 1, 0]), { type: 'uint64' }), 256);
});

test('scale drops binary noise: register 235 x 0.1 reads 23.5', () => {
  assert.equal(decode(Uint8Array.from([0x00, 0xeb]), { type: 'uint16', scale: 0.1 }), 23.5);
  assert.equal(decode(Uint8Array.from([0x00, 0x03]), { type: 'uint16', scale: 0.1 }), 0.3);
});

test('valueOffset after scale: -400 x 0.1 + 273.15 reads 233.15', () => {
  assert.equal(decode(Uint8Array.from([0xfe, 0x70]), { type: 'int16', scale: 0.1, valueOffset: 273.15 }), 233.15);
  assert.deepEqual([...encode(233.15, { type: 'int16', scale: 0.1, valueOffset: 273.15 })], [0xfe, 0x70]);
});

test('encode is the exact reverse of scale: 24.1 with scale 0.1 writes 241', () => {
  assert.deepEqual([...encode(24.1, { type: 'uint16', scale: 0.1 })], [0x00, 0xf1]);
  assert.deepEqual([...encode(24.1, { type: 'uint32', scale: 0.1, order: 'CDAB' })], [0x00, 0xf1, 0x00, 0x00]);
});

test('bits count from the least significant bit of the register, after reordering', () => {
  const reg = Uint8Array.from([0x01, 0x04]);
  assert.equal(decode(reg, { type: 'bit', bitIndex: 2 }), true);
  assert.equal(decode(reg, { type: 'bit', bitIndex: 8 }), true);
  assert.equal(decode(reg, { type: 'bit', bitIndex: 0 }), false);
  assert.equal(decode(Uint8Array.from([0x04, 0x01]), { type: 'bit', bitIndex: 8, order: 'BADC' }), true);
  assert.deepEqual([...encode(true, { type: 'bit', bitIndex: 9 })], [0x02, 0x00]);
  assert.throws(() => decode(Uint8Array.from([1]), { type: 'bit', bitIndex: 9 }), /needs 2 bytes/);
});

test('bool is any non-zero byte, so a register holding 1 is true', () => {
  assert.equal(decode(Uint8Array.from([0x00, 0x01]), { type: 'bool' }), true);
  assert.equal(decode(Uint8Array.from([0x00, 0x00]), { type: 'bool' }), false);
  assert.deepEqual([...encode(true, { type: 'bool' })], [0x00, 0x01]);
});

test('strings trim trailing NULs, pad to length, and honour byte order', () => {
  assert.equal(decode(Uint8Array.from([0x41, 0x42, 0, 0]), { type: 'string' }), 'AB');
  assert.equal(decode(Uint8Array.from([0x42, 0x41, 0x00, 0x43]), { type: 'string', order: 'BADC' }), 'ABC');
  assert.deepEqual([...encode('AB', { type: 'string', length: 4 })], [0x41, 0x42, 0, 0]);
  assert.deepEqual([...encode('AB', { type: 'string', length: 4, order: 'BADC' })], [0x42, 0x41, 0, 0]);
  assert.throws(() => encode('ABCDE', { type: 'string', length: 4 }), /do not fit/);
});

test('bytes pass through, reordered', () => {
  assert.deepEqual([...(decode(Uint8Array.from([1, 2, 3, 4]), { type: 'bytes', order: 'CDAB' }) as Uint8Array)], [3, 4, 1, 2]);
  assert.deepEqual([...encode(Uint8Array.from([1, 2, 3, 4]), { type: 'bytes', order: 'CDAB' })], [3, 4, 1, 2]);
});

test('values that do not fit are CodecErrors that say why', () => {
  assert.throws(() => encode(70000, { type: 'uint16' }), (e: unknown) => e instanceof CodecError && /out of range for uint16/.test(e.message));
  assert.throws(() => encode(-1, { type: 'uint8' }), /out of range/);
  assert.throws(() => encode('x', { type: 'int32' }), /needs a number/);
  assert.throws(() => decode(Uint8Array.from([1, 2]), { type: 'uint32' }), /needs 4 bytes, the device returned 2/);
});

test('checkCodecSpec names what is wrong with a spec', () => {
  assert.deepEqual(checkCodecSpec({ type: 'uint16' }), []);
  assert.match(checkCodecSpec({ type: 'uint16', order: 'ACBD' as ByteOrder }).join(), /unknown order "ACBD"/);
  assert.match(checkCodecSpec({ type: 'int24' as CodecType }).join(), /unknown data type "int24"/);
  assert.match(checkCodecSpec({ type: 'uint16', scale: 0 }).join(), /scale/);
  assert.match(checkCodecSpec({ type: 'bit', bitIndex: 16, length: 2 }).join(), /bitIndex must be an integer from 0 to 15/);
});

test('float32 decodes to the shortest decimal that is the same float32', () => {
  const wire = (v: number) => { const b = new Uint8Array(4); new DataView(b.buffer).setFloat32(0, v); return b; };
  assert.equal(decode(wire(52.6), { type: 'float32' }), 52.6);
  assert.equal(decode(wire(0.1), { type: 'float32' }), 0.1);
  assert.equal(decode(wire(123456.78), { type: 'float32' }), 123456.78);
  assert.equal(decode(wire(-3.4028234663852886e38), { type: 'float32' }), -3.4028235e38);
  assert.equal(Math.fround(decode(wire(1 / 3), { type: 'float32' }) as number), Math.fround(1 / 3));
});

test('decode of every fixed-width type in every order agrees with reorder() and a DataView, for random bytes', () => {
  const widths = { int8: 1, uint8: 1, int16: 2, uint16: 2, int32: 4, uint32: 4, int64: 8, uint64: 8, float32: 4, float64: 8 } as const;
  let seed = 7;
  const random = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) & 0xff;
  for (const [type, width] of Object.entries(widths) as [keyof typeof widths, number][]) {
    for (const order of BYTE_ORDERS) {
      for (let n = 0; n < 50; n++) {
        const raw = Uint8Array.from({ length: width }, random);
        const view = new DataView(reorder(raw, order).buffer);
        const expected = {
          int8: () => view.getInt8(0), uint8: () => view.getUint8(0), int16: () => view.getInt16(0), uint16: () => view.getUint16(0),
          int32: () => view.getInt32(0), uint32: () => view.getUint32(0), int64: () => view.getBigInt64(0), uint64: () => view.getBigUint64(0),
          float32: () => view.getFloat32(0), float64: () => view.getFloat64(0),
        }[type]();
        const got = decode(raw, { type, order });
        if (typeof expected === 'bigint') assert.equal(BigInt(got as number | bigint), expected, `${type} ${order}`);
        else if (type === 'float32') assert.ok(Number.isNaN(expected) ? Number.isNaN(got as number) : Math.fround(got as number) === expected, `${type} ${order}`);
        else if (Number.isNaN(expected)) assert.ok(Number.isNaN(got as number), `${type} ${order}`);
        else assert.equal(got, expected, `${type} ${order} ${[...raw]}`);
      }
    }
  }
});

/** What a decode gave: its value, or its error's class and message. */
function outcome(run: () => unknown): unknown {
  try {
    return { value: run() };
  } catch (err) {
    return { error: (err as Error).name, message: (err as Error).message };
  }
}

test('decodeAt of bytes inside a block gives what decode of those bytes cut out gives, value or error, for every type and order', () => {
  let seed = 11;
  const random = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) & 0xff;
  const specs: CodecSpec[] = [];
  for (const type of CODEC_TYPES) {
    for (const order of BYTE_ORDERS) {
      specs.push({ type, order });
      if (type === 'bit') specs.push({ type, order, bitIndex: 13 }, { type, order, bitIndex: 3, length: 1 }, { type, order, bitIndex: 30, length: 4 });
      if (type === 'string' || type === 'bytes' || type === 'bool') specs.push({ type, order, length: 4 });
      if (type.includes('int') || type.startsWith('float')) specs.push({ type, order, scale: 0.1, valueOffset: -3 });
    }
  }
  let compared = 0;
  let errors = 0;
  for (const spec of specs) {
    // Every length from none to past the widest type: short ones are the codec's errors.
    for (let length = 0; length <= 10; length++) {
      for (let n = 0; n < 8; n++) {
        const before = n % 3;
        const block = Uint8Array.from({ length: before + length + 2 }, random);
        // Strings: some NULs at the end, as a PLC pads them.
        if (spec.type === 'string' && n % 2 === 0 && length > 1) block[before + length - 1] = 0;
        const cut = block.slice(before, before + length);
        const want = outcome(() => decode(cut, spec));
        const got = outcome(() => decodeAt(block, before, length, spec));
        assert.deepEqual(got, want, `${JSON.stringify(spec)} length ${length} at ${before}: ${[...cut]}`);
        compared++;
        if ((want as { error?: string }).error) errors++;
      }
    }
  }
  assert.ok(errors > 0 && errors < compared, 'both values and errors were compared');
});

test('decodeAt reads only its own bytes: the block around them does not change the value', () => {
  const block = Uint8Array.from([0xff, 0xff, 0x00, 0x2a, 0xff, 0xff]);
  assert.equal(decodeAt(block, 2, 2, { type: 'uint16' }), 42);
  assert.equal(decodeAt(block, 2, 2, { type: 'bool' }), true);
  assert.equal(decodeAt(block, 2, 1, { type: 'bool' }), false);
  assert.deepEqual([...(decodeAt(block, 2, 2, { type: 'bytes', order: 'BADC' }) as Uint8Array)], [0x2a, 0x00]);
});
