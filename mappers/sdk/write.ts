// A desired value on its way to the device: parse, encode with the codec in reverse, write in the
// device's turn on its link, then read the property back through the same connection and the same
// pipeline as a poll (decode, block cache, report filter: pipeline.ts), so the twin learns what the
// device really holds and the read-back is reported like any other reading.

import { ErrorCodes, IoCodes } from '../../core/errors.ts';
import type { Reading, WriteOutcome } from '../../core/reading.ts';
import { parseValue, type PropertyValue } from '../../core/values.ts';
import { errorCode, errorMessage, isPermanent, raceAbort } from './async.ts';
import { encode } from './codec.ts';
import { toDriverValue } from './convert.ts';
import type { Connection, RawBlock, RawReading, ReadRequest } from './driver.ts';
import type { PreparedDevice } from './prepare.ts';

export interface WriteRequest {
  prepared: PreparedDevice;
  connection?: Connection;
  /** Message for a write to a device that is not connected (it says the state and why). */
  notConnected: string;
  /** Run one request in the device's turn on its link. */
  submit<T>(run: (signal: AbortSignal) => Promise<T>): Promise<T>;
  /** Call a driver hook, timing how long it holds the event loop. */
  call<T>(hook: string, fn: () => Promise<T>): Promise<T>;
  /** Put the read-back answer through the device's pipeline: reported like a poll; every property of the request decoded. */
  readBack(request: ReadRequest, result: RawReading[] | RawBlock): Reading[];
}

function fail(code: string, message: string): WriteOutcome {
  return { ok: false, error: { code, message } };
}

export async function writeProperty(req: WriteRequest, property: string, input: unknown): Promise<WriteOutcome> {
  const { prepared } = req;
  const id = prepared.spec.id;
  const spec = prepared.spec.properties.find((p) => p.name === property);
  if (!spec) return fail(ErrorCodes.NOT_FOUND, `device ${id} has no property ${property}`);
  if (spec.accessMode === 'ReadOnly') {
    return fail(ErrorCodes.READ_ONLY, `property ${property} of ${id} is ReadOnly and cannot be written (its DeviceModel sets accessMode ReadOnly)`);
  }
  const binding = prepared.binding.properties.find((p) => p.name === property);
  if (!binding) return fail(ErrorCodes.BAD_REQUEST, `property ${property} of ${id} is not served by the ${prepared.driver.name} driver: ${spec.unsupported ?? 'unsupported'}`);
  const conn = req.connection;
  if (!conn) return fail(IoCodes.NOT_CONNECTED, req.notConnected);

  let value: PropertyValue;
  let raw: Uint8Array | undefined;
  try {
    value = parseValue(spec.type, input);
  } catch (err) {
    return fail(ErrorCodes.BAD_REQUEST, `cannot write ${JSON.stringify(String(input))} to ${property} (type ${spec.type}): ${errorMessage(err)}`);
  }
  const codec = prepared.codecs.get(property);
  try {
    raw = codec ? encode(value, codec) : undefined;
  } catch (err) {
    return fail(IoCodes.CODEC, `cannot encode ${String(value)} for ${property}: ${errorMessage(err)}`);
  }

  try {
    await req.submit((signal) => raceAbort(req.call('write', () => conn.write(binding, { value: toDriverValue(binding, value), raw }, signal)), signal));
  } catch (err) {
    return { ...fail(errorCode(err, IoCodes.WRITE), `writing ${property} of ${id} failed: ${errorMessage(err)}`), ...(isPermanent(err) ? { permanent: true } : {}) };
  }

  const request = prepared.plan.find((r) => r.properties.some((p) => p.name === property)) ?? { properties: [binding] };
  let readings: Reading[];
  try {
    readings = req.readBack(request, await req.submit((signal) => raceAbort(req.call('read', () => conn.read(request, signal)), signal)));
  } catch (err) {
    return fail(errorCode(err, IoCodes.READ), `${property} of ${id} was written but reading it back failed: ${errorMessage(err)}`);
  }
  const mine = readings.find((r) => r.property === property)!;
  if (mine.quality === 'bad') {
    return fail(mine.error?.code ?? IoCodes.READ, `${property} of ${id} was written but reading it back failed: ${mine.error?.message ?? 'bad quality'}`);
  }
  return { ok: true, readBack: mine.value };
}
