// Which readings reach the sink: a change beyond the deadband, a change of quality or error,
// or an unchanged value whose reportCycle has come round. Everything else stays at the edge.

import type { Reading } from '../../core/reading.ts';
import { sameValue, type PropertyValue } from '../../core/values.ts';

export interface ReportRule {
  /** Absolute change a numeric value must exceed to be reported; undefined reports any change. */
  deadband?: number;
  /** ms after which an unchanged value is reported again; 0 reports on change only. */
  reportCycle: number;
}

interface Last {
  value: PropertyValue | undefined;
  quality: Reading['quality'];
  code: string | undefined;
  time: number;
}

const numeric = (v: PropertyValue | undefined): v is number | bigint => typeof v === 'number' || typeof v === 'bigint';

export function changedBeyond(a: PropertyValue | undefined, b: PropertyValue | undefined, deadband: number | undefined): boolean {
  if (deadband !== undefined && deadband > 0 && numeric(a) && numeric(b)) return Math.abs(Number(a) - Number(b)) > deadband;
  return !sameValue(a, b);
}

const ON_CHANGE: ReportRule = { reportCycle: 0 };

export class ReportFilter {
  readonly #last = new Map<string, Last>();
  /** Raw bytes of each property's latest good reading, whether it was reported or not. */
  readonly #raw = new Map<string, Uint8Array>();
  readonly #rules: ReadonlyMap<string, ReportRule>;

  constructor(rules: ReadonlyMap<string, ReportRule>) {
    this.#rules = rules;
  }

  /** True when the reading should be reported; remembers it as the last reported one if so. */
  admit(reading: Reading, now: number): boolean {
    const last = this.#last.get(reading.property);
    if (!last) {
      this.#last.set(reading.property, { value: reading.value, quality: reading.quality, code: reading.error?.code, time: now });
      return true;
    }
    const rule = this.#rules.get(reading.property) ?? ON_CHANGE;
    const report =
      last.quality !== reading.quality ||
      last.code !== reading.error?.code ||
      changedBeyond(last.value, reading.value, rule.deadband) ||
      (rule.reportCycle > 0 && now - last.time >= rule.reportCycle);
    if (report) {
      // Updated in place: this runs for every reading, and a stream can bring thousands a second.
      last.value = reading.value;
      last.quality = reading.quality;
      last.code = reading.error?.code;
      last.time = now;
    }
    return report;
  }

  /**
   * Report by exception at the byte level: true when a property's new raw bytes equal those of its
   * latest good reading and no reportCycle is due. Decoding them would give that reading's value
   * again, and admit() would turn it away, so the runtime can skip decoding altogether: most
   * registers of a plant hold still between polls.
   */
  unchanged(property: string, bytes: Uint8Array, now: number): boolean {
    const prev = this.#raw.get(property);
    if (!prev || prev.length !== bytes.length) return false;
    for (let i = 0; i < bytes.length; i++) if (prev[i] !== bytes[i]) return false;
    const last = this.#last.get(property);
    if (!last || last.quality !== 'good') return false;
    const rule = this.#rules.get(property);
    return !(rule && rule.reportCycle > 0 && now - last.time >= rule.reportCycle);
  }

  /** Remember the bytes of a good reading (copied: drivers may reuse their buffers), or forget them. */
  rawSeen(property: string, bytes: Uint8Array | undefined): void {
    if (bytes) this.#raw.set(property, Uint8Array.from(bytes));
    else this.#raw.delete(property);
  }

  /** Forget what was reported (a restarted device reports everything afresh). */
  clear(): void {
    this.#last.clear();
    this.#raw.clear();
  }
}
