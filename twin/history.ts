// The last minutes of each numeric property, in memory, for the dashboard's sparklines: a ring of
// at most `samples` points a property and `maxBytes` in all. Nothing here is persisted: the store
// keeps the twin, not a time series (Prometheus or the cloud does that).

import type { DeviceId } from '../core/device.ts';
import type { PropertyValue } from '../core/values.ts';
import type { DeviceTwin } from './twin.ts';
import type { TwinChange } from './types.ts';

/** Bytes a series costs: its two Float64Arrays and the bookkeeping around them. */
const overhead = 160;

class Series {
  readonly t: Float64Array;
  readonly v: Float64Array;
  next = 0;
  size = 0;
  constructor(n: number) {
    this.t = new Float64Array(n);
    this.v = new Float64Array(n);
  }
  push(t: number, v: number): void {
    this.t[this.next] = t;
    this.v[this.next] = v;
    this.next = (this.next + 1) % this.t.length;
    this.size = Math.min(this.size + 1, this.t.length);
  }
  /** Oldest first, as [time ms, value] pairs. */
  points(): [number, number][] {
    const out: [number, number][] = [];
    const n = this.t.length;
    for (let i = 0; i < this.size; i++) {
      const at = (this.next - this.size + i + n) % n;
      out.push([this.t[at]!, this.v[at]!]);
    }
    return out;
  }
}

export interface HistoryOptions {
  /** Samples kept a property (default 120). */
  samples?: number;
  /** Bytes kept in all (default 8 MB); a property first seen beyond it gets no sparkline. */
  maxBytes?: number;
}

/** A reading as a number for a chart, or undefined when it has none: its typed value when the twin gives it, else its text. */
function plotted(value: PropertyValue | undefined, text: string | null): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (typeof value === 'bigint') return Number(value);
  if (text === null) return undefined;
  if (text === 'true') return 1;
  if (text === 'false') return 0;
  const n = Number(text);
  return text.trim() !== '' && Number.isFinite(n) ? n : undefined;
}

export class PropertyHistory {
  readonly samples: number;
  readonly maxBytes: number;
  readonly #series = new Map<DeviceId, Map<string, Series>>();
  #bytes = 0;
  /** Properties refused a series because the budget was spent. */
  refused = 0;
  readonly #listener: (c: TwinChange) => void;

  constructor(private readonly twin: DeviceTwin, opts: HistoryOptions = {}) {
    this.samples = Math.max(2, opts.samples ?? 120);
    this.maxBytes = opts.maxBytes ?? 8 * 1024 * 1024;
    this.#listener = (c) => this.#take(c);
    twin.on('change', this.#listener);
  }

  get bytes(): number {
    return this.#bytes;
  }

  #take(c: TwinChange): void {
    if (c.kind === 'membership') {
      for (const v of c.removed) this.forget(v.device);
      return;
    }
    if (c.kind !== 'reported') return;
    let byProp = this.#series.get(c.device);
    for (const u of c.updates) {
      const v = plotted(u.value, u.text);
      if (v === undefined) continue;
      let s = byProp?.get(u.property);
      if (!s) {
        const cost = this.samples * 16 + overhead;
        if (this.#bytes + cost > this.maxBytes) {
          this.refused++;
          continue;
        }
        s = new Series(this.samples);
        this.#bytes += cost;
        if (!byProp) this.#series.set(c.device, (byProp = new Map()));
        byProp.set(u.property, s);
      }
      s.push(u.time, v);
    }
  }

  /** Every property's points of one device, oldest first. */
  of(device: DeviceId): Record<string, [number, number][]> {
    const out: Record<string, [number, number][]> = {};
    for (const [p, s] of this.#series.get(device) ?? []) out[p] = s.points();
    return out;
  }

  forget(device: DeviceId): void {
    const byProp = this.#series.get(device);
    if (!byProp) return;
    this.#bytes -= byProp.size * (this.samples * 16 + overhead);
    this.#series.delete(device);
  }

  close(): void {
    this.twin.off('change', this.#listener);
  }
}
