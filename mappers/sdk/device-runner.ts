// One device's life: connect, poll its plan through the link's scheduler, and when the connection
// fails or breaks, go offline and retry with backoff, forever, without touching any other device.
// What becomes of the answers (decode, block cache, report filter, metrics) is the pipeline's
// (pipeline.ts); a write goes through write.ts and reads back through the same pipeline.

import type { Logger } from '../../core/log.ts';
import type { DeviceState, ReadingError, ReadingSink } from '../../core/reading.ts';
import { Backoff, type BackoffOptions } from './backoff.ts';
import type { Clock } from './clock.ts';
import { codedError, errorCode, errorMessage, raceAbort } from './async.ts';
import type { Connection, DriverContext, PropertyBinding, RawBlock, RawReading, ReadRequest } from './driver.ts';
import type { LinkLease, LinkRegistry } from './links.ts';
import type { MapperMetrics } from './metrics.ts';
import type { PreparedDevice } from './prepare.ts';
import { ReadPipeline } from './pipeline.ts';
import type { LinkScheduler } from './scheduler.ts';
import { writeProperty, type WriteRequest } from './write.ts';
import type { WriteOutcome } from '../../core/reading.ts';
import { IoCodes } from '../../core/errors.ts';

/** Codes that mean the connection itself is gone, not just one read. */
const LOST_CODES = new Set<string>([IoCodes.CONNECTION_RESET, IoCodes.BROKEN_PIPE, IoCodes.NOT_CONNECTED, IoCodes.CONNECTION_REFUSED, IoCodes.CONNECTION_ABORTED, IoCodes.HOST_UNREACHABLE, IoCodes.NETWORK_UNREACHABLE]);

export interface RunnerDeps {
  prepared: PreparedDevice;
  sink: ReadingSink;
  log: Logger;
  links: LinkRegistry;
  dataDir: string;
  metrics: MapperMetrics;
  scheduler: LinkScheduler;
  backoff?: BackoffOptions;
  clock: Clock;
  /** A hook call holding the event loop this long is logged as a warning (each new longest one). */
  blockingWarnMs: number;
}

export class DeviceRunner {
  readonly #d: RunnerDeps;
  readonly #id: string;
  readonly #protocol: string;
  readonly #backoff: Backoff;
  readonly #pipeline: ReadPipeline;
  readonly #stop = new AbortController();
  #state: DeviceState = 'unknown';
  #reason = 'not connected yet';
  #conn?: Connection;
  #generation = 0;
  #retryTimer: unknown;
  #sent = false;
  #sentReason?: string;
  #unsubscribe?: () => Promise<void>;
  #silenceTimer: unknown;
  /** The shared links the live connection holds (DriverContext.share), released after it closes. */
  #leases: LinkLease<unknown>[] = [];
  readonly #health = new Map<number, boolean>();
  /** This device's longest synchronous call per hook, so only a new record reaches the metrics. */
  readonly #longestHold = new Map<string, number>();

  constructor(deps: RunnerDeps) {
    this.#d = deps;
    this.#id = deps.prepared.spec.id;
    this.#protocol = deps.prepared.spec.protocol;
    this.#backoff = new Backoff(deps.backoff);
    this.#pipeline = new ReadPipeline(deps.prepared, deps.sink, deps.metrics);
  }

  get state(): DeviceState {
    return this.#state;
  }

  get prepared(): PreparedDevice {
    return this.#d.prepared;
  }

  start(): void {
    this.#setState('unknown');
    void this.#connect();
  }

  async stop(): Promise<void> {
    if (this.#stop.signal.aborted) return;
    this.#stop.abort(codedError(IoCodes.CANCELED, `device ${this.#id} stopped`));
    this.#generation++;
    if (this.#retryTimer !== undefined) this.#d.clock.clearTimer(this.#retryTimer);
    this.#retryTimer = undefined;
    await this.#disconnect();
    this.#d.metrics.forget(this.#id, this.#protocol);
  }

  write(property: string, value: unknown, signal?: AbortSignal): Promise<WriteOutcome> {
    const req: WriteRequest = {
      prepared: this.#d.prepared,
      connection: this.#conn,
      notConnected: `device ${this.#id} is ${this.#state} (${this.#reason}); the write was not sent`,
      submit: (run) => this.#d.scheduler.submit(this.#id, (s) => run(signal ? AbortSignal.any([s, signal]) : s)),
      readBack: (request, result) => this.#pipeline.ingest(request, result, this.#d.clock.now(), true).readings,
      call: (hook, fn) => this.#call(hook, fn),
    };
    return writeProperty(req, property, value).then((outcome) => {
      this.#d.metrics.writes.inc({ device: this.#id, protocol: this.#protocol, result: outcome.ok ? 'ok' : outcome.error?.code ?? 'error' });
      return outcome;
    });
  }

  /**
   * Called right after a driver hook returned its promise, with the time before the call: the
   * synchronous part is what the event loop, and so every other device, waited for.
   */
  #held(hook: string, started: number): void {
    const ms = performance.now() - started;
    // Most calls set no record: this check costs no allocation on the poll path.
    if (ms <= (this.#longestHold.get(hook) ?? 0)) return;
    this.#longestHold.set(hook, ms);
    if (this.#d.metrics.noteBlocking(this.#protocol, hook, ms, this.#d.blockingWarnMs)) {
      this.#d.log.warn({ hook, ms: Math.round(ms) }, `the ${this.#protocol} driver's ${hook}() held the event loop for ${Math.round(ms)} ms before returning; every device waited (move the work out of the hook or make it asynchronous)`);
    }
  }

  /** Calls a driver hook, timing its synchronous part; a hook that throws instead of rejecting rejects here. */
  #call<T>(hook: string, fn: () => Promise<T>): Promise<T> {
    const started = performance.now();
    let pending: Promise<T>;
    try {
      pending = fn();
    } catch (err) {
      pending = Promise.reject(err);
    }
    this.#held(hook, started);
    return pending;
  }

  async #connect(): Promise<void> {
    const gen = ++this.#generation;
    const { prepared, log } = this.#d;
    const leases: LinkLease<unknown>[] = [];
    const releaseAll = () => Promise.all(leases.map((l) => l.release())).catch((err: unknown) => log.warn({ err: errorMessage(err) }, 'closing a shared link failed'));
    const ctx: DriverContext = {
      log,
      signal: this.#stop.signal,
      links: this.#d.links,
      dataDir: this.#d.dataDir,
      lost: (err) => this.#lost(gen, err),
      share: async (key, open, what) => {
        const lease = await this.#d.links.share(key, open, (err) => this.#lost(gen, err), what);
        leases.push(lease);
        return lease;
      },
      count: (event, n = 1) => this.#d.metrics.countEvent(this.#id, this.#protocol, event, n),
    };
    let conn: Connection;
    const attempt = this.#call('connect', () => prepared.driver.connect(prepared.binding, ctx));
    const timeout = new AbortController();
    const timer = this.#d.clock.setTimer(() => timeout.abort(codedError(IoCodes.TIMED_OUT, 'connect timed out')), prepared.timeoutMs);
    try {
      conn = await raceAbort(raceAbort(attempt, this.#stop.signal), timeout.signal);
    } catch (err) {
      // A connect that answers after we gave up must not leak its socket.
      attempt.then((late) => late.close(), () => undefined).catch(() => undefined).finally(() => void releaseAll());
      if (gen !== this.#generation) return;
      const reason = timeout.signal.aborted ? `connect timed out after ${prepared.timeoutMs} ms` : errorMessage(err);
      this.#offline(`connect failed: ${reason}`);
      this.#retry();
      return;
    } finally {
      this.#d.clock.clearTimer(timer);
    }
    if (gen !== this.#generation) {
      await this.#call('close', () => conn.close()).catch(() => undefined);
      await releaseAll();
      return;
    }
    this.#conn = conn;
    this.#leases = leases;
    this.#backoff.reset();
    this.#health.clear();
    this.#reason = 'connected';
    // Registered before subscribing, so a write arriving while a push driver sets up its subscription finds the device.
    // A driver that names its pushed properties (Driver.pushes) has the rest polled; otherwise a
    // connection that can subscribe is pushed entirely.
    const pushed = conn.subscribe ? prepared.pushed ?? prepared.binding.properties : [];
    const polls = !conn.subscribe || prepared.pushed !== undefined;
    const jobs = !polls ? [] : prepared.plan.map((req, i) => ({
      interval: Math.min(...req.properties.map((p) => p.spec.collectCycle)),
      run: (signal: AbortSignal) => this.#poll(gen, conn, req, i, signal),
      // A driver that does not honour its signal is cut off here, not by racing every poll.
      cutOff: (err: unknown) => this.#pollFailed(gen, req, i, err),
    }));
    this.#d.scheduler.addDevice(this.#id, jobs, prepared.timeoutMs);
    // Online only once the scheduler knows the device: the twin writes pending desired values
    // the moment it hears "online", and those writes go through the scheduler.
    this.#setState('online');
    // Debug: the twin logs the state change to online at info, one line per change.
    log.debug('device connected');
    if (conn.subscribe && pushed.length > 0) {
      try {
        const live = () => gen === this.#generation;
        const channel = this.#pipeline.channel(pushed, live, () => this.#d.clock.now());
        const unsubscribe = await this.#call('subscribe', () => conn.subscribe!(pushed, (raws) => {
          if (!live()) return;
          this.#pipeline.pushed(pushed, raws, this.#d.clock.now());
        }, channel));
        // Stopped or lost while subscribing: nobody else will call this unsubscribe.
        if (gen !== this.#generation) {
          await unsubscribe().catch(() => undefined);
          return;
        }
        this.#unsubscribe = unsubscribe;
        if (prepared.streamTimeoutMs) this.#watchSilence(gen, conn, pushed, prepared.streamTimeoutMs);
      } catch (err) {
        this.#lost(gen, err instanceof Error ? err : new Error(String(err)));
        return;
      }
    }
  }

  /**
   * A pushed stream that stops is no error any read would see: every quarter of the timeout, look
   * whether readings came (a count, so a stream of thousands a second costs no clock reads); after
   * the timeout of silence, the pushed properties turn bad, again each timeout until data flows.
   */
  #watchSilence(gen: number, conn: Connection, pushed: readonly PropertyBinding[], timeoutMs: number): void {
    const { clock } = this.#d;
    const every = Math.max(1, Math.floor(timeoutMs / 4));
    let last = clock.now();
    let heardAtWatch = this.#pipeline.heard;
    const watch = () => {
      if (gen !== this.#generation) return;
      const now = clock.now();
      if (this.#pipeline.heard !== heardAtWatch) {
        heardAtWatch = this.#pipeline.heard;
        last = now;
      } else if (now - last >= timeoutMs) {
        const message = conn.silence?.(timeoutMs) ?? `no pushed data for ${timeoutMs} ms`;
        this.#pipeline.pushed(pushed, pushed.map((p) => ({ property: p.name, error: { code: IoCodes.TIMED_OUT, message } })), now);
        // Bad readings are not data: the count must not take them for the stream coming back.
        heardAtWatch = this.#pipeline.heard;
        last = now;
      }
      this.#silenceTimer = clock.setTimer(watch, every);
    };
    this.#silenceTimer = clock.setTimer(watch, every);
  }

  async #poll(gen: number, conn: Connection, req: ReadRequest, index: number, signal: AbortSignal): Promise<void> {
    const { clock } = this.#d;
    let result: RawReading[] | RawBlock;
    try {
      // Inline rather than #call: this runs on every poll of every device.
      const started = performance.now();
      const pending = conn.read(req, signal);
      this.#held('read', started);
      result = await pending;
    } catch (err) {
      // Aborted: the scheduler cut the poll off and cutOff() has reported why.
      if (!signal.aborted) this.#pollFailed(gen, req, index, err);
      return;
    }
    if (signal.aborted || gen !== this.#generation) return;
    const { ok, error } = this.#pipeline.ingest(req, result, clock.now());
    this.#pollDone(index, ok, error);
  }

  /** A poll that failed as a whole: every property of its request reads bad with the reason. */
  #pollFailed(gen: number, req: ReadRequest, index: number, err: unknown): void {
    const code = errorCode(err, IoCodes.READ);
    if (gen !== this.#generation || code === IoCodes.CANCELED) return;
    if (LOST_CODES.has(code)) {
      this.#lost(gen, err instanceof Error ? err : new Error(String(err)));
      return;
    }
    this.#d.scheduler.countError();
    const message = errorMessage(err);
    this.#pipeline.failed(req, code, message, this.#d.clock.now());
    this.#pollDone(index, false, { code, message });
  }

  /** `error`: the first error the poll's readings carried, quoted when the device turns unhealthy. */
  #pollDone(index: number, ok: boolean, error: ReadingError | undefined): void {
    this.#health.set(index, ok);
    // Only a failed poll can make an online device unhealthy, and only a good one can heal it.
    if ((this.#state === 'online' && !ok) || (this.#state === 'unhealthy' && ok)) this.#updateHealth(error);
  }

  /** Connected but every request's latest read failed: unhealthy; one success: online again. */
  #updateHealth(err: ReadingError | undefined): void {
    const all = [...this.#health.values()];
    if (this.#state === 'online' && all.length === this.#d.prepared.plan.length && all.every((ok) => !ok)) {
      this.#reason = `every read fails${err ? `: ${err.code} ${err.message}` : ''}`;
      this.#setState('unhealthy', this.#reason);
    } else if (this.#state === 'unhealthy' && all.some((ok) => ok)) {
      this.#reason = 'reads succeed again';
      this.#setState('online');
    }
  }

  #lost(gen: number, err: Error): void {
    if (gen !== this.#generation || !this.#conn) return;
    // A lost connection is an error on its link, whether a poll or the link itself found it.
    this.#d.scheduler.countError();
    this.#generation++;
    this.#d.log.warn({ err: errorMessage(err) }, 'device connection lost');
    void this.#disconnect();
    this.#offline(`connection lost: ${errorMessage(err)}`);
    this.#retry();
  }

  async #disconnect(): Promise<void> {
    this.#d.scheduler.removeDevice(this.#id);
    if (this.#silenceTimer !== undefined) this.#d.clock.clearTimer(this.#silenceTimer);
    this.#silenceTimer = undefined;
    const conn = this.#conn;
    const unsubscribe = this.#unsubscribe;
    this.#conn = undefined;
    this.#unsubscribe = undefined;
    await unsubscribe?.().catch(() => undefined);
    if (conn) await this.#call('close', () => conn.close()).catch((err: unknown) => this.#d.log.warn({ err: errorMessage(err) }, 'closing the connection failed'));
    // After close(): the driver may still use its links while it closes.
    const leases = this.#leases;
    this.#leases = [];
    await Promise.all(leases.map((l) => l.release())).catch((err: unknown) => this.#d.log.warn({ err: errorMessage(err) }, 'closing a shared link failed'));
  }

  /** Offline: the state says why, and every property turns bad so no stale value looks current. */
  #offline(reason: string): void {
    this.#reason = reason;
    this.#setState('offline', reason);
    this.#pipeline.offline(IoCodes.NOT_CONNECTED, `device offline: ${reason}`, this.#d.clock.now());
  }

  #retry(): void {
    if (this.#stop.signal.aborted) return;
    const delay = this.#backoff.next();
    this.#d.log.info({ attempt: this.#backoff.attempts, delayMs: delay }, 'reconnecting after backoff');
    this.#retryTimer = this.#d.clock.setTimer(() => {
      this.#retryTimer = undefined;
      void this.#connect();
    }, delay);
  }

  #setState(state: DeviceState, reason?: string): void {
    const changed = state !== this.#state || reason !== this.#sentReason || !this.#sent;
    this.#state = state;
    this.#sent = true;
    this.#sentReason = reason;
    this.#d.metrics.setState(this.#id, this.#protocol, state);
    if (changed) this.#d.sink.state(this.#id, state, reason);
  }
}
