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

/**
 * One property's state in the filter. The runtime keeps the slots of a request's properties at
 * hand, so a poll finds them by index rather than by name in three maps.
 */
export interface ReportSlot {
  readonly rule: ReportRule;
  /** The last reported reading. */
  last?: Last;
  /** Raw bytes of the latest good reading, whether it was reported or not. */
  raw?: Uint8Array;
}

const numeric = (v: PropertyValue | undefined): v is number | bigint => typeof v === 'number' || typeof v === 'bigint';

export function changedBeyond(a: PropertyValue | undefined, b: PropertyValue | undefined, deadband: number | undefined): boolean {
  // Two plain numbers without a deadband, the common case of a stream: no type tests beyond these.
  if (deadband === undefined && typeof a === 'number' && typeof b === 'number') return a !== b;
  if (deadband !== undefined && deadband > 0 && numeric(a) && numeric(b)) return Math.abs(Number(a) - Number(b)) > deadband;
  return !sameValue(a, b);
}

const ON_CHANGE: ReportRule = { reportCycle: 0 };

export class ReportFilter {
  readonly #slots = new Map<string, ReportSlot>();
  readonly #rules: ReadonlyMap<string, ReportRule>;

  constructor(rules: ReadonlyMap<string, ReportRule>) {
    this.#rules = rules;
  }

  /** The property's slot; the same object for the filter's whole life (clear() empties it). */
  slot(property: string): ReportSlot {
    let slot = this.#slots.get(property);
    if (!slot) this.#slots.set(property, (slot = { rule: this.#rules.get(property) ?? ON_CHANGE }));
    return slot;
  }

  /** True when the reading should be reported; remembers it as the last reported one if so. */
  admit(reading: Reading, now: number, slot = this.slot(reading.property)): boolean {
    const last = slot.last;
    if (!last) {
      // `value` starts undefined and is set after: V8 then keeps the field a plain reference for
      // every Last. Created with a number, it becomes a field of doubles, each in a box of its own,
      // and with a few values past 2^30 among 10,000 properties (a uint32 clock) admit() ran ten
      // times slower (a benchmark of ReadPipeline.ingest: about 1 us a value instead of 0.1).
      const l: Last = { value: undefined, quality: reading.quality, code: reading.error?.code, time: now };
      l.value = reading.value;
      slot.last = l;
      return true;
    }
    const rule = slot.rule;
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
  unchanged(property: string | ReportSlot, bytes: Uint8Array, now: number): boolean {
    return this.unchangedAt(typeof property === 'string' ? this.slot(property) : property, bytes, 0, bytes.length, now);
  }

  /** unchanged() of the `length` bytes at `at` in `bytes` (a property's place in a block), with no view cut per value. */
  unchangedAt(slot: ReportSlot, bytes: Uint8Array, at: number, length: number, now: number): boolean {
    const prev = slot.raw;
    if (!prev || prev.length !== length) return false;
    for (let i = 0; i < length; i++) if (prev[i] !== bytes[at + i]) return false;
    return this.settled(slot, now);
  }

  /**
   * The property's last reading was good, its bytes are known, and no reportCycle is due: bytes
   * equal to the known ones would report nothing.
   */
  settled(slot: ReportSlot, now: number): boolean {
    const last = slot.last;
    if (!last || last.quality !== 'good' || slot.raw === undefined) return false;
    const cycle = slot.rule.reportCycle;
    return !(cycle > 0 && now - last.time >= cycle);
  }

  /** Remember the bytes of a good reading (copied: drivers may reuse their buffers), or forget them. */
  rawSeen(property: string | ReportSlot, bytes: Uint8Array | undefined): void {
    const slot = typeof property === 'string' ? this.slot(property) : property;
    if (!bytes) slot.raw = undefined;
    else this.rawSeenAt(slot, bytes, 0, bytes.length);
  }

  /** rawSeen() of the `length` bytes at `at` in `bytes`. */
  rawSeenAt(slot: ReportSlot, bytes: Uint8Array, at: number, length: number): void {
    // Copied into the slot's own array when the size allows: a moving value is seen on every poll.
    // A loop, not set(): for the few bytes of a register value the builtin's setup costs more.
    let raw = slot.raw;
    if (raw?.length !== length) slot.raw = raw = new Uint8Array(length);
    for (let i = 0; i < length; i++) raw[i] = bytes[at + i]!;
  }

  /** Forget what was reported (a restarted device reports everything afresh). */
  clear(): void {
    for (const slot of this.#slots.values()) {
      slot.last = undefined;
      slot.raw = undefined;
    }
  }
}
