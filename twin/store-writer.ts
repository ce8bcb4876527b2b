// What of the twin the store has not seen yet, and committing it. A flush marks the rows its
// readings changed and commits them in one transaction; while the store refuses writes (a full
// disk, an I/O error) the rows stay marked and a timer retries them every `retryMs` until the store
// commits again, so a full disk costs one failed transaction per retry interval, not one per reading.
//
// The marked rows are a list kept with its capacity, not a Map rebuilt every flush: a gateway
// flushes a thousand times a second, and each rebuilt table was garbage for the young generation.

import type { Logger } from '../core/log.ts';
import type { DeviceEntry, PropState } from './entry.ts';
import type { Counter } from 'prom-client';
import { storageError, type TwinStore } from './store.ts';

export interface StoreWriterOptions {
  store: TwinStore;
  log: Logger;
  retryMs: number;
  /** Store transactions that failed. */
  failures: Counter<string>;
  /** True once the twin is closed: no retry timer is armed then. */
  closed: () => boolean;
}

export class StoreWriter {
  private readonly store: TwinStore;
  private readonly log: Logger;
  private readonly retryMs: number;
  private readonly failures: Counter<string>;
  private readonly closed: () => boolean;
  /** Rows marked since the last commit; `rows` of them are in use, each once (PropState.queued). */
  private readonly list: PropState[] = [];
  private rows = 0;
  private readonly devices = new Set<DeviceEntry>();
  private failure: string | undefined;
  private retryTimer: NodeJS.Timeout | undefined;

  constructor(opts: StoreWriterOptions) {
    this.store = opts.store;
    this.log = opts.log;
    this.retryMs = opts.retryMs;
    this.failures = opts.failures;
    this.closed = opts.closed;
  }

  /** Why the store does not commit (what, where, what to do), or undefined while it does. */
  get problem(): string | undefined {
    return this.failure;
  }

  /** Only readings changed the row: its reported columns are written, unless something else marks it. */
  markReported(p: PropState): void {
    if (p.dirty !== 'clean') return;
    p.dirty = 'reported';
    this.enlist(p);
  }

  /** Anything but readings changed the row: it is written whole. */
  markRow(p: PropState): void {
    p.dirty = 'row';
    this.enlist(p);
  }

  markDevice(e: DeviceEntry): void {
    this.devices.add(e);
  }

  /**
   * Commits every marked row in one transaction. While the store refuses writes this does nothing
   * and returns false: the retry timer owns the store then.
   */
  persist(): boolean {
    if (this.failure !== undefined) return false;
    if (this.rows === 0 && this.devices.size === 0) return true;
    try {
      this.store.transaction(() => this.writeMarked());
    } catch (err) {
      this.failed(err);
      return false;
    }
    this.committed();
    return true;
  }

  /** Inside a transaction: writes every marked row and device; committed() after the commit. */
  writeMarked(): void {
    const list = this.list;
    for (let i = 0; i < this.rows; i++) this.writeRow(list[i]!);
    this.store.writeReported();
    for (const e of this.devices) if (!e.retired) this.store.setState(e.spec.id, e.state, e.reason ?? null, e.lastOnline ?? null);
  }

  /**
   * Commits these rows whole in a transaction of their own (a desired value: its caller is told
   * whether it was stored). They stay marked, so a refused write is retried with whatever the
   * caller puts back in memory. Throws the storage error after recording the failure.
   */
  commitRows(props: readonly PropState[]): void {
    for (const p of props) this.markRow(p);
    try {
      this.store.transaction(() => {
        for (const p of props) this.writeRow(p);
      });
    } catch (err) {
      this.failed(err);
      throw storageError(this.store.file, err, 'write');
    }
    // Still listed, now clean: the next commit skips them and unlists them.
    for (const p of props) p.dirty = 'clean';
  }

  /** After a commit that wrote everything marked. */
  committed(): void {
    const list = this.list;
    for (let i = 0; i < this.rows; i++) {
      const p = list[i]!;
      p.dirty = 'clean';
      p.queued = false;
      p.reportedText = null;
      list[i] = undefined!;
    }
    this.rows = 0;
    this.devices.clear();
  }

  /** The store refused a transaction: say so once, and arm the retry. */
  failed(err: unknown): void {
    this.failures.inc();
    const failure = storageError(this.store.file, err, 'write').format();
    if (this.failure === undefined) {
      this.log.error(
        { file: this.store.file, reason: failure, retryInMs: this.retryMs },
        'twin: the store refuses writes; the twin runs on from memory, publishes values with persisted "false", and retries',
      );
    }
    this.failure = failure;
    if (!this.retryTimer && !this.closed()) {
      this.retryTimer = setTimeout(() => {
        this.retryTimer = undefined;
        this.retry();
      }, this.retryMs);
    }
  }

  /** Stops the retry timer; a store still refusing gets one last try. */
  close(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    if (this.failure !== undefined) this.retry();
  }

  /** Writes everything the store missed, plus a heartbeat so a retry always proves a real commit. */
  private retry(): void {
    this.store.checkpoint();
    try {
      this.store.transaction(() => {
        this.writeMarked();
        this.store.heartbeat();
      });
    } catch (err) {
      this.failed(err);
      return;
    }
    const rows = this.rows + this.devices.size;
    this.committed();
    this.failure = undefined;
    this.log.info({ file: this.store.file, rows }, 'twin: the store commits again; everything held in memory is stored');
  }

  private enlist(p: PropState): void {
    if (p.queued) return;
    p.queued = true;
    this.list[this.rows++] = p;
  }

  /** A row that left the twin (its device or property removed) is not written back. */
  private writeRow(p: PropState): void {
    if (p.retired || p.dirty === 'clean') return;
    if (p.dirty === 'reported') {
      this.store.queueReported(p.rid, p.reportedTextNow(), p.reportedTime, p.quality!, p.error?.code ?? null, p.error?.message ?? null, p.actEdge);
    } else this.store.saveProperty(p.rid, p.values());
  }
}
