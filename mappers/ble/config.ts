// The BLE configData: KubeEdge's fields as they are (macAddress; characteristicUUID, dataWrite,
// dataConverter), plus edgetwin's extensions inside configData (adapter and slots, notify or
// indicate, write without response, the SDK codec, advertisement sources).

import type { JsonSchema } from '../sdk/index.ts';
import { BYTE_ORDERS, CODEC_TYPES } from '../sdk/index.ts';
import { MAC_PATTERN, normUuid, UUID_PATTERN } from './ids.ts';

export interface BleProtocol {
  macAddress: string;
  /** HCI adapter name; devices on one adapter share its scan, its slots and one scheduler. */
  adapter: string;
  /** Connections the controller holds at once (most hold 5 to 10). */
  maxConnections: number;
  /** ms for finding, connecting and each GATT request. */
  timeout: number;
  /** An advertisement-only sensor is offline after this many ms without an advertisement. */
  advertisementTimeout: number;
}

export interface DataConverter {
  startIndex?: number;
  endIndex?: number;
  shiftLeft?: number;
  shiftRight?: number;
  orderOfOperations?: { operationType: string; operationValue: number }[];
}

export interface BleVisitor {
  characteristicUUID?: string;
  serviceUUID?: string;
  /** read (polled at collectCycle, the default), notify or indicate (pushed by the sensor). */
  mode?: 'read' | 'notify' | 'indicate';
  writeWithoutResponse?: boolean;
  dataConverter?: DataConverter;
  /** KubeEdge's value -> bytes table for writes: bytes as a list of numbers, or base64 as Go encodes []byte. */
  dataWrite?: Record<string, number[] | string>;
  /** The SDK codec: decode the bytes at `offset` as this type (GATT is little-endian: byteOrder little). */
  dataType?: string;
  byteOrder?: 'little' | 'big';
  order?: string;
  offset?: number;
  length?: number;
  bitIndex?: number;
  scale?: number;
  valueOffset?: number;
  /** The value comes from the sensor's advertisements, without connecting. */
  advertisement?: { source: 'manufacturerData' | 'serviceData' | 'rssi' | 'localName'; companyId?: number; serviceUUID?: string };
}

export const protocolSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['macAddress'],
  properties: {
    macAddress: { type: 'string', pattern: MAC_PATTERN },
    adapter: { type: 'string', pattern: '^hci\\d+$', default: 'hci0' },
    maxConnections: { type: 'integer', minimum: 1, maximum: 32, default: 5 },
    timeout: { type: 'integer', minimum: 100, maximum: 120000, default: 10000 },
    advertisementTimeout: { type: 'integer', minimum: 100, default: 60000 },
  },
};

const byteList = { type: 'array', items: { type: 'integer', minimum: 0, maximum: 255 }, minItems: 1 };

export const visitorSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    characteristicUUID: { type: 'string', pattern: UUID_PATTERN },
    serviceUUID: { type: 'string', pattern: UUID_PATTERN },
    mode: { enum: ['read', 'notify', 'indicate'], default: 'read' },
    writeWithoutResponse: { type: 'boolean', default: false },
    dataConverter: {
      type: 'object',
      additionalProperties: false,
      properties: {
        startIndex: { type: 'integer', minimum: 0 },
        endIndex: { type: 'integer', minimum: 0 },
        shiftLeft: { type: 'integer', minimum: 0, maximum: 52 },
        shiftRight: { type: 'integer', minimum: 0, maximum: 52 },
        orderOfOperations: {
          type: 'array',
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['operationType', 'operationValue'],
            properties: {
              operationType: { enum: ['Add', 'Subtract', 'Multiply', 'Divide', 'add', 'subtract', 'multiply', 'divide'] },
              operationValue: { type: 'number' },
            },
          },
        },
      },
    },
    dataWrite: { type: 'object', additionalProperties: { anyOf: [byteList, { type: 'string', pattern: '^[A-Za-z0-9+/]+=*$' }] } },
    dataType: { enum: [...CODEC_TYPES] },
    byteOrder: { enum: ['little', 'big'] },
    order: { enum: [...BYTE_ORDERS] },
    offset: { type: 'integer', minimum: 0 },
    length: { type: 'integer', minimum: 1 },
    bitIndex: { type: 'integer', minimum: 0 },
    scale: { type: 'number' },
    valueOffset: { type: 'number' },
    advertisement: {
      type: 'object',
      additionalProperties: false,
      required: ['source'],
      properties: {
        source: { enum: ['manufacturerData', 'serviceData', 'rssi', 'localName'] },
        companyId: { type: 'integer', minimum: 0, maximum: 65535 },
        serviceUUID: { type: 'string', pattern: UUID_PATTERN },
      },
    },
  },
};

/** Cross-field rules a schema cannot say; each message names the field. */
export function visitorProblems(v: BleVisitor, type: string, accessMode: string): { path: string; message: string }[] {
  const problems: { path: string; message: string }[] = [];
  const adv = v.advertisement;
  if (!adv && !v.characteristicUUID) problems.push({ path: 'characteristicUUID', message: 'characteristicUUID is required (or advertisement, for a value read from advertisements)' });
  if (adv && v.characteristicUUID) problems.push({ path: 'advertisement', message: 'advertisement and characteristicUUID exclude each other: a value comes from advertisements or from a characteristic' });
  if (adv?.source === 'serviceData' && !adv.serviceUUID) problems.push({ path: 'advertisement.serviceUUID', message: 'advertisement.serviceUUID is required with source serviceData' });
  if (adv && accessMode === 'ReadWrite') problems.push({ path: 'advertisement', message: 'a value read from advertisements cannot be written: declare the property ReadOnly' });
  if (adv && v.mode && v.mode !== 'read') problems.push({ path: 'mode', message: 'mode applies to characteristics; advertisements arrive by themselves' });
  if (v.dataConverter && v.dataType) problems.push({ path: 'dataType', message: 'dataConverter and dataType both say how to decode: keep one' });
  if (v.order && v.byteOrder) problems.push({ path: 'order', message: 'order and byteOrder both set the byte order: keep one' });
  if (v.offset !== undefined && !v.dataType) problems.push({ path: 'offset', message: 'offset needs dataType (the SDK codec); dataConverter uses startIndex and endIndex' });
  const dc = v.dataConverter;
  if (dc && (dc.startIndex === undefined) !== (dc.endIndex === undefined)) problems.push({ path: 'dataConverter.endIndex', message: 'dataConverter needs both startIndex and endIndex' });
  if (dc && dc.startIndex !== undefined && dc.endIndex !== undefined && Math.abs(dc.startIndex - dc.endIndex) > 6) {
    problems.push({ path: 'dataConverter.endIndex', message: 'dataConverter spans more than 7 bytes, which a number cannot hold exactly' });
  }
  if (dc && (type === 'string' || type === 'bytes' || type === 'boolean')) problems.push({ path: 'dataConverter', message: `dataConverter yields a number; the property type is ${type}` });
  if (v.dataWrite && accessMode !== 'ReadWrite') problems.push({ path: 'dataWrite', message: 'dataWrite is for writes: declare the property ReadWrite' });
  if (v.writeWithoutResponse && accessMode !== 'ReadWrite') problems.push({ path: 'writeWithoutResponse', message: 'writeWithoutResponse is for writes: declare the property ReadWrite' });
  const needsDecoder = (type === 'int' || type === 'float' || type === 'double' || type === 'boolean') && adv?.source !== 'rssi';
  if (needsDecoder && !dc && !v.dataType && !(v.characteristicUUID && knownDecoder(v.characteristicUUID))) {
    problems.push({ path: 'dataType', message: `say how to turn the bytes into a ${type}: dataType (e.g. int16 with byteOrder little and scale 0.01) or dataConverter` });
  }
  return problems;
}

/** GATT characteristics whose format the Bluetooth SIG fixes: decoded without any configuration. */
export const KNOWN_CHARACTERISTICS: Record<string, { name: string; dataType: string; scale?: number; unit?: string; property: string; type: 'INT' | 'FLOAT' | 'STRING' }> = {
  '2a19': { name: 'Battery Level', dataType: 'uint8', unit: '%', property: 'battery', type: 'INT' },
  '2a6e': { name: 'Temperature', dataType: 'int16', scale: 0.01, unit: '°C', property: 'temperature', type: 'FLOAT' },
  '2a6f': { name: 'Humidity', dataType: 'uint16', scale: 0.01, unit: '%', property: 'humidity', type: 'FLOAT' },
  '2a6d': { name: 'Pressure', dataType: 'uint32', scale: 0.1, unit: 'Pa', property: 'pressure', type: 'FLOAT' },
  '2a29': { name: 'Manufacturer Name String', dataType: 'string', property: 'manufacturer', type: 'STRING' },
  '2a24': { name: 'Model Number String', dataType: 'string', property: 'modelNumber', type: 'STRING' },
  '2a25': { name: 'Serial Number String', dataType: 'string', property: 'serialNumber', type: 'STRING' },
  '2a26': { name: 'Firmware Revision String', dataType: 'string', property: 'firmwareRevision', type: 'STRING' },
  '2a27': { name: 'Hardware Revision String', dataType: 'string', property: 'hardwareRevision', type: 'STRING' },
};

export function knownDecoder(uuid: string): (typeof KNOWN_CHARACTERISTICS)[string] | undefined {
  return KNOWN_CHARACTERISTICS[normUuid(uuid)];
}
