// Typed values inside, KubeEdge's strings at the boundary: every property type both ways.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatNumber, formatValue, parseValue, sameAtWirePrecision, sameValue, typeFromKubeEdge, ValueError } from './values.ts';

test('int: strings and numbers, big values as bigint, fractions refused', () => {
  assert.equal(parseValue('int', '42'), 42);
  assert.equal(parseValue('int', ' -7 '), -7);
  assert.equal(parseValue('int', '+15'), 15);
  assert.equal(parseValue('int', '000123'), 123);
  assert.equal(parseValue('int', '999999999999999'), 999999999999999);
  assert.equal(parseValue('int', '9007199254740991'), 9007199254740991);
  assert.equal(parseValue('int', '18446744073709551615'), 18446744073709551615n);
  assert.equal(parseValue('int', 12), 12);
  assert.throws(() => parseValue('int', '1.5'), ValueError);
  assert.throws(() => parseValue('int', 1.5), /expected a decimal integer.*got 1.5/);
  assert.throws(() => parseValue('int', 'abc'), /expected a decimal integer.*got "abc"/);
  for (const bad of ['', '-', '+', '1 2', '12a', '0x10']) assert.throws(() => parseValue('int', bad), ValueError, bad);
  assert.equal(parseValue('int', '-999999999999999'), -999999999999999);
  assert.equal(parseValue('int', '-18446744073709551615'), -18446744073709551615n);
  assert.equal(formatValue('int', 18446744073709551615n), '18446744073709551615');
});

test('float and double: decimal strings in, shortest decimal out', () => {
  assert.equal(parseValue('float', '23.5'), 23.5);
  assert.equal(parseValue('double', '-1e3'), -1000);
  assert.throws(() => parseValue('float', ''), /expected a decimal number/);
  assert.throws(() => parseValue('double', 'NaN'), /expected a decimal number/);
  assert.throws(() => parseValue('float', Infinity), /only finite numbers/);
  assert.equal(parseValue('float', '5.6e-9'), 5.6e-9);
  assert.equal(parseValue('float', '+.5'), 0.5);
  assert.equal(parseValue('double', ' 1.25E+2 '), 125);
  assert.equal(formatValue('float', 235 * 0.1), '23.5');
  assert.equal(formatNumber(0.1 + 0.2), '0.3');
  assert.equal(formatValue('double', 21), '21');
});

test('boolean: true/false and 1/0', () => {
  for (const t of [true, 'true', 'TRUE', '1', 1]) assert.equal(parseValue('boolean', t), true);
  for (const f of [false, 'false', '0', 0]) assert.equal(parseValue('boolean', f), false);
  assert.throws(() => parseValue('boolean', 'yes'), /expected true, false, 1 or 0, got "yes"/);
  assert.equal(formatValue('boolean', true), 'true');
});

test('string and bytes: bytes travel as base64, or come in as 0x hex', () => {
  assert.equal(parseValue('string', 42), '42');
  assert.deepEqual(parseValue('bytes', 'AQID'), Uint8Array.of(1, 2, 3));
  assert.deepEqual(parseValue('bytes', '0x0a0b'), Uint8Array.of(10, 11));
  assert.throws(() => parseValue('bytes', 'not base64!'), /expected base64, or hex prefixed with 0x/);
  assert.equal(formatValue('bytes', Uint8Array.of(1, 2, 3)), 'AQID');
  assert.equal(formatValue('string', Uint8Array.from(Buffer.from('OK'))), 'OK');
});

test('numbers are decimal only: no hex, octal, binary, NaN or Infinity, and no arrays', () => {
  for (const type of ['int', 'float', 'double'] as const) {
    for (const bad of ['0x10', '0X10', '0b1111', '0o17', 'NaN', 'Infinity', '-Infinity', '1e', '1_000', '--1', '', '.', '1e400']) {
      if (type === 'int' && bad === '1e400') continue;
      assert.throws(() => parseValue(type, bad), (e: unknown) => e instanceof ValueError && /expected a decimal/.test(e.message), `${type} ${bad}`);
    }
  }
  // The API received {"value": [[13]]}: String() of it is "13", which used to pass.
  for (const type of ['int', 'float', 'double', 'boolean', 'string', 'bytes'] as const) {
    assert.throws(() => parseValue(type, [[13]]), /got an array \(\[\[13\]\]\)/, type);
    assert.throws(() => parseValue(type, { value: 1 }), /got an object/, type);
    assert.throws(() => parseValue(type, null), ValueError, type);
  }
  assert.throws(() => parseValue('boolean', 'yes'), /expected true, false, 1 or 0, got "yes"/);
  assert.throws(() => parseValue('boolean', 2), /expected true, false, 1 or 0/);
  assert.throws(() => parseValue('float', true), /expected a decimal number.*got boolean true/);
});

test('sameValue is exact: numbers, bigints, and bytes', () => {
  assert.ok(!sameValue(23.5, 23.500000000000004));
  // A 5.6e-9 F capacitance changing by 0.5% is a change (a 1e-9 tolerance used to hide it).
  assert.ok(!sameValue(5.6e-9, 5.628e-9));
  assert.ok(sameValue(5.6e-9, 5.6e-9));
  assert.ok(!sameValue(5n, 5.5));
  assert.ok(!sameValue(23.5, 23.6));
  assert.ok(sameValue(5n, 5));
  assert.ok(sameValue(Uint8Array.of(1, 2), Uint8Array.of(1, 2)));
  assert.ok(!sameValue(Uint8Array.of(1, 2), Uint8Array.of(1, 3)));
  assert.ok(!sameValue(undefined, 0));
});

test('sameAtWirePrecision: a FLOAT compares as float32, a DOUBLE exactly', () => {
  const readBack = Math.fround(23.1); // 23.100000381469727, what a float32 register holds
  assert.ok(sameAtWirePrecision('float', readBack, 23.1));
  assert.ok(!sameAtWirePrecision('double', readBack, 23.1));
  assert.ok(!sameAtWirePrecision('float', 23.2, 23.1));
  assert.ok(!sameAtWirePrecision('float', 5.6e-9, 5.628e-9));
  assert.ok(sameAtWirePrecision('int', 5n, 5));
  assert.ok(!sameAtWirePrecision('float', undefined, 1));
});

test('KubeEdge type names map to ours; STREAM has none', () => {
  assert.equal(typeFromKubeEdge('INT'), 'int');
  assert.equal(typeFromKubeEdge('double'), 'double');
  assert.equal(typeFromKubeEdge('STREAM'), undefined);
});
