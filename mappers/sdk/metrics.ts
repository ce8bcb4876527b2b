// Mapper metrics on a prom-client registry. Labels are device and protocol, never property:
// a gateway with thousands of properties must not explode the series count.

import { Counter, Gauge, Registry } from 'prom-client';
import { DeviceHistogram } from './histogram.ts';
import { SummedCounter } from './summed-counter.ts';
import type { DeviceState } from '../../core/reading.ts';

const STATES: readonly DeviceState[] = ['unknown', 'online', 'unhealthy', 'offline'];

function metric<T>(registry: Registry, name: string, make: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? make();
}

export class MapperMetrics {
  readonly registry: Registry;
  /** Counted on every poll: summed, and handed to prom-client when collected. */
  readonly reads: SummedCounter<'device' | 'protocol'>;
  readonly readErrors: Counter<'device' | 'protocol' | 'code'>;
  readonly writes: Counter<'device' | 'protocol' | 'result'>;
  readonly lateness: DeviceHistogram;
  readonly driverEvents: SummedCounter<'device' | 'protocol' | 'event'>;
  readonly state: Gauge<'device' | 'protocol' | 'state'>;
  /** The longest synchronous stretch of each driver hook: time the event loop (every device) waited on it. */
  readonly blocking: Gauge<'protocol' | 'hook'>;
  readonly #longest = new Map<string, number>();

  constructor(registry: Registry = new Registry()) {
    this.registry = registry;
    const registers = [registry];
    this.reads = SummedCounter.on(registry, {
      name: 'edgetwin_mapper_reads_total', help: 'Property reads attempted (one per property per request)', labelNames: ['device', 'protocol'],
    });
    this.readErrors = metric(registry, 'edgetwin_mapper_read_errors_total', () => new Counter({
      name: 'edgetwin_mapper_read_errors_total', help: 'Property reads that failed, by error code', labelNames: ['device', 'protocol', 'code'], registers,
    }));
    this.writes = metric(registry, 'edgetwin_mapper_writes_total', () => new Counter({
      name: 'edgetwin_mapper_writes_total', help: 'Property writes, by result (ok or an error code)', labelNames: ['device', 'protocol', 'result'], registers,
    }));
    // Observed for every request: a histogram made for that (see histogram.ts).
    this.lateness = metric(registry, 'edgetwin_mapper_poll_lateness_seconds', () => new DeviceHistogram({
      name: 'edgetwin_mapper_poll_lateness_seconds', help: 'Delay between a poll falling due and its request starting',
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5], registers,
    }));
    this.driverEvents = SummedCounter.on(registry, {
      name: 'edgetwin_mapper_driver_events_total', help: 'What a driver saw that no reading shows (a serial frame dropped for its checksum or shape), by event',
      labelNames: ['device', 'protocol', 'event'],
    });
    this.blocking = metric(registry, 'edgetwin_mapper_driver_blocking_seconds', () => new Gauge({
      name: 'edgetwin_mapper_driver_blocking_seconds', help: 'Longest synchronous part of one driver hook call (connect, read, write, subscribe, close): how long every other device waited',
      labelNames: ['protocol', 'hook'], registers,
    }));
    this.state = metric(registry, 'edgetwin_mapper_device_state', () => new Gauge({
      name: 'edgetwin_mapper_device_state', help: '1 for the state a device is in, 0 for the others', labelNames: ['device', 'protocol', 'state'], registers,
    }));
  }

  /**
   * Records how long one driver hook call held the event loop before returning its promise.
   * Returns true when it is the longest seen for that protocol and hook and at least `warnMs`:
   * the caller warns once per new record, not once per slow call.
   */
  noteBlocking(protocol: string, hook: string, ms: number, warnMs: number): boolean {
    const key = `${protocol}\u0000${hook}`;
    const longest = this.#longest.get(key) ?? 0;
    if (ms <= longest) return false;
    this.#longest.set(key, ms);
    this.blocking.set({ protocol, hook }, ms / 1000);
    return ms >= warnMs;
  }

  /** Count reads; they reach the counter when it is next collected. */
  countReads(device: string, protocol: string, n: number): void {
    // A device id is unique on a gateway, and its protocol never changes under it.
    this.reads.add(device, n, device, () => ({ device, protocol }));
  }

  /** Count a driver event; like reads, it reaches the counter when that is next collected. */
  countEvent(device: string, protocol: string, event: string, n: number): void {
    this.driverEvents.add(`${device}\u0000${event}`, n, device, () => ({ device, protocol, event }));
  }

  setState(device: string, protocol: string, state: DeviceState): void {
    for (const s of STATES) this.state.set({ device, protocol, state: s }, s === state ? 1 : 0);
  }

  /** A removed device leaves no series behind. */
  forget(device: string, protocol: string): void {
    for (const s of STATES) this.state.remove({ device, protocol, state: s });
    this.reads.forget(device);
    this.driverEvents.forget(device);
    this.lateness.remove({ device, protocol });
  }
}
