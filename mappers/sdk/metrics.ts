// Mapper metrics on a prom-client registry. Labels are device and protocol, never property:
// a gateway with thousands of properties must not explode the series count.

import { Counter, Gauge, Registry } from 'prom-client';
import { DeviceHistogram } from './histogram.ts';
import type { DeviceState } from '../../core/reading.ts';

const STATES: readonly DeviceState[] = ['unknown', 'online', 'unhealthy', 'offline'];

function metric<T>(registry: Registry, name: string, make: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? make();
}

interface PendingReads {
  device: string;
  protocol: string;
  n: number;
}

/**
 * Reads counted since the last scrape, per reads counter. prom-client hashes the label object on
 * every inc(), which costs more than a poll's own bookkeeping on a fast link, so polls add to a
 * plain number and the counter takes the sums when it is collected (on /metrics or get()). Kept
 * per counter, so every MapperHost sharing a registry feeds the one counter.
 */
/** Driver events counted since the last scrape, per counter, keyed by device and event. */
const pendingEvents = new WeakMap<Counter<'device' | 'protocol' | 'event'>, Map<string, PendingReads & { event: string }>>();
/** The events each device has counted, so its series can be removed with it. */
const eventNames = new WeakMap<Counter<'device' | 'protocol' | 'event'>, Map<string, Set<string>>>();

const pendingReads = new WeakMap<Counter<'device' | 'protocol'>, Map<string, PendingReads>>();

function flushReads(counter: Counter<'device' | 'protocol'>): void {
  const pending = pendingReads.get(counter);
  if (!pending) return;
  for (const p of pending.values()) if (p.n > 0) counter.inc({ device: p.device, protocol: p.protocol }, p.n);
  pending.clear();
}

export class MapperMetrics {
  readonly registry: Registry;
  readonly reads: Counter<'device' | 'protocol'>;
  readonly readErrors: Counter<'device' | 'protocol' | 'code'>;
  readonly writes: Counter<'device' | 'protocol' | 'result'>;
  readonly lateness: DeviceHistogram;
  readonly driverEvents: Counter<'device' | 'protocol' | 'event'>;
  readonly state: Gauge<'device' | 'protocol' | 'state'>;

  constructor(registry: Registry = new Registry()) {
    this.registry = registry;
    const registers = [registry];
    this.reads = metric(registry, 'edgetwin_mapper_reads_total', () => {
      const counter: Counter<'device' | 'protocol'> = new Counter({
        name: 'edgetwin_mapper_reads_total', help: 'Property reads attempted (one per property per request)', labelNames: ['device', 'protocol'], registers,
        collect() {
          flushReads(counter);
        },
      });
      pendingReads.set(counter, new Map());
      return counter;
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
    this.driverEvents = metric(registry, 'edgetwin_mapper_driver_events_total', () => {
      const counter: Counter<'device' | 'protocol' | 'event'> = new Counter({
        name: 'edgetwin_mapper_driver_events_total', help: 'What a driver saw that no reading shows (a serial frame dropped for its checksum or shape), by event',
        labelNames: ['device', 'protocol', 'event'], registers,
        collect() {
          const pending = pendingEvents.get(counter);
          if (!pending) return;
          for (const p of pending.values()) if (p.n > 0) counter.inc({ device: p.device, protocol: p.protocol, event: p.event }, p.n);
          pending.clear();
        },
      });
      pendingEvents.set(counter, new Map());
      return counter;
    });
    this.state = metric(registry, 'edgetwin_mapper_device_state', () => new Gauge({
      name: 'edgetwin_mapper_device_state', help: '1 for the state a device is in, 0 for the others', labelNames: ['device', 'protocol', 'state'], registers,
    }));
  }

  /** Count reads; they reach the counter when it is next collected. */
  countReads(device: string, protocol: string, n: number): void {
    const pending = pendingReads.get(this.reads);
    if (!pending) {
      this.reads.inc({ device, protocol }, n);
      return;
    }
    // A device id is unique on a gateway, and its protocol never changes under it.
    const p = pending.get(device);
    if (p) p.n += n;
    else pending.set(device, { device, protocol, n });
  }

  /** Count a driver event; like reads, it reaches the counter when that is next collected. */
  countEvent(device: string, protocol: string, event: string, n: number): void {
    const pending = pendingEvents.get(this.driverEvents);
    const key = `${device}\u0000${event}`;
    const p = pending?.get(key);
    if (p) {
      p.n += n;
      return;
    }
    let names = eventNames.get(this.driverEvents);
    if (!names) eventNames.set(this.driverEvents, (names = new Map()));
    let mine = names.get(device);
    if (!mine) names.set(device, (mine = new Set()));
    mine.add(event);
    if (pending) pending.set(key, { device, protocol, event, n });
    else this.driverEvents.inc({ device, protocol, event }, n);
  }

  #eventsOf(device: string): string[] {
    return [...(eventNames.get(this.driverEvents)?.get(device) ?? [])];
  }

  setState(device: string, protocol: string, state: DeviceState): void {
    for (const s of STATES) this.state.set({ device, protocol, state: s }, s === state ? 1 : 0);
  }

  /** A removed device leaves no series behind. */
  forget(device: string, protocol: string): void {
    for (const s of STATES) this.state.remove({ device, protocol, state: s });
    pendingReads.get(this.reads)?.delete(device);
    this.reads.remove({ device, protocol });
    const events = pendingEvents.get(this.driverEvents);
    for (const [key, p] of events ?? []) if (p.device === device) events!.delete(key);
    for (const event of this.#eventsOf(device)) this.driverEvents.remove({ device, protocol, event });
    eventNames.get(this.driverEvents)?.delete(device);
    this.lateness.remove({ device, protocol });
  }
}
