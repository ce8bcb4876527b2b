// The Device YAML vocabulary of serial instruments (inside configData) and its JSON Schemas.

import type { JsonSchema, SerialSettings } from '../sdk/index.ts';
import { CODEC_TYPES, BYTE_ORDERS } from '../sdk/index.ts';
import type { ByteSpec } from './bytes.ts';
import type { ChecksumConfig } from './checksum.ts';
import type { ExtractConfig } from './extract.ts';
import type { FramingConfig } from './framer.ts';

export interface SerialProtocol {
  /** KubeEdge's serial field names. */
  serialPort: string;
  baudRate: number;
  dataBits?: 5 | 6 | 7 | 8;
  parity?: 'none' | 'even' | 'odd' | 'mark' | 'space' | 'N' | 'E' | 'O';
  stopBits?: 1 | 1.5 | 2;
  rs485?: boolean;
  /** This device's address on a multi-drop bus, for {address} in commands and patterns. */
  address?: number | string;
  framing: FramingConfig;
  checksum?: ChecksumConfig;
  /** Milliseconds to wait for an answer; default 1000. */
  timeout: number;
  /** Answers matching this regex fail the request with the answer as the message (e.g. "^ERR"). */
  errorPattern?: string;
  /** Streaming devices: milliseconds without a matching frame before readings turn bad; default 5000. */
  streamTimeout: number;
  /** Milliseconds after opening during which arriving bytes are ignored (late answers meant for an earlier session); default 100. */
  settleMs: number;
}

export interface SerialVisitor {
  /** Sent to read the property (text with escapes, or { hex }), with {address}. */
  command?: ByteSpec;
  /** A regex an answer must match to be this property's; default the extract regex. */
  match?: string;
  extract?: ExtractConfig;
  /** Unsolicited frames matching this regex update the property (capture group 1 unless extract says otherwise). */
  stream?: string;
  write?: { command: ByteSpec; expect?: string };
  scale?: number;
  valueOffset?: number;
}

const PARITY: Record<string, SerialSettings['parity']> = { N: 'none', E: 'even', O: 'odd' };

export function serialSettings(p: SerialProtocol): SerialSettings {
  return { path: p.serialPort, baudRate: p.baudRate, dataBits: p.dataBits, stopBits: p.stopBits, parity: p.parity ? PARITY[p.parity] ?? p.parity as SerialSettings['parity'] : undefined, rs485: p.rs485 };
}

const byteSpec: JsonSchema = {
  oneOf: [
    { type: 'string', minLength: 1 },
    { type: 'object', additionalProperties: false, required: ['hex'], properties: { hex: { type: 'string', minLength: 2 } } },
  ],
};
const offset = { type: 'integer' };
const maxLength = { type: 'integer', minimum: 1, maximum: 1048576 };

const framing: JsonSchema = {
  type: 'object',
  required: ['type'],
  properties: { type: { enum: ['delimiter', 'fixed', 'length', 'markers', 'silence'] } },
  allOf: [
    { if: { properties: { type: { const: 'delimiter' } } }, then: { additionalProperties: false, properties: { type: {}, delimiter: byteSpec, maxLength } } },
    { if: { properties: { type: { const: 'fixed' } } }, then: { additionalProperties: false, required: ['length'], properties: { type: {}, length: { type: 'integer', minimum: 1, maximum: 65536 }, start: byteSpec } } },
    {
      if: { properties: { type: { const: 'length' } } },
      then: {
        additionalProperties: false, required: ['lengthOffset'],
        properties: {
          type: {}, start: byteSpec, lengthOffset: { type: 'integer', minimum: 0 }, lengthSize: { enum: [1, 2] }, lengthOrder: { enum: ['big', 'little'] },
          lengthCounts: { enum: ['all', 'following'] }, lengthAdjust: { type: 'integer' }, maxLength,
        },
      },
    },
    { if: { properties: { type: { const: 'markers' } } }, then: { additionalProperties: false, required: ['start', 'end'], properties: { type: {}, start: byteSpec, end: byteSpec, escape: byteSpec, escapeXor: { type: 'integer', minimum: 0, maximum: 255 }, maxLength } } },
    { if: { properties: { type: { const: 'silence' } } }, then: { additionalProperties: false, required: ['silenceMs'], properties: { type: {}, silenceMs: { type: 'number', minimum: 1, maximum: 60000 }, maxLength } } },
  ],
};

const checksum: JsonSchema = {
  type: 'object', additionalProperties: false, required: ['type'],
  properties: {
    type: { enum: ['none', 'xor', 'sum8', 'crc16-modbus', 'crc16-ccitt'] },
    from: offset, to: offset, at: offset,
    encoding: { enum: ['binary', 'hex'] },
    order: { enum: ['big', 'little'] },
  },
};

export const protocolSchema: JsonSchema = {
  type: 'object', additionalProperties: false, required: ['serialPort', 'framing'],
  properties: {
    serialPort: { type: 'string', minLength: 1 },
    baudRate: { type: 'integer', minimum: 50, maximum: 4000000, default: 9600 },
    dataBits: { enum: [5, 6, 7, 8] },
    parity: { enum: ['none', 'even', 'odd', 'mark', 'space', 'N', 'E', 'O'] },
    stopBits: { enum: [1, 1.5, 2] },
    rs485: { type: 'boolean' },
    address: { oneOf: [{ type: 'integer', minimum: 0 }, { type: 'string', minLength: 1 }] },
    framing,
    checksum,
    timeout: { type: 'integer', minimum: 1, maximum: 600000, default: 1000 },
    errorPattern: { type: 'string', minLength: 1 },
    streamTimeout: { type: 'integer', minimum: 1, maximum: 86400000, default: 5000 },
    settleMs: { type: 'integer', minimum: 0, maximum: 60000, default: 100 },
  },
};

export const visitorSchema: JsonSchema = {
  type: 'object', additionalProperties: false,
  properties: {
    command: byteSpec,
    match: { type: 'string', minLength: 1 },
    // One object rather than a oneOf, so a mistake gets one message naming the field; check()
    // requires exactly one of regex, bytes and jsonPath.
    extract: {
      type: 'object', additionalProperties: false,
      properties: {
        regex: { type: 'string', minLength: 1 },
        group: { type: 'integer', minimum: 0 },
        bytes: {
          type: 'object', additionalProperties: false, required: ['offset', 'type'],
          properties: { offset, type: { enum: CODEC_TYPES }, length: { type: 'integer', minimum: 1 }, order: { enum: BYTE_ORDERS }, bitIndex: { type: 'integer', minimum: 0 } },
        },
        jsonPath: { type: 'string', pattern: '^\\$' },
      },
    },
    stream: { type: 'string', minLength: 1 },
    write: {
      type: 'object', additionalProperties: false, required: ['command'],
      properties: { command: byteSpec, expect: { type: 'string', minLength: 1 } },
    },
    scale: { type: 'number' },
    valueOffset: { type: 'number' },
  },
};
