// Whether containerd answers: asked once and then again only every retryMs while it does not, and
// told to the status sink (the node's condition) and the log once per change, not once per failed call.

import type { Logger } from '../../core/log.ts';
import { GrpcCallError } from '../grpc-unix.ts';
import type { Cri } from './cri/client.ts';
import type { StatusSink } from './source.ts';

export class RuntimeHealth {
  reachable: boolean | undefined;
  private lastTry = 0;

  constructor(
    private readonly cri: Cri,
    private readonly sink: StatusSink,
    private readonly log: Logger,
    /** How often to try again while containerd cannot be reached. */
    readonly retryMs: number,
  ) {}

  async ready(): Promise<boolean> {
    if (this.reachable) return true;
    if (this.reachable === false && Date.now() - this.lastTry < this.retryMs) return false;
    this.lastTry = Date.now();
    try {
      const v = await this.cri.runtime.version();
      this.reachable = true;
      this.log.info({ endpoint: this.cri.endpoint, runtime: v.runtimeName, version: v.runtimeVersion }, 'container runtime reachable');
      this.sink.runtime({ reachable: true, endpoint: this.cri.endpoint, runtimeName: v.runtimeName, runtimeVersion: v.runtimeVersion });
      return true;
    } catch (err) {
      this.error(err);
      return false;
    }
  }

  /** A failed call: an unreachable runtime marks it down (said once); anything else is logged as a sync failure. */
  error(err: unknown): void {
    const unavailable = err instanceof GrpcCallError && err.unavailable;
    if (!unavailable) {
      this.log.error({ err }, 'pod sync failed');
      return;
    }
    if (this.reachable !== false) {
      this.log.warn({ endpoint: this.cri.endpoint, error: (err as Error).message }, `cannot reach containerd at ${this.cri.endpoint}: pods wait until it answers; devices keep running (start containerd, or set edged.containerd)`);
      this.sink.runtime({ reachable: false, endpoint: this.cri.endpoint, message: (err as GrpcCallError).details });
    }
    this.reachable = false;
    this.lastTry = Date.now();
  }
}
