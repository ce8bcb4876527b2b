// The gateway's pulse in the log: one info line per interval (a minute by default) with the reads
// and read errors since the last line, per protocol, and how many devices are in each state.
// Per-reading lines are debug; this line is what says at info that values are flowing.

import type { Registry } from 'prom-client';
import type { Logger } from '../core/log.ts';
import type { DeviceTwin } from '../twin/twin.ts';

export const DEFAULT_SUMMARY_INTERVAL_MS = 60_000;

// The mapper runtime's counters (mappers/sdk/metrics.ts), read by name through the registry so
// the summary needs no hook in the hot path.
const READS = 'edgetwin_mapper_reads_total';
const READ_ERRORS = 'edgetwin_mapper_read_errors_total';

export interface SummaryLine {
  intervalSeconds: number;
  reads: Record<string, number>;
  readErrors: Record<string, number>;
  devices: Record<string, number>;
}

/** Starts the periodic line; 0 turns it off. Returns the stop function. */
export function startLogSummary(opts: { twin: DeviceTwin; registry: Registry; log: Logger; intervalMs: number }): () => void {
  if (opts.intervalMs <= 0) return () => {};
  const summary = new LogSummary(opts.twin, opts.registry);
  let running = Promise.resolve();
  const timer = setInterval(() => {
    running = running.then(async () => {
      try {
        const line = await summary.next(opts.intervalMs);
        opts.log.info(line, 'summary');
      } catch (err) {
        opts.log.warn({ err: (err as Error).message }, 'summary: cannot read the mapper counters');
      }
    });
  }, opts.intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}

export class LogSummary {
  readonly #twin: DeviceTwin;
  readonly #registry: Registry;
  /** Totals per protocol at the previous line: counters only grow, the line shows the difference. */
  #lastReads = new Map<string, number>();
  #lastErrors = new Map<string, number>();

  constructor(twin: DeviceTwin, registry: Registry) {
    this.#twin = twin;
    this.#registry = registry;
  }

  async next(intervalMs: number): Promise<SummaryLine> {
    const reads = await this.#byProtocol(READS);
    const errors = await this.#byProtocol(READ_ERRORS);
    const devices: Record<string, number> = {};
    for (const d of this.#twin.list()) devices[d.state] = (devices[d.state] ?? 0) + 1;
    const line: SummaryLine = {
      intervalSeconds: Math.round(intervalMs / 100) / 10,
      reads: since(reads, this.#lastReads),
      readErrors: since(errors, this.#lastErrors),
      devices,
    };
    this.#lastReads = reads;
    this.#lastErrors = errors;
    return line;
  }

  async #byProtocol(name: string): Promise<Map<string, number>> {
    const totals = new Map<string, number>();
    const metric = this.#registry.getSingleMetric(name);
    if (!metric) return totals;
    const { values } = await metric.get();
    for (const v of values) {
      const protocol = String(v.labels.protocol ?? 'unknown');
      totals.set(protocol, (totals.get(protocol) ?? 0) + v.value);
    }
    return totals;
  }
}

function since(now: Map<string, number>, before: Map<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  let total = 0;
  for (const [protocol, n] of now) {
    // A removed device takes its series with it: never show a negative count.
    const d = Math.max(0, n - (before.get(protocol) ?? 0));
    out[protocol] = d;
    total += d;
  }
  out.total = total;
  return out;
}
