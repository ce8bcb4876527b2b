// Reconcile: bring a device to its desired value and keep watching it.
// pending -> writer.write() -> applied when the read-back matches, else failed and retried with
// exponential backoff, unless the driver marked the refusal permanent: then it stays failed until
// the desired value changes. A later reading that differs from an applied value marks it drifted;
// `enforce` rewrites a drifted value at most once per collectCycle.

import type { Logger } from '../core/log.ts';
import type { PropertyWriter, WriteOutcome } from '../core/reading.ts';
import { IoCodes } from '../core/errors.ts';
import { formatValue, sameAtWirePrecision, type PropertyValue } from '../core/values.ts';
import type { DeviceEntry, PropState } from './entry.ts';
import type { ReconcileState, TwinChange } from './types.ts';

export interface RetryPolicy {
  /** Delay before the first retry; doubles with each failed attempt. */
  baseMs: number;
  maxMs: number;
}

export interface ReconcileHost {
  readonly log: Logger;
  /** The property's reconcile state changed: persist it now (`commit`), or with the enclosing transaction. */
  changed(d: DeviceEntry, p: PropState, commit: boolean): void;
  writer(): PropertyWriter | undefined;
  emit(change: TwinChange): void;
  /** Feeds a value read back after a write into the reported path. */
  readBack(device: string, property: string, value: PropertyValue): void;
  closed(): boolean;
  count(result: 'applied' | 'failed' | 'drifted' | 'rewrite'): void;
}

export class Reconciler {
  private readonly host: ReconcileHost;
  private readonly retry: RetryPolicy;

  constructor(host: ReconcileHost, retry: RetryPolicy) {
    this.host = host;
    this.retry = retry;
  }

  /** Persists a state change; the change event goes to `defer` when inside a flush or a request. */
  transition(d: DeviceEntry, p: PropState, state: ReconcileState, reason: string | undefined, defer?: TwinChange[]): void {
    p.rec = state;
    p.reason = reason;
    this.host.changed(d, p, !defer);
    const change: TwinChange = { kind: 'reconcile', device: d.spec.id, property: p.spec.name, state, attempts: p.attempts, ...(reason !== undefined ? { reason } : {}) };
    if (defer) defer.push(change);
    else this.host.emit(change);
  }

  /** A new desired value was committed: start over. */
  restart(d: DeviceEntry, p: PropState): void {
    this.cancel(p);
    p.attempts = 0;
    p.lastEnforce = 0;
    this.transition(d, p, 'pending', undefined);
    this.attempt(d, p);
  }

  cancel(p: PropState): void {
    if (p.retryTimer) clearTimeout(p.retryTimer);
    p.retryTimer = undefined;
  }

  /** Retries at once every property of the device that has not reached its desired value. */
  resume(d: DeviceEntry): void {
    for (const p of d.props.values()) {
      if (p.desired !== undefined && (p.rec === 'pending' || p.rec === 'failed') && p.refusedVersion !== p.version) this.attempt(d, p);
    }
  }

  /**
   * Called inside the flush transaction after a reading was stored. Returns true when an
   * enforce rewrite is due (the caller starts it after the commit).
   */
  onReading(d: DeviceEntry, p: PropState, defer: TwinChange[], now: number): boolean {
    if (p.desired === undefined || p.reported === undefined || p.inFlight) return false;
    const matches = sameAtWirePrecision(p.spec.type, p.reported, p.desired);
    if (matches) {
      if (p.rec === 'drifted' || p.rec === 'failed') {
        this.cancel(p);
        this.transition(d, p, 'applied', undefined, defer);
      }
      return false;
    }
    // A poll that was read before the write went out is old news, not drift.
    if (p.rec === 'applied' && p.reportedTime >= p.writeStartedAt) {
      this.transition(d, p, 'drifted', `reported ${this.fmt(p, p.reported)} differs from desired ${this.fmt(p, p.desired)}`, defer);
      this.host.count('drifted');
      this.host.log.info({ device: d.spec.id, property: p.spec.name, desired: this.fmt(p, p.desired), reported: this.fmt(p, p.reported) }, 'twin: property drifted from its desired value');
    }
    if (p.rec !== 'drifted' || p.spec.reconcile !== 'enforce') return false;
    if (now - p.lastEnforce < p.spec.collectCycle) return false;
    p.lastEnforce = now;
    return true;
  }

  /** Rewrites a drifted value (reconcile: enforce). */
  enforce(d: DeviceEntry, p: PropState): void {
    this.host.count('rewrite');
    this.host.log.warn(
      { device: d.spec.id, property: p.spec.name, desired: this.fmt(p, p.desired), reported: this.fmt(p, p.reported) },
      'twin: enforce: rewriting drifted value',
    );
    this.attempt(d, p);
  }

  attempt(d: DeviceEntry, p: PropState): void {
    if (p.inFlight) {
      p.again = true;
      return;
    }
    const writer = this.host.writer();
    const value = p.desired;
    if (!writer || value === undefined || !writer.serves(d.spec.id)) return;
    if (d.state !== 'online' && d.state !== 'unhealthy') {
      // A write to a device that is not connected can only fail; resume() retries when it comes online.
      const waiting = `waiting for the device to come online (it is ${d.state})`;
      if (p.rec !== 'pending' || p.reason !== waiting) this.transition(d, p, 'pending', waiting);
      return;
    }
    this.cancel(p);
    p.inFlight = true;
    p.again = false;
    p.attempts++;
    p.writeStartedAt = Date.now();
    const version = p.version;
    this.transition(d, p, 'pending', p.reason);
    writer
      .write(d.spec.id, p.spec.name, value)
      .catch((err: unknown): WriteOutcome => ({ ok: false, error: { code: IoCodes.WRITE, message: err instanceof Error ? err.message : String(err) } }))
      .then((outcome) => this.settle(d, p, value, version, outcome));
  }

  private settle(d: DeviceEntry, p: PropState, value: PropertyValue, version: number, outcome: WriteOutcome): void {
    p.inFlight = false;
    if (this.host.closed() || d.props.get(p.spec.name) !== p) return;
    if (outcome.readBack !== undefined) this.host.readBack(d.spec.id, p.spec.name, outcome.readBack);
    if (version !== p.version || p.again) {
      // A newer desired value (or a second request) arrived during the write: it wins.
      this.attempt(d, p);
      return;
    }
    const log = this.host.log.child({ device: d.spec.id, property: p.spec.name });
    if (outcome.ok && (outcome.readBack === undefined || sameAtWirePrecision(p.spec.type, outcome.readBack, value))) {
      this.transition(d, p, 'applied', undefined);
      this.host.count('applied');
      log.info({ value: this.fmt(p, value), attempts: p.attempts }, 'twin: desired value applied');
      return;
    }
    const reason = outcome.ok
      ? `read back ${this.fmt(p, outcome.readBack)} after writing ${this.fmt(p, value)}`
      : `write failed: ${outcome.error?.code ?? IoCodes.WRITE}: ${outcome.error?.message ?? 'no reason given'}`;
    if (outcome.permanent) {
      p.refusedVersion = version;
      this.transition(d, p, 'failed', `${reason} (permanent: not retried until the desired value changes)`);
      this.host.count('failed');
      log.warn({ reason, attempts: p.attempts }, 'twin: desired value refused by the device; not retrying until it changes');
      return;
    }
    this.transition(d, p, 'failed', reason);
    this.host.count('failed');
    const delay = Math.min(this.retry.maxMs, this.retry.baseMs * 2 ** Math.min(30, p.attempts - 1));
    log.warn({ reason, attempts: p.attempts, retryInMs: delay }, 'twin: desired value not applied, will retry');
    p.retryTimer = setTimeout(() => {
      p.retryTimer = undefined;
      this.attempt(d, p);
    }, delay);
    p.retryTimer.unref();
  }

  private fmt(p: PropState, v: PropertyValue | undefined): string {
    return v === undefined ? '(none)' : formatValue(p.spec.type, v);
  }
}
