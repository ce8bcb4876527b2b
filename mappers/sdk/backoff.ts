// Reconnect delays: exponential with full jitter (AWS architecture blog, "Exponential Backoff
// and Jitter"), so a gateway full of devices that lost one switch does not reconnect in lockstep.

export interface BackoffOptions {
  /** First ceiling in ms; default 500. */
  initialMs?: number;
  /** Largest ceiling in ms; default 30000. */
  maxMs?: number;
  /** Uniform [0, 1); injectable so tests can pin the jitter. */
  random?: () => number;
}

export class Backoff {
  readonly #initial: number;
  readonly #max: number;
  readonly #random: () => number;
  #attempt = 0;

  constructor(opts: BackoffOptions = {}) {
    this.#initial = opts.initialMs ?? 500;
    this.#max = opts.maxMs ?? 30_000;
    this.#random = opts.random ?? Math.random;
  }

  /** Ceiling of the next delay: initial doubling per attempt, capped at max. */
  ceiling(): number {
    return Math.min(this.#max, this.#initial * 2 ** Math.min(this.#attempt, 30));
  }

  /** Delay before the next attempt: uniform in [0, ceiling]. */
  next(): number {
    const delay = Math.round(this.#random() * this.ceiling());
    this.#attempt++;
    return delay;
  }

  get attempts(): number {
    return this.#attempt;
  }

  reset(): void {
    this.#attempt = 0;
  }
}
