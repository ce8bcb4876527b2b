// Certificate rotation on a running gateway: at 80% of the node certificate's life the gateway
// asks the join server for a new one, authenticated by the current certificate, then the caller
// reconnects EdgeHub so the link uses it. A failed attempt retries with backoff (2 s doubling to
// 32 s, as KubeEdge's certmanager) and never touches the working certificate.

import type { Logger } from '../../core/log.ts';
import { renew } from './client.ts';
import { identityOf, type NodeFiles } from './node-files.ts';
import { readFileSync } from 'node:fs';

/** setTimeout's limit (about 24.8 days): longer waits are taken in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface RotationOptions {
  files: NodeFiles;
  /** `host:port` of the join server, as `join` recorded it. */
  joinServer: string;
  log: Logger;
  onRenewed: () => void;
  /** Share of the certificate's life after which it is renewed; default 0.8. */
  at?: number;
  /** First retry delay; default 2 s. */
  retryMs?: number;
}

export class CertRotation {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private failures = 0;

  constructor(private readonly opts: RotationOptions) {}

  start(): void {
    this.plan();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  /** When the current certificate is due for renewal, ms since the epoch. */
  dueAt(): number {
    const id = identityOf(readFileSync(this.opts.files.cert, 'utf8'), this.opts.files.cert);
    return id.notBefore + (this.opts.at ?? 0.8) * (id.notAfter - id.notBefore);
  }

  private plan(): void {
    if (this.stopped) return;
    const wait = Math.max(0, this.dueAt() - Date.now());
    this.opts.log.info({ renewAt: new Date(Date.now() + wait).toISOString() }, 'edgehub: node certificate renewal planned');
    this.after(wait, () => void this.rotate());
  }

  private after(ms: number, fn: () => void): void {
    clearTimeout(this.timer);
    if (ms > MAX_TIMER_MS) {
      this.timer = setTimeout(() => this.after(ms - MAX_TIMER_MS, fn), MAX_TIMER_MS);
    } else {
      this.timer = setTimeout(fn, ms);
    }
    this.timer.unref();
  }

  private async rotate(): Promise<void> {
    if (this.stopped) return;
    try {
      const { notAfter } = await renew(this.opts.files, this.opts.joinServer);
      this.failures = 0;
      this.opts.log.info({ notAfter: new Date(notAfter).toISOString() }, 'edgehub: node certificate renewed');
      this.opts.onRenewed();
      this.plan();
    } catch (err) {
      const ms = Math.min(32_000, (this.opts.retryMs ?? 2000) * 2 ** this.failures++);
      this.opts.log.warn({ err: (err as Error).message, retryMs: ms }, 'edgehub: node certificate renewal failed; the current certificate stays in use');
      this.after(ms, () => void this.rotate());
    }
  }
}
