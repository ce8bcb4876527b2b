// A Prometheus counter for figures counted on hot paths: reads on every poll, frames a stream
// drops. prom-client hashes the label object on every inc(), which costs more than a poll's own
// bookkeeping on a fast link. Here each series is a plain number found by a key the caller
// chooses; the counter takes the sums when it is collected (on /metrics or get()).

import { Counter, type Registry } from 'prom-client';

interface Series<L extends string> {
  device: string;
  labels: Record<L, string>;
  /** Counted since the last collect. */
  n: number;
}

/** The SummedCounter behind each counter, so hosts sharing a registry share the sums. */
const byCounter = new WeakMap<Counter<string>, SummedCounter<string>>();

export class SummedCounter<L extends string> {
  readonly counter: Counter<L>;
  readonly #series = new Map<string, Series<L>>();

  private constructor(opts: { name: string; help: string; labelNames: L[]; registry: Registry }) {
    const flush = () => this.#flush();
    this.counter = new Counter({ name: opts.name, help: opts.help, labelNames: opts.labelNames, registers: [opts.registry], collect: flush });
    byCounter.set(this.counter as Counter<string>, this as SummedCounter<string>);
  }

  /** The counter of that name on the registry, made on first use. */
  static on<L extends string>(registry: Registry, opts: { name: string; help: string; labelNames: L[] }): SummedCounter<L> {
    const existing = registry.getSingleMetric(opts.name) as Counter<string> | undefined;
    const summed = existing && byCounter.get(existing);
    if (summed) return summed as SummedCounter<L>;
    return new SummedCounter({ ...opts, registry });
  }

  /**
   * Add `n` to the series under `key`; `labels()` makes its labels the first time only, so a known
   * series costs no label object. `device` is whose series it is, for forget().
   */
  add(key: string, n: number, device: string, labels: () => Record<L, string>): void {
    const series = this.#series.get(key);
    if (series) series.n += n;
    else this.#series.set(key, { device, labels: labels(), n });
  }

  /** A removed device leaves no series behind. */
  forget(device: string): void {
    for (const [key, series] of this.#series) {
      if (series.device !== device) continue;
      this.#series.delete(key);
      this.counter.remove(series.labels);
    }
  }

  get(): ReturnType<Counter<L>['get']> {
    return this.counter.get();
  }

  #flush(): void {
    for (const series of this.#series.values()) {
      if (series.n > 0) this.counter.inc(series.labels, series.n);
      series.n = 0;
    }
  }
}
