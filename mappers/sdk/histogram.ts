// A Prometheus histogram for a per-request figure (poll lateness). prom-client's Histogram hashes
// the label object and validates it on every observe(), which costs microseconds: more than the
// runtime's own work for a request on a fast link. Here a series is found by device id (unique on
// a gateway) and an observation is a bucket search and three additions. It registers on a
// prom-client Registry like any metric and prints in the same exposition format.

import type { Registry } from 'prom-client';

export interface DeviceLabels {
  device: string;
  protocol: string;
}

interface Series {
  labels: DeviceLabels;
  /** counts[i] observations in (buckets[i-1], buckets[i]]; the last one above every bucket. */
  counts: Float64Array;
  sum: number;
  count: number;
}

interface MetricValue {
  labels: Record<string, string | number>;
  value: number;
  metricName: string;
}

export class DeviceHistogram {
  readonly name: string;
  readonly help: string;
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly #buckets: readonly number[];
  readonly #series = new Map<string, Series>();

  constructor(opts: { name: string; help: string; buckets: readonly number[]; registers: Registry[] }) {
    this.name = opts.name;
    this.help = opts.help;
    this.#buckets = [...opts.buckets].sort((a, b) => a - b);
    for (const registry of opts.registers) registry.registerMetric(this as never);
  }

  observe(labels: DeviceLabels, value: number): void {
    if (!Number.isFinite(value)) return;
    let series = this.#series.get(labels.device);
    if (!series) {
      series = { labels: { device: labels.device, protocol: labels.protocol }, counts: new Float64Array(this.#buckets.length + 1), sum: 0, count: 0 };
      this.#series.set(labels.device, series);
    }
    const buckets = this.#buckets;
    let i = 0;
    while (i < buckets.length && value > buckets[i]!) i++;
    series.counts[i]!++;
    series.sum += value;
    series.count++;
  }

  remove(labels: DeviceLabels): void {
    this.#series.delete(labels.device);
  }

  reset(): void {
    this.#series.clear();
  }

  /** prom-client's metric shape: cumulative buckets with `le`, then _sum and _count per series. */
  async get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: MetricValue[] }> {
    const values: MetricValue[] = [];
    for (const s of this.#series.values()) {
      let cumulative = 0;
      this.#buckets.forEach((le, i) => {
        cumulative += s.counts[i]!;
        values.push({ labels: { le, ...s.labels }, value: cumulative, metricName: `${this.name}_bucket` });
      });
      values.push({ labels: { le: '+Inf', ...s.labels }, value: s.count, metricName: `${this.name}_bucket` });
      values.push({ labels: { ...s.labels }, value: s.sum, metricName: `${this.name}_sum` });
      values.push({ labels: { ...s.labels }, value: s.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }
}
