// One device's readings on their way from the driver to the twin: decode with the property's codec,
// skip an answer byte for byte the same as the last (the block cache and the per-property raw
// check), filter by deadband and reportCycle, count, and report. Polls, pushed readings, the
// read-back after a write and the bad markers of an outage all pass here, so they are decoded,
// filtered and counted the same way. The connection's life is device-runner.ts's business.

import type { Reading, ReadingError, ReadingSink } from '../../core/reading.ts';
import { badReading, blockReading, numbersAsIs, toReading } from './convert.ts';
import type { CodecSpec } from './codec.ts';
import type { BlockLayout, PropertyBinding, PushChannel, RawBlock, RawReading, ReadRequest } from './driver.ts';
import type { PropertyValue } from '../../core/values.ts';
import type { MapperMetrics } from './metrics.ts';
import type { PreparedDevice } from './prepare.ts';
import { ReportFilter, type ReportRule, type ReportSlot } from './report.ts';
import { AS_IS_FINITE, AS_IS_INTEGER, BatchedChannel, type ChannelBatch, type ChannelProperty } from './push-batch.ts';

/** A property of a read request with what a poll needs of it, looked up once per request. */
export interface BoundProperty {
  p: PropertyBinding;
  codec: CodecSpec | undefined;
  slot: ReportSlot;
}

/** What one answer to a request came to. */
export interface Ingested {
  /**
   * A read-back's readings: every property's, the unchanged ones decoded too, since the writer
   * needs the value. A poll hands its readings to the sink only, and this is empty.
   */
  readings: Reading[];
  /** True when some property read well (counted unchanged ones included): the request is healthy. */
  ok: boolean;
  /** The first error among the readings decoded: what a device whose every request fails quotes. */
  error?: ReadingError;
}

/** The readings of a poll: none handed back (the sink has them). Frozen, as every poll shares it. */
const NONE: Reading[] = Object.freeze([]) as unknown as Reading[];

export class ReadPipeline {
  readonly #prepared: PreparedDevice;
  readonly #sink: ReadingSink;
  readonly #metrics: MapperMetrics;
  readonly #id: string;
  readonly #protocol: string;
  readonly #filter: ReportFilter;
  /** The last good block of each request whose driver answers in blocks. */
  readonly #blocks = new WeakMap<ReadRequest, Uint8Array>();
  readonly #boundByRequest = new WeakMap<ReadRequest, BoundProperty[]>();
  /** Each block layout a driver gave, and whether it fits its request (see #fits). */
  readonly #layouts = new WeakMap<BlockLayout, boolean>();
  /**
   * The readings an answer admits, gathered here and handed to the sink as an exact copy: one
   * array per answer rather than one grown step by step (ingest never runs re-entrantly). Its
   * length is never cut (that would drop its storage, to be grown again on the next answer):
   * the first `n` places are this answer's, the rest hold undefined.
   */
  readonly #admitted: (Reading | undefined)[] = [];
  /** Calls of pushed() that brought readings: the silence watch compares it, no clock read per reading. */
  heard = 0;
  /** Pushed properties looked up once, with their report slots: a stream can push thousands of readings a second. */
  #pushed?: Map<string, BoundProperty>;
  /** The push channel of the current subscription, if its driver asked for one. */
  #channel?: BatchedChannel;
  readonly #scratch: RawReading = { property: '' };

  constructor(prepared: PreparedDevice, sink: ReadingSink, metrics: MapperMetrics) {
    this.#prepared = prepared;
    this.#sink = sink;
    this.#metrics = metrics;
    this.#id = prepared.spec.id;
    this.#protocol = prepared.spec.protocol;
    const rules = new Map<string, ReportRule>(prepared.spec.properties.map((p) => [p.name, { deadband: p.deadband, reportCycle: p.reportCycle }]));
    this.#filter = new ReportFilter(rules);
  }

  /**
   * An answer to a read request. A poll (`readBack` false) skips what has not changed since it was
   * last reported. A read-back after a write decodes every property, since the writer needs the
   * value, but reports, filters and caches exactly as a poll would.
   *
   * A block with a layout (RawBlock.layout) is decoded in place, property by property, and its
   * readings() is called only for a property the layout cannot serve: the same readings, errors
   * and report decisions as cutting the block into RawReadings, without an object per value.
   */
  ingest(req: ReadRequest, result: RawReading[] | RawBlock, now: number, readBack = false): Ingested {
    const bound = this.#bound(req);
    let raws: RawReading[] | undefined;
    let block: Uint8Array | undefined;
    let layout: BlockLayout | undefined;
    if (Array.isArray(result)) raws = result;
    else {
      if (!readBack && this.#sameBlock(req, bound, result.block, now)) {
        this.#counted(bound.length);
        return { readings: NONE, ok: true };
      }
      block = result.block;
      if (result.layout && this.#fits(result.layout, bound.length)) layout = result.layout;
    }
    const readings: Reading[] = readBack ? [] : NONE;
    const admitted = this.#admitted;
    let admittedN = 0;
    const filter = this.#filter;
    let unchanged = 0;
    let decoded = 0;
    let good = true;
    let notBad = false;
    let error: ReadingError | undefined;
    for (let i = 0; i < bound.length; i++) {
      const { p, codec, slot } = bound[i]!;
      let reading: Reading;
      const at = layout && codec ? layout.offsets[i]! : -1;
      const length = at >= 0 ? layout!.lengths[i]! : 0;
      if (at >= 0 && at + length <= block!.length) {
        // In place: the bytes are good by construction (the block answered).
        if (filter.unchangedAt(slot, block!, at, length, now)) {
          unchanged++;
          if (readBack) readings.push(blockReading(this.#id, p, codec!, block!, at, length, now));
          continue;
        }
        reading = blockReading(this.#id, p, codec!, block!, at, length, now);
        if (reading.quality === 'good') filter.rawSeenAt(slot, block!, at, length);
        else filter.rawSeen(slot, undefined);
      } else {
        raws ??= (result as RawBlock).readings();
        // Drivers answer in the request's order; look further only when one did not.
        const raw = raws[i]?.property === p.name ? raws[i] : raws.find((r) => r.property === p.name);
        const bytes = codec && raw?.raw && !raw.error && (raw.quality ?? 'good') === 'good' ? raw.raw : undefined;
        if (bytes && filter.unchanged(slot, bytes, now)) {
          unchanged++;
          if (readBack) readings.push(toReading(this.#id, p, codec, raw, now));
          continue;
        }
        reading = toReading(this.#id, p, codec, raw, now);
        if (codec) filter.rawSeen(slot, reading.quality === 'good' ? bytes : undefined);
      }
      decoded++;
      if (reading.quality !== 'good') {
        good = false;
        if (reading.error) {
          error ??= reading.error;
          if (reading.quality === 'bad') this.#metrics.readErrors.inc({ device: this.#id, protocol: this.#protocol, code: reading.error.code });
        }
      }
      if (reading.quality !== 'bad') notBad = true;
      if (readBack) readings.push(reading);
      if (filter.admit(reading, now, slot)) {
        if (admittedN < admitted.length) admitted[admittedN] = reading;
        else admitted.push(reading);
        admittedN++;
      }
    }
    this.#counted(decoded + unchanged);
    if (admittedN) {
      const report = admitted.slice(0, admittedN) as Reading[];
      // Let go of them: a reading held here until the next poll would outlive a scavenge and be promoted.
      for (let i = 0; i < admittedN; i++) admitted[i] = undefined;
      this.#sink.report(report);
    }
    if (block) {
      // Kept only when every property came out good: a block that decoded to an error is decoded again.
      if (good) this.#keepBlock(req, block);
      else this.#blocks.delete(req);
    }
    return { readings, ok: unchanged > 0 || notBad, error };
  }

  /**
   * Readings a subscription delivered. A stream can push tens of thousands a second, so this is
   * #deliver written out for one pass: each property's codec and report slot come from a map built
   * once, and no array besides the admitted readings is allocated per batch.
   */
  pushed(properties: readonly PropertyBinding[], raws: readonly RawReading[], now: number): void {
    // Values a push channel holds arrived first: they go first.
    this.#channel?.flush();
    const byName = this.#byName(properties);
    const admitted: Reading[] = [];
    let read = 0;
    for (let i = 0; i < raws.length; i++) {
      const raw = raws[i]!;
      const bound = byName.get(raw.property);
      if (!bound) continue;
      const reading = toReading(this.#id, bound.p, bound.codec, raw, now);
      read++;
      if (reading.quality === 'bad' && reading.error) this.#metrics.readErrors.inc({ device: this.#id, protocol: this.#protocol, code: reading.error.code });
      if (this.#filter.admit(reading, now, bound.slot)) admitted.push(reading);
    }
    if (!read) return;
    this.heard++;
    this.#metrics.countReads(this.#id, this.#protocol, read);
    if (admitted.length) this.#sink.report(admitted);
  }

  /** The pushed properties by name, with codec and report slot, built on first use. */
  #byName(properties: readonly PropertyBinding[]): Map<string, BoundProperty> {
    this.#pushed ??= new Map(properties.map((p) => [p.name, { p, codec: this.#prepared.codecs.get(p.name), slot: this.#filter.slot(p.name) }]));
    return this.#pushed;
  }

  /**
   * The PushChannel a subscription gets beside `emit` (see driver.ts). Values wait in arrays that
   * live as long as the channel, and are decoded, filtered and reported as one batch in a microtask
   * after the driver's synchronous stretch, like an emit() of them all: no RawReading and no lookup
   * by name per value. `live` false (the connection was replaced) drops a batch unread; `clock`
   * gives "now" once per batch.
   */
  channel(properties: readonly PropertyBinding[], live: () => boolean, clock: () => number): PushChannel {
    const byName = this.#byName(properties);
    const bound = properties.map((p): ChannelProperty => {
      const { codec, slot } = byName.get(p.name)!;
      const kind = numbersAsIs(p);
      return { p, codec, slot, asIs: kind === 'finite' ? AS_IS_FINITE : kind === 'integer' ? AS_IS_INTEGER : 0 };
    });
    const channel = new BatchedChannel(bound, live, clock, (b, n, now) => this.#pushedBatch(b, n, now));
    this.#channel = channel;
    return channel;
  }

  /** The first `n` entries of a channel's batch: pushed() for values handed over by index. */
  #pushedBatch(b: ChannelBatch, n: number, now: number): void {
    const admitted: Reading[] = [];
    const scratch = this.#scratch;
    let read = 0;
    for (let i = 0; i < n; i++) {
      const index = b.indices[i]!;
      let bound: BoundProperty | undefined;
      let raw: RawReading;
      if (index >= 0) {
        const cp = b.bound[index]!;
        const v = b.values[i];
        b.values[i] = undefined;
        // The common case of a stream, a number the property takes as it is: the Reading
        // toReading() would make, without its general path.
        if (typeof v === 'number' && (cp.asIs === AS_IS_FINITE ? Number.isFinite(v) : cp.asIs === AS_IS_INTEGER && Number.isInteger(v))) {
          const time = b.times[i]!;
          const reading: Reading = { device: this.#id, property: cp.p.name, value: v, time: time === time ? time : now, quality: b.uncertain[i] === 1 ? 'uncertain' : 'good' };
          read++;
          if (this.#filter.admit(reading, now, cp.slot)) admitted.push(reading);
          continue;
        }
        bound = cp;
        // One RawReading for the whole batch, filled per value: toReading copies what it keeps.
        scratch.property = cp.p.name;
        scratch.value = v as PropertyValue;
        const time = b.times[i]!;
        scratch.time = time === time ? time : undefined;
        scratch.quality = b.uncertain[i] === 1 ? 'uncertain' : 'good';
        raw = scratch;
      } else {
        raw = b.values[i] as RawReading;
        b.values[i] = undefined;
        bound = this.#pushed!.get(raw.property);
      }
      if (!bound) continue;
      const reading = toReading(this.#id, bound.p, bound.codec, raw, now);
      read++;
      if (reading.quality === 'bad' && reading.error) this.#metrics.readErrors.inc({ device: this.#id, protocol: this.#protocol, code: reading.error.code });
      if (this.#filter.admit(reading, now, bound.slot)) admitted.push(reading);
    }
    scratch.value = undefined;
    if (!read) return;
    this.heard++;
    this.#metrics.countReads(this.#id, this.#protocol, read);
    if (admitted.length) this.#sink.report(admitted);
  }

  /** A request that failed as a whole: every property of it reads bad with the reason. */
  failed(req: ReadRequest, code: string, message: string, now: number): void {
    this.#deliver(req.properties.map((p) => badReading(this.#id, p.name, code, message, now)), true, 0, now);
  }

  /** The device went offline: every property turns bad so no stale value looks current. Nothing was read, so nothing is counted. */
  offline(code: string, message: string, now: number): void {
    this.#deliver(this.#prepared.binding.properties.map((p) => badReading(this.#id, p.name, code, message, now)), false, 0, now);
  }

  /**
   * A block equal to the request's last one gives every property the bytes it had, so the poll
   * would report nothing, exactly as unchanged() per property would find: unless some property
   * has no codec, last read other than good, or is due for its reportCycle.
   */
  #sameBlock(req: ReadRequest, bound: readonly BoundProperty[], block: Uint8Array, now: number): boolean {
    const prev = this.#blocks.get(req);
    if (!prev || prev.length !== block.length) return false;
    for (let i = 0; i < block.length; i++) if (prev[i] !== block[i]) return false;
    return bound.every(({ codec, slot }) => codec !== undefined && this.#filter.settled(slot, now));
  }

  /** The block of a request that decoded well, kept in the request's own copy (reused while its size holds). */
  #keepBlock(req: ReadRequest, block: Uint8Array): void {
    const kept = this.#blocks.get(req);
    if (kept?.length === block.length) kept.set(block);
    else this.#blocks.set(req, Uint8Array.from(block));
  }

  /**
   * A layout the pipeline can trust: one place per property, each a non-negative integer offset and
   * length. Checked once per layout (a driver builds one per request), not on every answer.
   */
  #fits(layout: BlockLayout, properties: number): boolean {
    let fits = this.#layouts.get(layout);
    if (fits === undefined) {
      const { offsets, lengths } = layout;
      fits = offsets.length === properties && lengths.length === properties;
      for (let i = 0; fits && i < properties; i++) fits = Number.isInteger(offsets[i]) && offsets[i]! >= 0 && Number.isInteger(lengths[i]) && lengths[i]! >= 0;
      this.#layouts.set(layout, fits);
    }
    return fits;
  }

  /** Reads of a poll, counted on the metric when there were any. */
  #counted(n: number): void {
    if (n) this.#metrics.countReads(this.#id, this.#protocol, n);
  }

  /** A request's properties with their codec and report slot, looked up once, not on every poll. */
  #bound(req: ReadRequest): BoundProperty[] {
    let bound = this.#boundByRequest.get(req);
    if (!bound) {
      bound = req.properties.map((p) => ({ p, codec: this.#prepared.codecs.get(p.name), slot: this.#filter.slot(p.name) }));
      this.#boundByRequest.set(req, bound);
    }
    return bound;
  }

  /**
   * `counted` is false for the bad markers of an outage: nothing was read, so no metric moves.
   * `unchanged`: good reads whose bytes had not changed, counted as reads but not decoded again.
   * `slots`, when given, holds each reading's report slot (a poll has them at hand).
   */
  #deliver(readings: Reading[], counted: boolean, unchanged: number, now: number, slots?: ReportSlot[]): void {
    if (!readings.length && !unchanged) return;
    if (counted) {
      this.#metrics.countReads(this.#id, this.#protocol, readings.length + unchanged);
      for (const r of readings) if (r.quality === 'bad' && r.error) this.#metrics.readErrors.inc({ device: this.#id, protocol: this.#protocol, code: r.error.code });
    }
    if (!readings.length) return;
    const admitted: Reading[] = [];
    for (let i = 0; i < readings.length; i++) if (this.#filter.admit(readings[i]!, now, slots?.[i])) admitted.push(readings[i]!);
    if (admitted.length) this.#sink.report(admitted);
  }
}
