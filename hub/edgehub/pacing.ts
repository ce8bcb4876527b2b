// The two clocks of the link: how long to wait before the next dial, and how fast messages may go
// up. Both take the clock and the random source as parameters so their tests need no sleeping.

/**
 * Exponential backoff with jitter: attempt n waits a random time in [d/2, d] where
 * d = min(max, first * 2^n). The first retry therefore comes within `first` (1 s by default), and
 * a fleet of gateways that lost the cloud together does not dial back in lockstep.
 */
export class Backoff {
  private attempt = 0;

  constructor(private readonly firstMs: number, private readonly maxMs: number, private readonly random: () => number = Math.random) {}

  next(): number {
    const ceiling = Math.min(this.maxMs, this.firstMs * 2 ** Math.min(this.attempt, 30));
    this.attempt++;
    return Math.round(ceiling / 2 + (ceiling / 2) * this.random());
  }

  reset(): void {
    this.attempt = 0;
  }
}

/**
 * A token bucket: `burst` messages at once, then `qps` a second (KubeEdge's messageQPS and
 * messageBurst on EdgeHub). It always applies, online or draining a backlog, so a gateway that
 * comes back after an hour offline does not flood the cloud.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(private readonly qps: number, private readonly burst: number, private readonly now: () => number = Date.now) {
    this.tokens = burst;
    this.last = now();
  }

  /** Takes one token when there is one. */
  take(): boolean {
    this.refill();
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** Milliseconds until the next token. */
  waitMs(): number {
    this.refill();
    return this.tokens >= 1 ? 0 : Math.ceil(((1 - this.tokens) / this.qps) * 1000);
  }

  private refill(): void {
    const t = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) / 1000) * this.qps);
    this.last = t;
  }
}
