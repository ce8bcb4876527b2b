// The DeviceStatus writer: every report from the edges lands in memory, per device, and the
// writer sends each device's whole status as ONE merge patch of the status subresource, at most
// once per device per `perDeviceIntervalMs`, and at most `budgetPerSecond` patches in any one
// second across all devices (a sliding window, so no second of the API server's sees more).
// Reports that arrive between two writes of a device coalesce: 1,000 changes of an offline
// gateway cost one write when it returns. Devices are served oldest change first, so under
// overload each waits about devices / budget seconds and none starves.
import type { Logger } from '../../../core/log.ts';
import type { DeviceError, DeviceStatusBody, StatusTwin, Summary, TwinValue } from './types.ts';

export interface StatusWriterSettings {
  /** The least time between two writes of one device's status (default 1 s). */
  perDeviceIntervalMs: number;
  /** Status writes per second across all devices (default 50). */
  budgetPerSecond: number;
  /** How often the writer looks for due devices (default 20 ms). */
  tickMs: number;
  /** Writes in flight at once (default 16). */
  concurrency: number;
}

export const DEFAULT_STATUS_WRITER: StatusWriterSettings = { perDeviceIntervalMs: 1000, budgetPerSecond: 50, tickMs: 20, concurrency: 16 };

/** What a write does: the merge patch of `{status}`; rejects with `missing: true` when the DeviceStatus is gone. */
export type WriteStatus = (namespace: string, name: string, status: DeviceStatusBody) => Promise<void>;

interface Entry {
  namespace: string;
  name: string;
  twins: Map<string, StatusTwin>;
  state?: string;
  lastOnlineTime?: string;
  error: DeviceError | null;
  /** When the oldest unwritten change arrived; undefined when nothing is unwritten. */
  dirtySince?: number;
  lastWriteAt: number;
  inFlight: boolean;
}

export interface StatusWriterStats {
  writes: number;
  failures: number;
  /** Reports merged into a device's pending write instead of costing one. */
  coalesced: number;
  dirty: number;
}

export class StatusWriter {
  private readonly entries = new Map<string, Entry>();
  /** Devices with unwritten changes, oldest change first (Map keeps insertion order). */
  private readonly dirty = new Map<string, Entry>();
  /** Start times of the last `budgetPerSecond` writes (a ring). */
  private readonly window: number[];
  private windowAt = 0;
  private inFlight = 0;
  private timer?: NodeJS.Timeout;
  readonly stats: StatusWriterStats = { writes: 0, failures: 0, coalesced: 0, dirty: 0 };
  /** Called after each successful write with the device and when its oldest change arrived. */
  onWritten?: (namespace: string, name: string, dirtySince: number) => void;

  constructor(private readonly settings: StatusWriterSettings, private readonly write: WriteStatus, private readonly log: Logger, private readonly now: () => number = Date.now) {
    this.window = new Array<number>(Math.max(1, Math.floor(settings.budgetPerSecond))).fill(-Infinity);
  }

  start(): void {
    this.timer = setInterval(() => this.tick(), this.settings.tickMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** The status already in the cluster (read when the DeviceStatus was found), so a first write keeps what it does not change. */
  seed(namespace: string, name: string, status: DeviceStatusBody | undefined): void {
    const e = this.entry(namespace, name);
    if (e.twins.size > 0 || e.state !== undefined) return;
    for (const t of status?.twins ?? []) if (t?.propertyName) e.twins.set(t.propertyName, t);
    if (status?.state) e.state = status.state;
    if (status?.lastOnlineTime) e.lastOnlineTime = status.lastOnlineTime;
    e.error = status?.extensions?.error ?? null;
  }

  /** Merges reported/observedDesired values per property; `known` limits them to the Device's properties. */
  applyTwins(namespace: string, name: string, twins: Record<string, { reported?: TwinValue; observedDesired?: TwinValue }>, known: Set<string>): string[] {
    const e = this.entry(namespace, name);
    const ignored: string[] = [];
    for (const [prop, t] of Object.entries(twins)) {
      if (!known.has(prop)) {
        ignored.push(prop);
        continue;
      }
      const cur = e.twins.get(prop) ?? { propertyName: prop };
      const next: StatusTwin = { ...cur };
      if (t.reported) next.reported = t.reported;
      if (t.observedDesired) next.observedDesired = t.observedDesired;
      e.twins.set(prop, next);
    }
    // Properties the Device no longer has leave the status too.
    for (const prop of e.twins.keys()) if (!known.has(prop)) e.twins.delete(prop);
    this.markDirty(e);
    return ignored;
  }

  applyState(namespace: string, name: string, s: { state?: string; lastOnlineTime?: string; error?: DeviceError | null }): { errorChanged: boolean } {
    const e = this.entry(namespace, name);
    if (s.state !== undefined) e.state = s.state;
    if (s.lastOnlineTime !== undefined) e.lastOnlineTime = s.lastOnlineTime;
    const nextError = s.error ?? null;
    const errorChanged = JSON.stringify(nextError && { m: nextError.message, f: nextError.field }) !== JSON.stringify(e.error && { m: e.error.message, f: e.error.field });
    e.error = nextError;
    this.markDirty(e);
    return { errorChanged };
  }

  forget(namespace: string, name: string): void {
    const key = `${namespace}/${name}`;
    this.entries.delete(key);
    this.dirty.delete(key);
  }

  get pending(): number {
    return this.dirty.size;
  }

  /** The body a write of this device sends now (exported for tests). */
  body(namespace: string, name: string): DeviceStatusBody | undefined {
    const e = this.entries.get(`${namespace}/${name}`);
    return e ? toBody(e, this.now()) : undefined;
  }

  private entry(namespace: string, name: string): Entry {
    const key = `${namespace}/${name}`;
    let e = this.entries.get(key);
    if (!e) {
      e = { namespace, name, twins: new Map(), error: null, lastWriteAt: -Infinity, inFlight: false };
      this.entries.set(key, e);
    }
    return e;
  }

  private markDirty(e: Entry): void {
    if (e.dirtySince !== undefined) {
      this.stats.coalesced++;
      return;
    }
    e.dirtySince = this.now();
    this.dirty.set(`${e.namespace}/${e.name}`, e);
    this.stats.dirty = this.dirty.size;
  }

  /** Sends what is due within the budget (public for tests with a fake clock). */
  tick(): void {
    const now = this.now();
    for (const [key, e] of this.dirty) {
      if (this.inFlight >= this.settings.concurrency) break;
      // The window's oldest write must be a second old before another may start.
      if (now - this.window[this.windowAt]! < 1000) break;
      if (e.inFlight || now - e.lastWriteAt < this.settings.perDeviceIntervalMs) continue;
      this.dirty.delete(key);
      this.window[this.windowAt] = now;
      this.windowAt = (this.windowAt + 1) % this.window.length;
      this.send(e, now);
    }
    this.stats.dirty = this.dirty.size;
  }

  private send(e: Entry, now: number): void {
    const since = e.dirtySince!;
    e.dirtySince = undefined;
    e.inFlight = true;
    e.lastWriteAt = now;
    this.inFlight++;
    const body = toBody(e, now);
    this.write(e.namespace, e.name, body).then(() => {
      this.stats.writes++;
      this.onWritten?.(e.namespace, e.name, since);
    }, (err: Error) => {
      this.stats.failures++;
      this.log.warn({ device: `${e.namespace}/${e.name}`, err: err.message }, 'writing the DeviceStatus failed; it is retried');
      // Still unwritten: back in line with its original age, so a failing device keeps its turn.
      if (this.entries.get(`${e.namespace}/${e.name}`) === e && e.dirtySince === undefined) {
        e.dirtySince = since;
        this.dirty.set(`${e.namespace}/${e.name}`, e);
      }
    }).finally(() => {
      e.inFlight = false;
      this.inFlight--;
    });
  }
}

export function summarize(twins: Iterable<StatusTwin>): Summary {
  const s: Summary = { reported: 0, pending: 0, applied: 0, failed: 0, drifted: 0 };
  for (const t of twins) {
    if (t.reported?.value !== undefined) s.reported++;
    const r = t.reported?.metadata?.reconcile;
    if (r === 'pending' || r === 'applied' || r === 'failed' || r === 'drifted') s[r]++;
  }
  return s;
}

function toBody(e: Entry, now: number): DeviceStatusBody {
  const twins = [...e.twins.values()].sort((a, b) => a.propertyName.localeCompare(b.propertyName));
  const body: DeviceStatusBody = {
    twins,
    extensions: { summary: summarize(twins), error: e.error, lastWriteTime: new Date(now).toISOString() },
  };
  if (e.state !== undefined) body.state = e.state;
  if (e.lastOnlineTime !== undefined) body.lastOnlineTime = e.lastOnlineTime;
  return body;
}
