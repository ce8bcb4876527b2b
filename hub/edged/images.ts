// Images for the pods' containers: looked up once per tick, pulled by the pull policy, with
// ImagePullBackOff after a failed pull.

import type { Logger } from '../../core/log.ts';
import { GrpcCallError } from '../grpc-unix.ts';
import type { Image, ImageClient } from './cri/client.ts';
import type { EdgedMetrics } from './metrics.ts';
import type { ContainerSpec } from './pod.ts';
import type { BackoffLimits, ContainerState, Worker } from './pod-worker.ts';

export class ImagePuller {
  /** One ImageStatus per image per tick, shared by every pod that uses it. */
  private cache = new Map<string, Promise<Image | undefined>>();

  constructor(
    private readonly images: ImageClient,
    private readonly log: Logger,
    private readonly metrics: EdgedMetrics,
    private readonly backoff: BackoffLimits,
  ) {}

  /** A new tick asks the runtime afresh. */
  newTick(): void {
    this.cache = new Map();
  }

  /** ImageStatus of an image, asked once per tick for every pod that uses it. */
  lookup(image: string): Promise<Image | undefined> {
    let lookup = this.cache.get(image);
    if (!lookup) this.cache.set(image, (lookup = this.images.imageStatus(image)));
    return lookup;
  }

  /** The image is local, or pulled now; a failed pull waits a doubling delay (ImagePullBackOff). */
  async ensure(w: Worker, spec: ContainerSpec, st: ContainerState): Promise<boolean> {
    const tagLatest = !/[:@][^/]*$/.test(spec.image) || spec.image.endsWith(':latest');
    const policy = spec.imagePullPolicy ?? (tagLatest ? 'Always' : 'IfNotPresent');
    const present = await this.lookup(spec.image);
    if (present && policy !== 'Always') return true;
    if (policy === 'Never') {
      st.waiting = { reason: 'ErrImageNeverPull', message: `container image "${spec.image}" is not present with pull policy of Never (import it with ctr -n k8s.io images import)` };
      return false;
    }
    if (st.image && Date.now() < st.image.until) {
      st.waiting = { reason: 'ImagePullBackOff', message: `Back-off pulling image "${spec.image}": ${st.image.message}` };
      return false;
    }
    try {
      await this.images.pullImage(spec.image, w.sandboxConfig);
      this.cache.delete(spec.image);
      st.image = undefined;
      return true;
    } catch (err) {
      if (err instanceof GrpcCallError && err.code === 14) throw err;
      const message = err instanceof GrpcCallError ? err.details : (err as Error).message;
      // An offline gateway keeps running the copy it has when a pull of a moving tag fails.
      if (present) {
        this.log.warn({ pod: w.key, image: spec.image, error: message }, 'pull failed; using the local copy of the image');
        return true;
      }
      const delay = st.image ? Math.min(st.image.delayMs * 2, this.backoff.maxMs) : this.backoff.baseMs;
      st.image = { until: Date.now() + delay, delayMs: delay, message };
      st.waiting = { reason: 'ErrImagePull', message };
      this.metrics.pullFailure();
      this.log.warn({ pod: w.key, container: spec.name, image: spec.image, error: message }, 'image pull failed');
      return false;
    }
  }
}
