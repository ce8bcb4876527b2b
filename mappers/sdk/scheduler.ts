// One scheduler per link (TCP endpoint, serial bus, adapter), never per property: it owns a
// single timer, serves the devices on the link round-robin so a device with many requests cannot
// starve its neighbours, keeps at most maxInFlight requests on the wire, gives every request a
// deadline, and measures how late each poll starts.

import { getEventListeners } from 'node:events';
import { realClock, type Clock } from './clock.ts';
import { codedError } from './async.ts';
import { IoCodes } from '../../core/errors.ts';

/** A periodic read. It reports its own failures: the scheduler only times and orders it. */
export interface PollJob {
  /** Milliseconds between starts. */
  interval: number;
  run(signal: AbortSignal): Promise<void>;
  /**
   * The scheduler cut a run off before it settled (its deadline passed, or its device was
   * removed) and aborted its signal with `err`. The job reports that here rather than by racing
   * every run against its signal; whatever the run does later is its own business.
   */
  cutOff?(err: unknown): void;
}

export interface SchedulerOptions {
  key: string;
  maxInFlight?: number;
  clock?: Clock;
  /** Called when a poll starts: ms between its due time and its start. */
  onLateness?(device: string, lateMs: number): void;
}

const GOLDEN = (Math.sqrt(5) - 1) / 2;

interface JobState extends PollJob {
  due: number;
  running: boolean;
  /** False until the first poll started; a first poll that queued gives the job its phase. */
  anchored: boolean;
}

interface Task {
  run(signal: AbortSignal): Promise<unknown>;
  resolve(value: unknown): void;
  reject(err: unknown): void;
}

interface DeviceEntry {
  jobs: JobState[];
  tasks: Task[];
  timeoutMs: number;
}

interface Flight {
  device: string;
  deadline: number;
  controller: AbortController;
  done: boolean;
  /** `cutOff`: the scheduler ended it (deadline, device removed) before the request settled. */
  settle(err: unknown, value: unknown, cutOff: boolean): void;
}

export class LinkScheduler {
  readonly key: string;
  #maxInFlight: number;
  readonly #clock: Clock;
  readonly #onLateness?: (device: string, lateMs: number) => void;
  readonly #devices = new Map<string, DeviceEntry>();
  #order: { device: string; entry: DeviceEntry }[] = [];
  /** Where in #order the device served last is: the next turn goes to the one after it. */
  #lastIndex = -1;
  readonly #inFlight = new Set<Flight>();
  /**
   * Controllers of requests that ended without an abort and with no listener left on their
   * signal, for the next requests: creating an AbortController costs microseconds on Node 20,
   * as much as the rest of the runtime's work for a request.
   */
  readonly #spare: AbortController[] = [];
  /** Jobs given a phase so far: the index into the golden-ratio sequence. */
  #phased = 0;
  #timer: unknown;
  #timerAt = Infinity;
  #closed = false;
  /** What a dashboard shows of the link: counted here, turned into rates by the host. */
  readonly #stats = { requests: 0, errors: 0, busyMs: 0, busySince: 0, lateness: new Float64Array(256), latenessAt: 0, latenessN: 0 };

  constructor(opts: SchedulerOptions) {
    this.key = opts.key;
    this.#maxInFlight = Math.max(1, opts.maxInFlight ?? 1);
    this.#clock = opts.clock ?? realClock;
    this.#onLateness = opts.onLateness;
  }

  get devices(): number {
    return this.#devices.size;
  }

  get inFlight(): number {
    return this.#inFlight.size;
  }

  /** A poll on this link failed (its device runner says so: the scheduler only times runs). */
  countError(): void {
    this.#stats.errors++;
  }

  /** Totals since the link started: requests, failed polls, ms with a request on the wire; and the lateness p99 (ms). */
  stats(): { requests: number; errors: number; busyMs: number; latenessP99Ms: number } {
    const s = this.#stats;
    const busyMs = s.busyMs + (this.#inFlight.size > 0 ? this.#clock.now() - s.busySince : 0);
    const late = [...s.lateness.subarray(0, s.latenessN)].sort((a, b) => a - b);
    const p99 = late.length ? late[Math.min(late.length - 1, Math.ceil(late.length * 0.99) - 1)]! : 0;
    return { requests: s.requests, errors: s.errors, busyMs, latenessP99Ms: p99 };
  }

  /** Lower the in-flight limit (a link runs at the most cautious limit of its devices). */
  limit(maxInFlight: number): void {
    this.#maxInFlight = Math.max(1, Math.min(this.#maxInFlight, maxInFlight));
  }

  /** Start polling a device's plan; every job is due at once, then every `interval` ms. */
  addDevice(device: string, jobs: readonly PollJob[], timeoutMs: number): void {
    if (this.#closed) return;
    this.removeDevice(device);
    const now = this.#clock.now();
    const entry: DeviceEntry = { jobs: jobs.map((j) => ({ interval: Math.max(1, j.interval), run: j.run, cutOff: j.cutOff, due: now, running: false, anchored: false })), tasks: [], timeoutMs };
    this.#devices.set(device, entry);
    this.#order.push({ device, entry });
    this.#pump();
  }

  /** Stop a device: its requests in flight are aborted and its queued tasks rejected. */
  removeDevice(device: string): void {
    const entry = this.#devices.get(device);
    if (!entry) return;
    this.#devices.delete(device);
    const at = this.#order.findIndex((o) => o.device === device);
    this.#order.splice(at, 1);
    // The turn stays with the device after the one served last, even as devices come and go.
    if (at <= this.#lastIndex) this.#lastIndex--;
    const stopped = codedError(IoCodes.CANCELED, `device ${device} stopped`);
    for (const task of entry.tasks) task.reject(stopped);
    for (const flight of [...this.#inFlight]) if (flight.device === device) this.#end(flight, stopped, undefined, false);
    this.#pump();
  }

  /**
   * Run a one-off request (a write, a read-back) in the device's turn, ahead of its polls, under
   * the same in-flight limit and timeout.
   */
  submit<T>(device: string, run: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const entry = this.#devices.get(device);
    if (!entry) return Promise.reject(codedError(IoCodes.NOT_CONNECTED, `device ${device} is not connected`));
    return new Promise<T>((resolve, reject) => {
      entry.tasks.push({ run, resolve: resolve as (v: unknown) => void, reject });
      this.#pump();
    });
  }

  close(): void {
    this.#closed = true;
    if (this.#timer !== undefined) this.#clock.clearTimer(this.#timer);
    this.#timer = undefined;
    for (const device of [...this.#devices.keys()]) this.removeDevice(device);
  }

  #pump(): void {
    if (this.#closed) return;
    const now = this.#clock.now();
    // Ending a request changes the set, so it is walked over a copy; but only when some request
    // is past its deadline: this runs after every request, and almost none time out.
    let overdue = false;
    for (const flight of this.#inFlight) if (flight.deadline <= now) overdue = true;
    if (overdue) {
      for (const flight of [...this.#inFlight]) {
        if (flight.deadline <= now) {
          const timeoutMs = this.#devices.get(flight.device)?.timeoutMs ?? 0;
          this.#end(flight, codedError(IoCodes.TIMED_OUT, `no answer within ${timeoutMs} ms`), undefined, false);
        }
      }
    }
    while (this.#inFlight.size < this.#maxInFlight && this.#startNext(now));
    this.#arm(now);
  }

  /** Round-robin over devices: the next device with a task or a due poll gets one slot. */
  #startNext(now: number): boolean {
    const n = this.#order.length;
    const first = this.#lastIndex + 1;
    for (let i = 0; i < n; i++) {
      const idx = (first + i) % n;
      const { device, entry } = this.#order[idx]!;
      const task = entry.tasks.length ? entry.tasks.shift() : undefined;
      if (task) {
        this.#lastIndex = idx;
        this.#launch(device, entry.timeoutMs, now, task.run, (err, value) => (err === undefined ? task.resolve(value) : task.reject(err)));
        return true;
      }
      let job: JobState | undefined;
      for (const j of entry.jobs) if (!j.running && j.due <= now && (!job || j.due < job.due)) job = j;
      if (job) {
        this.#lastIndex = idx;
        const started = job;
        started.running = true;
        this.#onLateness?.(device, now - started.due);
        const st = this.#stats;
        st.lateness[st.latenessAt] = now - started.due;
        st.latenessAt = (st.latenessAt + 1) % st.lateness.length;
        st.latenessN = Math.min(st.latenessN + 1, st.lateness.length);
        // Every job of every device starts due at once. A job whose first run had to queue gets a
        // phase of its own (golden-ratio points spread any number of jobs evenly over the cycle),
        // so later cycles start on time instead of queueing in the same burst. Its next run comes
        // within one interval, never later.
        if (!started.anchored) {
          started.anchored = true;
          if (now > started.due) started.due += ((++this.#phased * GOLDEN) % 1) * started.interval - started.interval;
        }
        this.#launch(device, entry.timeoutMs, now, started.run, (err, _value, cutOff) => {
          started.running = false;
          if (cutOff) started.cutOff?.(err);
          const at = this.#clock.now();
          // Missed cycles are skipped, not replayed in a burst.
          if (started.due + started.interval <= at) started.due += Math.floor((at - started.due) / started.interval) * started.interval;
          started.due += started.interval;
        });
        return true;
      }
    }
    return false;
  }

  #launch(device: string, timeoutMs: number, now: number, run: (signal: AbortSignal) => Promise<unknown>, settle: Flight['settle']): void {
    const flight: Flight = { device, deadline: now + timeoutMs, controller: this.#spare.pop() ?? new AbortController(), done: false, settle };
    if (this.#inFlight.size === 0) this.#stats.busySince = now;
    this.#stats.requests++;
    this.#inFlight.add(flight);
    let result: Promise<unknown>;
    try {
      result = Promise.resolve(run(flight.controller.signal));
    } catch (err) {
      result = Promise.reject(err);
    }
    result.then((value) => this.#end(flight, undefined, value, true), (err) => this.#end(flight, err ?? new Error('request failed'), undefined, true));
  }

  #end(flight: Flight, err: unknown, value: unknown, pump: boolean): void {
    if (flight.done) return;
    flight.done = true;
    this.#inFlight.delete(flight);
    if (this.#inFlight.size === 0) this.#stats.busyMs += this.#clock.now() - this.#stats.busySince;
    // Abort first, so a driver still waiting on the wire sees why it was cut off.
    const signal = flight.controller.signal;
    if (err !== undefined && !signal.aborted) flight.controller.abort(err);
    // Reused only when nobody can still be told of an abort: a driver that left a listener on it
    // (or still holds a request open) keeps its own signal.
    else if (!signal.aborted && this.#spare.length < this.#maxInFlight && getEventListeners(signal, 'abort').length === 0) this.#spare.push(flight.controller);
    flight.settle(err, value, !pump);
    if (pump) this.#pump();
  }

  /** The one timer: the next due poll (when a slot is free) or the next deadline in flight. */
  #arm(now: number): void {
    let at = Infinity;
    for (const flight of this.#inFlight) at = Math.min(at, flight.deadline);
    if (this.#inFlight.size < this.#maxInFlight) {
      for (const entry of this.#devices.values()) for (const job of entry.jobs) if (!job.running) at = Math.min(at, job.due);
    }
    // A timer that fires no later than needed is kept: it pumps and re-arms when it fires. Each
    // request moves the earliest deadline later, and re-setting the timer for every one of them
    // would cost more than the request's own bookkeeping.
    if (this.#timer !== undefined && this.#timerAt <= at) return;
    if (this.#timer !== undefined) this.#clock.clearTimer(this.#timer);
    this.#timer = undefined;
    this.#timerAt = at;
    if (at === Infinity) return;
    this.#timer = this.#clock.setTimer(() => {
      this.#timer = undefined;
      this.#timerAt = Infinity;
      this.#pump();
    }, Math.max(0, at - now));
  }
}
