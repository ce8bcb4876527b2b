// Mapper metrics on a prom-client registry. Labels are device and protocol, never property:
// a gateway with thousands of properties must not explode the series count.

import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { DeviceState } from '../../core/reading.ts';

const STATES: readonly DeviceState[] = ['unknown', 'online', 'unhealthy', 'offline'];

function metric<T>(registry: Registry, name: string, make: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? make();
}

export class MapperMetrics {
  readonly registry: Registry;
  readonly reads: Counter<'device' | 'protocol'>;
  readonly readErrors: Counter<'device' | 'protocol' | 'code'>;
  readonly writes: Counter<'device' | 'protocol' | 'result'>;
  readonly lateness: Histogram<'device' | 'protocol'>;
  readonly state: Gauge<'device' | 'protocol' | 'state'>;

  constructor(registry: Registry = new Registry()) {
    this.registry = registry;
    const registers = [registry];
    this.reads = metric(registry, 'edgetwin_mapper_reads_total', () => new Counter({
      name: 'edgetwin_mapper_reads_total', help: 'Property reads attempted (one per property per request)', labelNames: ['device', 'protocol'], registers,
    }));
    this.readErrors = metric(registry, 'edgetwin_mapper_read_errors_total', () => new Counter({
      name: 'edgetwin_mapper_read_errors_total', help: 'Property reads that failed, by error code', labelNames: ['device', 'protocol', 'code'], registers,
    }));
    this.writes = metric(registry, 'edgetwin_mapper_writes_total', () => new Counter({
      name: 'edgetwin_mapper_writes_total', help: 'Property writes, by result (ok or an error code)', labelNames: ['device', 'protocol', 'result'], registers,
    }));
    this.lateness = metric(registry, 'edgetwin_mapper_poll_lateness_seconds', () => new Histogram({
      name: 'edgetwin_mapper_poll_lateness_seconds', help: 'Delay between a poll falling due and its request starting',
      labelNames: ['device', 'protocol'], buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5], registers,
    }));
    this.state = metric(registry, 'edgetwin_mapper_device_state', () => new Gauge({
      name: 'edgetwin_mapper_device_state', help: '1 for the state a device is in, 0 for the others', labelNames: ['device', 'protocol', 'state'], registers,
    }));
  }

  setState(device: string, protocol: string, state: DeviceState): void {
    for (const s of STATES) this.state.set({ device, protocol, state: s }, s === state ? 1 : 0);
  }

  /** A removed device leaves no series behind. */
  forget(device: string, protocol: string): void {
    for (const s of STATES) this.state.remove({ device, protocol, state: s });
    this.reads.remove({ device, protocol });
    this.lateness.remove({ device, protocol });
  }
}
