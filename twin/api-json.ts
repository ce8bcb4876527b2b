// Twin views and desired results as JSON: values typed where JSON can carry them; 64-bit integers
// beyond 2^53 and bytes in their KubeEdge string form.
import { formatValue, type PropertyValue } from '../core/values.ts';
import type { DesiredResult, TwinView } from './types.ts';

/** A typed value as JSON: numbers, booleans and strings as they are; big integers and bytes as strings. */
export function jsonValue(type: Parameters<typeof formatValue>[0], v: PropertyValue): string | number | boolean {
  return typeof v === 'bigint' || v instanceof Uint8Array ? formatValue(type, v) : v;
}

export function jsonView(view: TwinView): unknown {
  const properties: Record<string, unknown> = {};
  for (const [name, p] of Object.entries(view.properties)) {
    properties[name] = {
      ...p,
      desired: p.desired && { ...p.desired, value: jsonValue(p.type, p.desired.value) },
      reported: p.reported && { ...p.reported, ...(p.reported.value !== undefined ? { value: jsonValue(p.type, p.reported.value) } : {}) },
    };
  }
  return { ...view, properties };
}

export function jsonResult(r: DesiredResult): unknown {
  return { ...r, value: typeof r.value === 'bigint' || r.value instanceof Uint8Array ? String(formatValue('bytes', r.value)) : r.value };
}
