// A span's answer, property by property: the bytes each property's registers take in the data a
// span returned, cut out (decodeSpan, RawBlock.readings) or located for the runtime to decode in
// place (RawBlock.layout).

import type { BlockLayout, RawReading, ReadRequest } from '../sdk/index.ts';
import { TABLES, type ModbusVisitor, type RegisterMap } from './config.ts';
import { bitAt } from './pdu.ts';
import type { Span } from './plan.ts';

type Request = ReadRequest<ModbusVisitor>;

/**
 * Where each property's registers lie in the data a span returns, so the runtime decodes them in
 * place (RawBlock.layout): the same bytes decodeSpan cuts out. None for coils and discrete
 * inputs: a bit is not a run of bytes.
 */
function layoutOf(request: Request, maps: Map<string, RegisterMap>): BlockLayout | undefined {
  const span = request.detail as Span;
  if (TABLES[span.table].bits) return undefined;
  const offsets: number[] = [];
  const lengths: number[] = [];
  for (const p of request.properties) {
    const m = maps.get(p.name)!;
    offsets.push((m.address - span.address) * 2);
    lengths.push(m.count * 2);
  }
  return { offsets, lengths };
}

/** Cut each property's bytes out of the data a span returned. */
export function decodeSpan(request: Request, data: Uint8Array, maps: Map<string, RegisterMap>): RawReading[] {
  const span = request.detail as Span;
  return request.properties.map((p) => {
    const m = maps.get(p.name)!;
    const at = m.address - span.address;
    if (TABLES[m.table].bits) return { property: p.name, raw: Uint8Array.of(bitAt(data, at) ? 1 : 0) };
    return { property: p.name, raw: data.subarray(at * 2, (at + m.count) * 2) };
  });
}

/** layoutOf, built once per planned request, like its PDU: a plan's requests live as long as the connection. */
export function spanLayouts(maps: Map<string, RegisterMap>): (request: Request) => BlockLayout | undefined {
  const layouts = new WeakMap<Request, BlockLayout | undefined>();
  return (request) => {
    if (!layouts.has(request)) layouts.set(request, layoutOf(request, maps));
    return layouts.get(request);
  };
}
