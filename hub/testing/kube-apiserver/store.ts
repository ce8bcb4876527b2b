// The stand-in's etcd and watch cache in one: objects per group/plural, one global
// resourceVersion counter (increasing integers, as etcd revisions), and a bounded history of
// events from which watches resume. A watch from a resourceVersion older than the history
// holds is answered 410 Gone, so clients re-list, as they must against a real server.
type Obj = Record<string, any>;

export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface StoreEvent {
  type: EventType;
  key: string;
  namespace: string;
  rv: number;
  object: Obj;
  /** The object before the change (for MODIFIED/DELETED), so selector watches can say it left. */
  previous?: Obj;
}

export interface Subscriber {
  key: string;
  deliver(event: StoreEvent): void;
  /** The resource stopped being served (its CRD was deleted): the watch must end. */
  end(): void;
}

const itemKey = (namespace: string, name: string) => `${namespace}/${name}`;

export class Store {
  private rv = 0;
  private data = new Map<string, Map<string, Obj>>();
  private history: StoreEvent[] = [];
  /** Highest resourceVersion whose event has left the history: watches must start at or after it. */
  private compacted = 0;
  private subscribers = new Set<Subscriber>();
  /** Every write, counted per verb and per group/plural, for tests and benchmarks that count API writes. */
  readonly writes = { create: 0, update: 0, delete: 0 };
  readonly writesByResource = new Map<string, number>();

  constructor(private historyLimit: number) {}

  get resourceVersion(): number {
    return this.rv;
  }

  get oldestWatchable(): number {
    return this.compacted;
  }

  get(key: string, namespace: string, name: string): Obj | undefined {
    const o = this.data.get(key)?.get(itemKey(namespace, name));
    return o ? structuredClone(o) : undefined;
  }

  /** Objects in key order (namespace/name), as etcd's range reads return them. */
  list(key: string, namespace?: string): Obj[] {
    const m = this.data.get(key);
    if (!m) return [];
    return [...m.entries()]
      .filter(([k]) => namespace === undefined || k.startsWith(`${namespace}/`))
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([, o]) => structuredClone(o));
  }

  /** Visits the stored objects of key without copying them; fn must not change them. */
  scan(key: string, fn: (obj: Readonly<Obj>) => void): void {
    for (const o of this.data.get(key)?.values() ?? []) fn(o);
  }

  keys(): string[] {
    return [...this.data.keys()];
  }

  /** Writes obj (create or update) under a new resourceVersion and returns what was stored. */
  put(key: string, obj: Obj): Obj {
    const namespace = obj.metadata?.namespace ?? '';
    const name = obj.metadata.name;
    let m = this.data.get(key);
    if (!m) this.data.set(key, (m = new Map()));
    const previous = m.get(itemKey(namespace, name));
    const stored = structuredClone(obj);
    stored.metadata.resourceVersion = String(++this.rv);
    m.set(itemKey(namespace, name), stored);
    if (previous) this.writes.update++;
    else this.writes.create++;
    this.writesByResource.set(key, (this.writesByResource.get(key) ?? 0) + 1);
    this.emit({ type: previous ? 'MODIFIED' : 'ADDED', key, namespace, rv: this.rv, object: stored, previous });
    return structuredClone(stored);
  }

  /** Deletes the object; the DELETED event carries `finalState` when given (the last update's). */
  remove(key: string, namespace: string, name: string, finalState?: Obj): Obj | undefined {
    const m = this.data.get(key);
    const previous = m?.get(itemKey(namespace, name));
    if (!m || !previous) return undefined;
    m.delete(itemKey(namespace, name));
    const gone = structuredClone(finalState ?? previous);
    gone.metadata.resourceVersion = String(++this.rv);
    this.writes.delete++;
    this.writesByResource.set(key, (this.writesByResource.get(key) ?? 0) + 1);
    this.emit({ type: 'DELETED', key, namespace, rv: this.rv, object: gone, previous });
    return structuredClone(gone);
  }

  /** Events after `since` for key (and namespace), or undefined when the history no longer has them. */
  eventsSince(key: string, since: number, namespace?: string): StoreEvent[] | undefined {
    if (since < this.compacted) return undefined;
    return this.history.filter((e) => e.rv > since && e.key === key && (namespace === undefined || e.namespace === namespace));
  }

  subscribe(s: Subscriber): () => void {
    this.subscribers.add(s);
    return () => this.subscribers.delete(s);
  }

  endWatches(key: string): void {
    for (const s of [...this.subscribers]) if (s.key === key) s.end();
  }

  /** What a restart of kube-apiserver loses: the watch cache. Objects stay (they live in etcd). */
  forgetHistory(): void {
    this.history = [];
    this.compacted = this.rv;
  }

  setHistoryLimit(limit: number): void {
    this.historyLimit = limit;
    this.trim();
  }

  private emit(event: StoreEvent): void {
    this.history.push(event);
    this.trim();
    for (const s of [...this.subscribers]) if (s.key === event.key) s.deliver(event);
  }

  private trim(): void {
    while (this.history.length > this.historyLimit) this.compacted = this.history.shift()!.rv;
  }
}
