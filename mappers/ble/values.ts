// Bytes <-> values for BLE properties: KubeEdge's dataConverter and dataWrite, the SDK codec
// (dataType, little-endian by default as GATT sends numbers), the SIG's well-known
// characteristics, and the payload of an advertisement.

import type { PropertyType, PropertyValue } from '../../core/values.ts';
import { roundNoise, type ByteOrder, type CodecSpec, type CodecType, type PropertyBinding } from '../sdk/index.ts';
import { knownDecoder, type BleVisitor, type DataConverter } from './config.ts';
import { normUuid } from './ids.ts';

/**
 * KubeEdge's dataConverter: the bytes from startIndex to endIndex (read backwards when start is
 * past end, which is how a little-endian value is written) form an unsigned big-endian integer;
 * then shiftLeft, shiftRight, and the operations in order. The CC2541 example: startIndex 1,
 * endIndex 0, shiftRight 2, Multiply 0.03125.
 */
export function convertRead(data: Uint8Array, dc: DataConverter): number {
  const start = dc.startIndex ?? 0;
  const end = dc.endIndex ?? data.length - 1;
  const top = Math.max(start, end);
  if (top >= data.length) throw new RangeError(`dataConverter reads byte ${top}, the characteristic sent ${data.length} bytes`);
  let n = 0n;
  const step = start <= end ? 1 : -1;
  for (let i = start; ; i += step) {
    n = (n << 8n) | BigInt(data[i]!);
    if (i === end) break;
  }
  if (dc.shiftLeft) n <<= BigInt(dc.shiftLeft);
  if (dc.shiftRight) n >>= BigInt(dc.shiftRight);
  let value = Number(n);
  for (const op of dc.orderOfOperations ?? []) {
    switch (op.operationType.toLowerCase()) {
      case 'add': value += op.operationValue; break;
      case 'subtract': value -= op.operationValue; break;
      case 'multiply': value *= op.operationValue; break;
      case 'divide': value /= op.operationValue; break;
    }
  }
  return roundNoise(value);
}

/** KubeEdge's dataWrite: the bytes a value stands for, or an error listing the values it knows. */
export function dataWriteBytes(table: NonNullable<BleVisitor['dataWrite']>, value: PropertyValue): Buffer {
  const key = String(value);
  const entry = table[key] ?? Object.entries(table).find(([k]) => k.toLowerCase() === key.toLowerCase())?.[1];
  if (entry === undefined) throw new RangeError(`dataWrite has no bytes for "${key}" (it maps ${Object.keys(table).map((k) => `"${k}"`).join(', ')})`);
  return typeof entry === 'string' ? Buffer.from(entry, 'base64') : Buffer.from(entry);
}

function littleOrder(width: number | undefined): ByteOrder {
  return width === undefined || width < 2 ? 'ABCD' : 'DCBA';
}

const WIDTH: Partial<Record<string, number>> = { int16: 2, uint16: 2, int32: 4, uint32: 4, float32: 4, int64: 8, uint64: 8, float64: 8 };

/** The SDK codec for a property: its dataType, or the SIG format of a well-known characteristic. */
export function codecFor(v: BleVisitor, type: PropertyType): CodecSpec | undefined {
  if (v.dataConverter || v.dataWrite) return undefined;
  const known = !v.dataType && v.characteristicUUID ? knownDecoder(v.characteristicUUID) : undefined;
  const dataType = v.dataType ?? known?.dataType;
  if (!dataType) return type === 'string' ? { type: 'string' } : type === 'bytes' ? { type: 'bytes' } : undefined;
  const order = (v.order as ByteOrder | undefined) ?? (v.byteOrder === 'big' ? 'ABCD' : littleOrder(WIDTH[dataType]));
  return {
    type: dataType as CodecType,
    order,
    length: v.length,
    bitIndex: v.bitIndex,
    scale: v.scale ?? known?.scale,
    valueOffset: v.valueOffset,
  };
}

/** The bytes the codec decodes: from `offset` on. */
export function atOffset(data: Uint8Array, v: BleVisitor): Uint8Array {
  return v.offset ? data.subarray(v.offset) : data;
}

export interface AdvertisementView {
  localName?: string;
  manufacturerData?: Buffer;
  serviceData?: { uuid: string; data: Buffer }[];
}

/**
 * What an advertisement carries for one property: manufacturer data after its 16-bit company id
 * (little-endian, as the spec sends it), or one service's data. undefined when absent, or from
 * another company.
 */
export function advertisementPayload(adv: AdvertisementView, rssi: number, source: NonNullable<BleVisitor['advertisement']>): Uint8Array | number | string | undefined {
  switch (source.source) {
    case 'rssi': return rssi;
    case 'localName': return adv.localName || undefined;
    case 'manufacturerData': {
      const m = adv.manufacturerData;
      if (!m || m.length < 2) return undefined;
      if (source.companyId !== undefined && m.readUInt16LE(0) !== source.companyId) return undefined;
      return m.subarray(2);
    }
    case 'serviceData': {
      const uuid = normUuid(source.serviceUUID ?? '');
      return adv.serviceData?.find((s) => normUuid(s.uuid) === uuid)?.data;
    }
  }
}

/** Decode a characteristic value or advertisement payload that the codec does not handle. */
export function decodeDirect(p: PropertyBinding<BleVisitor>, data: Uint8Array): PropertyValue {
  if (p.visitor.dataConverter) return convertRead(data, p.visitor.dataConverter);
  // A state characteristic written through dataWrite reads back as the value its bytes stand for.
  const named = p.visitor.dataWrite && Object.keys(p.visitor.dataWrite).find((k) => dataWriteBytes(p.visitor.dataWrite!, k).equals(data));
  if (named) return named;
  if (p.spec.type === 'string') return Buffer.from(data).toString('utf8').replace(/\0+$/, '');
  return Uint8Array.from(data);
}
