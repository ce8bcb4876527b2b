// The read plan: a device's properties grouped by register table (and poll cycle) and merged into
// as few requests as the PDU limits allow, bridging small gaps. Computed once per configuration.

import type { PropertyBinding, ReadRequest } from '../sdk/index.ts';
import { DEFAULT_MAX_GAP, mapOf, MAX_BITS, MAX_REGISTERS, TABLES, type ModbusProtocol, type ModbusVisitor, type RegisterTable } from './config.ts';

/** One wire read: FC1-4 from `address`, `count` registers or bits. */
export interface Span {
  table: RegisterTable;
  address: number;
  count: number;
}

export interface PlanLimits {
  /** Registers per FC3/FC4 request (<= 125). */
  maxRegisters: number;
  /** Bits per FC1/FC2 request (<= 2000). */
  maxBits: number;
  /** Unused registers (or bits) a request may bridge to save a request. */
  maxGap: number;
  coalesce: boolean;
}

export function limitsOf(config: ModbusProtocol): PlanLimits {
  return {
    maxRegisters: Math.min(MAX_REGISTERS, config.maxRegistersPerRequest ?? MAX_REGISTERS),
    maxBits: MAX_BITS,
    maxGap: config.maxGapRegisters ?? DEFAULT_MAX_GAP,
    coalesce: config.coalesce ?? true,
  };
}

type Request = ReadRequest<ModbusVisitor>;

function spanOf(p: PropertyBinding<ModbusVisitor>): Span {
  const m = mapOf(p);
  return { table: m.table, address: m.address, count: m.count };
}

/**
 * Greedy left-to-right merge over properties sorted by address: a request grows while the next
 * property starts within `maxGap` of its end and the whole still fits the PDU limit. For ranges on
 * a line with a gap and a length bound, extending as far as possible is optimal.
 */
export function planReads(properties: readonly PropertyBinding<ModbusVisitor>[], limits: PlanLimits): Request[] {
  const groups = new Map<string, PropertyBinding<ModbusVisitor>[]>();
  for (const p of properties) {
    // Properties polled at different cycles stay apart, so a slow one never rides a fast request.
    const key = `${p.visitor.register}:${p.spec.collectCycle}`;
    groups.set(key, [...(groups.get(key) ?? []), p]);
  }
  const requests: Request[] = [];
  for (const group of groups.values()) {
    const sorted = group.map((p) => ({ p, s: spanOf(p) })).sort((a, b) => a.s.address - b.s.address || a.s.count - b.s.count);
    if (!limits.coalesce) {
      for (const { p, s } of sorted) requests.push({ properties: [p], detail: s });
      continue;
    }
    const max = TABLES[sorted[0]!.s.table].bits ? limits.maxBits : limits.maxRegisters;
    let current: { props: PropertyBinding<ModbusVisitor>[]; span: Span } | undefined;
    for (const { p, s } of sorted) {
      if (current) {
        const end = current.span.address + current.span.count;
        const newEnd = Math.max(end, s.address + s.count);
        if (s.address - end <= limits.maxGap && newEnd - current.span.address <= max) {
          current.props.push(p);
          current.span.count = newEnd - current.span.address;
          continue;
        }
        requests.push({ properties: current.props, detail: current.span });
      }
      current = { props: [p], span: { ...s } };
    }
    if (current) requests.push({ properties: current.props, detail: current.span });
  }
  return requests;
}

/**
 * A merged request the device refused with exception 02 (illegal data address), split so the
 * unmapped registers it bridged are no longer asked for: first into gap-free runs, then, for a
 * run that is already gap-free, into single properties. Empty when it cannot be split further.
 */
export function splitRequest(request: Request, limits: PlanLimits): Request[] {
  if (request.properties.length < 2) return [];
  const runs = planReads(request.properties, { ...limits, maxGap: 0, coalesce: true });
  if (runs.length > 1) return runs;
  return planReads(request.properties, { ...limits, coalesce: false });
}
