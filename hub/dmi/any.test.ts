import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigDataError, packAny, packConfigData, unpackAny, unpackConfigData } from './any.ts';

const round = (v: unknown) => unpackAny(packAny(v, 'k'), 'k');

test('scalars travel in the wrappers KubeEdge uses and come back as written', () => {
  assert.equal(packAny('x', 'k').type_url, 'type.googleapis.com/google.protobuf.StringValue');
  assert.equal(packAny(502, 'k').type_url, 'type.googleapis.com/google.protobuf.Int32Value');
  assert.equal(packAny(2 ** 40, 'k').type_url, 'type.googleapis.com/google.protobuf.Int64Value');
  assert.equal(packAny(0.1, 'k').type_url, 'type.googleapis.com/google.protobuf.FloatValue');
  assert.equal(packAny(true, 'k').type_url, 'type.googleapis.com/google.protobuf.BoolValue');
  for (const v of ['', 'héllo', 0, 1, -1, -(2 ** 31), 2 ** 31 - 1, 2 ** 40, -(2 ** 40), 0.1, -2.5, 1e-7, true, false]) assert.equal(round(v), v, String(v));
});

test('a number float32 cannot hold as written goes as DoubleValue, unrounded', () => {
  assert.equal(packAny(0.123456789, 'k').type_url, 'type.googleapis.com/google.protobuf.DoubleValue');
  assert.equal(round(0.123456789), 0.123456789);
});

test('lists and maps go as google.protobuf.Value', () => {
  const v = { a: [1, 'two', { three: true }], b: null, c: { d: -0.5 } };
  assert.equal(packAny(v, 'k').type_url, 'type.googleapis.com/google.protobuf.Value');
  assert.deepEqual(round(v), v);
  assert.deepEqual(unpackConfigData(packConfigData({ x: [1, 2], y: 'z' })), { x: [1, 2], y: 'z' });
});

test('an Any of another type is an error naming the key', () => {
  assert.throws(() => unpackAny({ type_url: 'type.googleapis.com/acme.Thing', value: new Uint8Array() }, 'port'), (e: Error) => e instanceof ConfigDataError && /configData\.port.*acme\.Thing/.test(e.message));
  assert.throws(() => unpackAny({ type_url: 'type.googleapis.com/google.protobuf.Timestamp', value: new Uint8Array() }, 'at'), /configData\.at/);
  assert.throws(() => unpackAny({ type_url: 'type.googleapis.com/google.protobuf.StringValue', value: Uint8Array.from([10, 9, 1]) }, 'bad'), /configData\.bad.*not valid protobuf/);
});
