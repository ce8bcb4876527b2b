import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decode } from '../sdk/index.ts';
import { parseBinding } from './noble-loader.ts';
import { normUuid } from './ids.ts';
import { advertisementPayload, codecFor, convertRead, dataWriteBytes } from './values.ts';

test('dataConverter: byte range in either direction, shifts, then operations in order', () => {
  const bytes = Uint8Array.from([0x7c, 0x0b, 0x10, 0x20]);
  assert.equal(convertRead(bytes, { startIndex: 1, endIndex: 0, shiftRight: 2, orderOfOperations: [{ operationType: 'Multiply', operationValue: 0.03125 }] }), 22.96875);
  assert.equal(convertRead(bytes, { startIndex: 0, endIndex: 1 }), 0x7c0b);
  assert.equal(convertRead(bytes, { startIndex: 2, endIndex: 2, shiftLeft: 4 }), 0x100);
  assert.equal(convertRead(bytes, { startIndex: 3, endIndex: 3, orderOfOperations: [{ operationType: 'Subtract', operationValue: 2 }, { operationType: 'Divide', operationValue: 10 }, { operationType: 'add', operationValue: 0.1 }] }), 3.1);
  assert.throws(() => convertRead(bytes, { startIndex: 2, endIndex: 5 }), /reads byte 5, the characteristic sent 4 bytes/);
});

test('dataWrite: bytes as a number list or base64 (Go []byte), case-insensitive, unknown values refused', () => {
  const table = { ON: [1, 2], OFF: 'AA==' };
  assert.deepEqual([...dataWriteBytes(table, 'ON')], [1, 2]);
  assert.deepEqual([...dataWriteBytes(table, 'off')], [0]);
  assert.throws(() => dataWriteBytes(table, 'DIM'), /no bytes for "DIM" \(it maps "ON", "OFF"\)/);
});

test('codec: little-endian by default, big on request, well-known characteristics need no configuration', () => {
  assert.equal(decode(Uint8Array.from([0x66, 0x08]), codecFor({ characteristicUUID: '2a6e' }, 'float')!), 21.5);
  assert.equal(decode(Uint8Array.from([0x08, 0x66]), codecFor({ characteristicUUID: 'ffe1', dataType: 'int16', byteOrder: 'big' }, 'int')!), 2150);
  assert.equal(decode(Uint8Array.from([0x02, 0x76, 0x0f, 0x00]), codecFor({ characteristicUUID: '2a6d' }, 'float')!), 101325);
  assert.equal(codecFor({ characteristicUUID: 'ffe1' }, 'int'), undefined);
  assert.equal(codecFor({ characteristicUUID: '2a6e', dataConverter: { startIndex: 0, endIndex: 1 } }, 'float'), undefined);
});

test('advertisement payloads: company id matched little-endian, service data by UUID, RSSI', () => {
  const adv = { manufacturerData: Buffer.from('99040511f8', 'hex'), serviceData: [{ uuid: 'fcd2', data: Buffer.from('40015a', 'hex') }] };
  assert.deepEqual([...advertisementPayload(adv, -60, { source: 'manufacturerData', companyId: 0x0499 }) as Uint8Array], [0x05, 0x11, 0xf8]);
  assert.equal(advertisementPayload(adv, -60, { source: 'manufacturerData', companyId: 0x004c }), undefined, 'another company\'s data is not ours');
  assert.deepEqual([...advertisementPayload(adv, -60, { source: 'serviceData', serviceUUID: '0xFCD2' }) as Uint8Array], [0x40, 0x01, 0x5a]);
  assert.equal(advertisementPayload(adv, -60, { source: 'rssi' }), -60);
});

test('UUIDs and bindings as users write them', () => {
  assert.equal(normUuid('0x2A6E'), '2a6e');
  assert.equal(normUuid('00002a6e-0000-1000-8000-00805f9b34fb'), '2a6e');
  assert.equal(normUuid('F000AA01-0451-4000-B000-000000000000'), 'f000aa0104514000b000000000000000');
  assert.deepEqual(parseBinding('hci'), { kind: 'hci' });
  assert.equal((parseBinding('sim:world.yaml') as { file: string }).file.endsWith('/world.yaml'), true);
  assert.throws(() => parseBinding('usb'), /unknown BLE binding "usb": use hci \(a real adapter\) or sim:<file>/);
});
