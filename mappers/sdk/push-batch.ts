// A subscription's PushChannel (driver.ts): values a driver hands over by property index wait in
// parallel arrays the channel reuses, and go to the pipeline as one batch in a microtask after the
// driver's synchronous stretch (ReadPipeline.channel() and its batch loop). No object per value.

import type { PropertyValue } from '../../core/values.ts';
import type { PushChannel, RawReading } from './driver.ts';
import type { BoundProperty } from './pipeline.ts';

/** ChannelProperty.asIs: which numbers a property takes as they are (numbersAsIs()). */
export const AS_IS_FINITE = 1;
export const AS_IS_INTEGER = 2;

/** A pushed property as its channel knows it: which numbers it takes as they are (numbersAsIs()), 0 for none. */
export interface ChannelProperty extends BoundProperty {
  asIs: number;
}

/** What a channel holds until its batch is delivered: parallel arrays, reused from batch to batch; a value is let go once read (kept, it would survive the next scavenge and be copied). */
export interface ChannelBatch {
  readonly bound: readonly ChannelProperty[];
  /** The property's index in `bound`, or -1 when `values` holds a whole RawReading. */
  readonly indices: number[];
  readonly values: unknown[];
  /** Source time in ms, NaN when the driver gave none (a numbers-only array stores them unboxed). */
  readonly times: number[];
  /** 1 for an uncertain value. */
  readonly uncertain: number[];
}

export class BatchedChannel implements PushChannel {
  readonly #b: ChannelBatch;
  #n = 0;
  readonly #live: () => boolean;
  readonly #clock: () => number;
  readonly #deliver: (batch: ChannelBatch, n: number, now: number) => void;
  readonly #flush = () => this.flush();

  constructor(bound: readonly ChannelProperty[], live: () => boolean, clock: () => number, deliver: (batch: ChannelBatch, n: number, now: number) => void) {
    this.#b = { bound, indices: [], values: [], times: [], uncertain: [] };
    this.#live = live;
    this.#clock = clock;
    this.#deliver = deliver;
  }

  value(index: number, value: PropertyValue, time?: number, quality?: 'good' | 'uncertain'): void {
    const b = this.#b;
    // An index outside the subscribed properties is the driver's bug: say which, at once.
    if (!(index >= 0 && index < b.bound.length)) throw new RangeError(`PushChannel.value: property index ${index} is outside the ${b.bound.length} subscribed properties`);
    const i = this.#add();
    b.indices[i] = index;
    b.values[i] = value;
    b.times[i] = time ?? NaN;
    b.uncertain[i] = quality === 'uncertain' ? 1 : 0;
  }

  reading(reading: RawReading): void {
    const b = this.#b;
    const i = this.#add();
    b.indices[i] = -1;
    b.values[i] = reading;
    b.times[i] = NaN;
    b.uncertain[i] = 0;
  }

  #add(): number {
    if (this.#n === 0) queueMicrotask(this.#flush);
    return this.#n++;
  }

  /** Deliver what waits (a microtask does it after each stretch; pushed() before an emit). */
  flush(): void {
    const n = this.#n;
    if (n === 0) return;
    this.#n = 0;
    if (this.#live()) this.#deliver(this.#b, n, this.#clock());
  }
}
