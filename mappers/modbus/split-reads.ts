// A merged read the device refuses with exception 02 (illegal data address: a gap in its register
// map) is read as smaller requests instead, split until each part answers or holds one property.
// How each request was split is kept per plan request (whose identity lasts as long as the
// configuration), so neither the next poll nor a reconnect asks the refused request again.

import type { Logger } from '../../core/log.ts';
import type { RawReading, ReadRequest } from '../sdk/index.ts';
import type { ModbusVisitor } from './config.ts';
import { ModbusException } from './pdu.ts';
import { splitRequest, type PlanLimits, type Span } from './plan.ts';

type Request = ReadRequest<ModbusVisitor>;

const splits = new WeakMap<object, Request[]>();

/** True once a request has been split: it is read in parts from then on. */
export function isSplit(request: Request): boolean {
  return splits.has(request);
}

/** Whether an error is the exception 02 that a split may get round. */
export function refusedAddress(err: unknown): err is ModbusException {
  return err instanceof ModbusException && err.exception === 2;
}

/**
 * Read `request` in parts: the known split, or a fresh one after `refused` (the exception 02 the
 * whole request got). `read` fetches and decodes one part.
 */
export async function readInParts(request: Request, limits: PlanLimits, read: (part: Request) => Promise<RawReading[]>, log: Logger, refused?: ModbusException): Promise<RawReading[]> {
  const parts = splits.get(request) ?? splitRequest(request, limits);
  if (!parts.length) return request.properties.map((p) => ({ property: p.name, error: { code: refused!.code, message: refused!.message } }));
  const leaves: Request[] = [];
  const readings: RawReading[] = [];
  const readSplitting = async (part: Request): Promise<void> => {
    try {
      readings.push(...await read(part));
      leaves.push(part);
    } catch (err) {
      if (!refusedAddress(err)) throw err;
      const smaller = splitRequest(part, limits);
      if (!smaller.length) {
        leaves.push(part);
        readings.push(...part.properties.map((p) => ({ property: p.name, error: { code: err.code, message: err.message } })));
        return;
      }
      for (const s of smaller) await readSplitting(s);
    }
  };
  for (const part of parts) await readSplitting(part);
  const known = splits.get(request);
  if (!known || known.length !== leaves.length || !known.every((r, i) => r === leaves[i])) {
    splits.set(request, leaves);
    const span = request.detail as Span;
    log.warn({ table: span.table, address: span.address, count: span.count, requests: leaves.length }, 'the device refused a merged read (exception 02); reading it as smaller requests from now on');
  }
  return readings;
}
