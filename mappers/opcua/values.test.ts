// Conversions between OPC UA variants and status codes and edgetwin values and quality.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DataType, DataValue, StatusCodes, Variant, VariantArrayType } from 'node-opcua-client';
import type { PushChannel, RawReading } from '../sdk/driver.ts';
import { fromVariant, pushDataValue, statusCodeName, toRaw, toVariant } from './values.ts';

test('status names become stable upper-case codes', () => {
  assert.equal(statusCodeName(StatusCodes.BadNodeIdUnknown), 'BAD_NODE_ID_UNKNOWN');
  assert.equal(statusCodeName(StatusCodes.BadNotWritable), 'BAD_NOT_WRITABLE');
  assert.equal(statusCodeName(StatusCodes.UncertainLastUsableValue), 'UNCERTAIN_LAST_USABLE_VALUE');
});

test('a DataValue carries its source time and quality', () => {
  const t = new Date('2026-01-02T03:04:05.678Z');
  const ok = toRaw('p', new DataValue({ value: new Variant({ dataType: DataType.Double, value: 2.5 }), sourceTimestamp: t, statusCode: StatusCodes.Good }), 'node x');
  assert.deepEqual(ok, { property: 'p', value: 2.5, time: t.getTime(), quality: 'good' });
  const uncertain = toRaw('p', new DataValue({ value: new Variant({ dataType: DataType.Double, value: 2.5 }), statusCode: StatusCodes.UncertainLastUsableValue }), 'node x');
  assert.equal(uncertain.quality, 'uncertain');
  assert.equal(uncertain.value, 2.5, 'an uncertain value is kept');
  const bad = toRaw('p', new DataValue({ statusCode: StatusCodes.BadDeviceFailure, sourceTimestamp: t }), 'node x');
  assert.equal(bad.quality, 'bad');
  assert.equal(bad.error?.code, 'BAD_DEVICE_FAILURE');
  assert.match(bad.error!.message, /node x returned BadDeviceFailure \(0x808b0000\)/);
  assert.equal(bad.value, undefined);
});

test('a subscription\'s DataValue goes into the push channel by index when good or uncertain, as a described reading otherwise', () => {
  const seen: unknown[] = [];
  const push: PushChannel = {
    value: (index, value, time, quality) => seen.push(['value', index, value, time, quality]),
    reading: (r: RawReading) => seen.push(['reading', r]),
  };
  const t = new Date('2026-01-02T03:04:05.678Z');
  pushDataValue(push, 3, 'p', new DataValue({ value: new Variant({ dataType: DataType.Double, value: 2.5 }), sourceTimestamp: t, statusCode: StatusCodes.Good }), 'node x');
  pushDataValue(push, 4, 'q', new DataValue({ value: new Variant({ dataType: DataType.Int32, value: 7 }), statusCode: StatusCodes.UncertainLastUsableValue }), 'node y');
  pushDataValue(push, 5, 'r', new DataValue({ statusCode: StatusCodes.BadDeviceFailure, sourceTimestamp: t }), 'node z');
  pushDataValue(push, 6, 's', new DataValue({ value: new Variant({ dataType: DataType.Double, value: null }), sourceTimestamp: t }), 'node w');
  assert.deepEqual(seen.slice(0, 2), [['value', 3, 2.5, t.getTime(), 'good'], ['value', 4, 7, undefined, 'uncertain']]);
  const [bad, empty] = seen.slice(2) as [string, RawReading][];
  assert.equal(bad[0], 'reading');
  assert.deepEqual([bad[1].property, bad[1].quality, bad[1].error?.code], ['r', 'bad', 'BAD_DEVICE_FAILURE']);
  assert.match(bad[1].error!.message, /node z returned BadDeviceFailure/);
  assert.deepEqual([empty[1].property, empty[1].quality, empty[1].error?.code], ['s', 'bad', 'ENODATA']);
});

test('64-bit integers are exact in both directions', () => {
  const i64 = (value: [number, number]) => fromVariant(new Variant({ dataType: DataType.Int64, arrayType: VariantArrayType.Scalar, value }));
  assert.equal(i64([0xffffffff, 0xfffffffe]), -2);
  assert.equal(i64([0x7fffffff, 0xffffffff]), 9223372036854775807n);
  assert.equal(fromVariant(new Variant({ dataType: DataType.UInt64, arrayType: VariantArrayType.Scalar, value: [0xffffffff, 0xffffffff] })), 18446744073709551615n);
  assert.deepEqual(toVariant(-2, DataType.Int64).value, [0xffffffff, 0xfffffffe]);
  assert.deepEqual(toVariant(18446744073709551615n, DataType.UInt64).value, [0xffffffff, 0xffffffff]);
  assert.throws(() => toVariant(-1, DataType.UInt64), { code: 'ERANGE' });
  assert.throws(() => toVariant(1.5, DataType.Int64), { code: 'ETYPE' });
});

test('writes refuse values that do not fit the DataType', () => {
  assert.throws(() => toVariant(256, DataType.Byte), { code: 'ERANGE', message: /256 is out of range for Byte \(0\.\.255\)/ });
  assert.throws(() => toVariant(-129, DataType.SByte), { code: 'ERANGE' });
  assert.throws(() => toVariant(1.5, DataType.Int32), { code: 'ETYPE' });
  assert.throws(() => toVariant('maybe', DataType.Boolean), { code: 'ETYPE' });
  assert.equal(toVariant(1, DataType.Boolean).value, true);
  assert.equal(toVariant(3, DataType.Double).dataType, DataType.Double);
  assert.deepEqual(toVariant(Uint8Array.of(1, 2), DataType.ByteString).value, Buffer.from([1, 2]));
  assert.equal((toVariant('2026-01-01T00:00:00Z', DataType.DateTime).value as Date).toISOString(), '2026-01-01T00:00:00.000Z');
});

test('other variants read as text', () => {
  assert.equal(fromVariant(new Variant({ dataType: DataType.LocalizedText, value: { text: 'Running', locale: 'en' } })), 'Running');
  assert.equal(fromVariant(new Variant({ dataType: DataType.DateTime, value: new Date('2026-01-01T00:00:00Z') })), '2026-01-01T00:00:00.000Z');
  assert.equal(fromVariant(new Variant({ dataType: DataType.Double, arrayType: VariantArrayType.Array, value: [1, 2] })), '[1,2]');
});

test('scalars of the plain DataTypes come through as they are, the others are converted', () => {
  const scalar = (dataType: DataType, value: unknown) => fromVariant(new Variant({ dataType, arrayType: VariantArrayType.Scalar, value }));
  assert.equal(scalar(DataType.Boolean, true), true);
  for (const t of [DataType.SByte, DataType.Byte, DataType.Int16, DataType.UInt16, DataType.Int32, DataType.UInt32]) assert.equal(scalar(t, 7), 7, DataType[t]);
  assert.equal(scalar(DataType.Float, 1.5), 1.5);
  assert.equal(scalar(DataType.Double, 2.25), 2.25);
  assert.equal(scalar(DataType.String, 'on'), 'on');
  assert.equal(scalar(DataType.UInt64, [0, 5]), 5);
  assert.equal(scalar(DataType.DateTime, new Date('2026-01-02T03:04:05.678Z')), '2026-01-02T03:04:05.678Z');
  assert.equal(scalar(DataType.LocalizedText, { text: 'hello' }), 'hello');
  assert.equal(scalar(DataType.Double, null), undefined);
});
