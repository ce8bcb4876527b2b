// An informer on client-node's ListWatch: list, then watch from the list's resourceVersion (it
// re-lists by itself on 410 Gone), plus what ListWatch leaves to its user: a restart with
// exponential backoff after any error (the API server down, a refused list), and a periodic
// resync that hands every cached object to the controller again, so state the controller keeps
// outside Kubernetes (what a node has) converges even when no event arrives.
import { ListWatch, type KubernetesListObject, type KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from '../../core/log.ts';
import type { KubeClient } from './kube.ts';

export interface InformerOptions {
  /** The collection path, e.g. `/apis/devices.kubeedge.io/v1beta1/devices` (all namespaces). */
  path: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** How often every cached object is handed to `resync` handlers; 0 turns it off. */
  resyncMs: number;
  backoff: { firstMs: number; maxMs: number };
  log: Logger;
}

export const DEFAULT_BACKOFF = { firstMs: 500, maxMs: 30_000 };

export interface InformerHandlers<T> {
  add?(obj: T): void;
  update?(obj: T): void;
  delete?(obj: T): void;
  /** Every cached object, every resyncMs. */
  resync?(objs: T[]): void;
}

export class Informer<T extends KubernetesObject> {
  private readonly lw: ListWatch<T>;
  private readonly handlers: InformerHandlers<T>[] = [];
  private stopped = true;
  private failures = 0;
  private retry?: NodeJS.Timeout;
  private resyncTimer?: NodeJS.Timeout;
  private synced = false;
  private errors = 0;
  /** Times the informer listed the collection (the first list and every re-list after 410 or an error). */
  lists = 0;

  constructor(private readonly kube: KubeClient, private readonly opts: InformerOptions) {
    const listFn = async (): Promise<KubernetesListObject<T>> => {
      this.lists++;
      return this.listAll();
    };
    this.lw = new ListWatch<T>(opts.path, kube.watch, listFn, false, opts.labelSelector, opts.fieldSelector);
    this.lw.on('add', (o) => this.emit('add', o));
    this.lw.on('update', (o) => this.emit('update', o));
    this.lw.on('delete', (o) => this.emit('delete', o));
    this.lw.on('connect', () => {
      this.failures = 0;
    });
    this.lw.on('error', (err: unknown) => this.failed(err));
  }

  on(handlers: InformerHandlers<T>): void {
    this.handlers.push(handlers);
  }

  get(namespace: string | undefined, name: string): T | undefined {
    return this.lw.get(name, namespace);
  }

  list(namespace?: string): T[] {
    return [...this.lw.list(namespace)];
  }

  get hasSynced(): boolean {
    return this.synced;
  }

  /** Resolves once the first list is in the cache (or rejects when it fails; the informer keeps retrying). */
  async start(): Promise<void> {
    this.stopped = false;
    if (this.opts.resyncMs > 0) {
      this.resyncTimer = setInterval(() => this.resync(), this.opts.resyncMs);
      this.resyncTimer.unref();
    }
    const before = this.errors;
    await this.lw.start();
    // ListWatch reports a failed list as an error event, not a rejection.
    if (this.errors === before) this.synced = true;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retry);
    clearInterval(this.resyncTimer);
    await this.lw.stop();
  }

  private resync(): void {
    if (!this.synced) return;
    const objs = [...this.lw.list()];
    for (const h of this.handlers) this.guard('resync', () => h.resync?.(objs));
  }

  private emit(kind: 'add' | 'update' | 'delete', obj: T): void {
    for (const h of this.handlers) this.guard(kind, () => h[kind]?.(obj));
  }

  private guard(what: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.opts.log.error({ path: this.opts.path, what, err }, 'a controller failed on an informer event');
    }
  }

  private failed(err: unknown): void {
    this.errors++;
    if (this.stopped) return;
    const delay = Math.min(this.opts.backoff.maxMs, this.opts.backoff.firstMs * 2 ** Math.min(this.failures, 20));
    this.failures++;
    this.opts.log.warn({ path: this.opts.path, err: (err as Error)?.message ?? String(err), retryInMs: delay }, 'list or watch failed; retrying');
    clearTimeout(this.retry);
    this.retry = setTimeout(() => {
      if (this.stopped) return;
      const before = this.errors;
      this.lw.start().then(() => {
        if (this.errors === before) this.synced = true;
      }, (e: unknown) => this.failed(e));
    }, delay);
    this.retry.unref();
  }

  /** Lists in pages of 500, following continue tokens. */
  private async listAll(): Promise<KubernetesListObject<T>> {
    const items: T[] = [];
    let cont: string | undefined;
    let rv = '';
    do {
      const page = await this.kube.request<KubernetesListObject<T>>('GET', this.opts.path, {
        query: { limit: 500, continue: cont, labelSelector: this.opts.labelSelector, fieldSelector: this.opts.fieldSelector },
      });
      items.push(...page.items);
      rv = page.metadata?.resourceVersion ?? rv;
      // Raw JSON: the key is `continue` (client-node's model renames it `_continue`).
      cont = (page.metadata as { continue?: string } | undefined)?.continue || undefined;
    } while (cont);
    return { apiVersion: 'v1', kind: 'List', metadata: { resourceVersion: rv }, items };
  }
}
