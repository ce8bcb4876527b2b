// One watch stream: newline-delimited JSON events over a chunked response, resumed from the
// history after the client's resourceVersion (or the current objects as ADDED when it gives
// none), filtered by namespace and selectors (an object that stops matching is DELETED for
// this watcher, one that starts matching is ADDED), with BOOKMARKs when asked for, a 410 ERROR
// event when the history no longer reaches back, and an end after timeoutSeconds.
import type { ServerResponse } from 'node:http';
import type { Predicate } from './selectors.ts';
import { apiVersionOf, storageKey, type ResourceType } from './resources.ts';
import type { Registry } from './registry.ts';
import { gone } from './status.ts';
import type { StoreEvent } from './store.ts';

type Obj = Record<string, any>;

export interface WatchRequest {
  type: ResourceType;
  namespace?: string;
  matches: Predicate;
  resourceVersion?: string;
  sendInitialEvents: boolean;
  bookmarks: boolean;
  bookmarkIntervalMs: number;
  timeoutMs: number;
  /** Renders an object for the wire (a one-row Table for `kubectl get -w`, else itself). */
  render: (o: Obj) => Obj;
}

export function serveWatch(registry: Registry, w: WatchRequest, res: ServerResponse): void {
  const { type: t } = w;
  const store = registry.store;
  res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private' });
  res.flushHeaders();
  const send = (type: string, object: Obj) => {
    if (!res.writableEnded) res.write(`${JSON.stringify({ type, object })}\n`);
  };
  const view = (o: Obj) => w.render({ ...o, apiVersion: apiVersionOf(t), kind: t.kind });
  const bookmark = (annotations?: Record<string, string>) =>
    send('BOOKMARK', { kind: t.kind, apiVersion: apiVersionOf(t), metadata: { resourceVersion: String(store.resourceVersion), ...(annotations ? { annotations } : {}) } });

  const deliver = (e: StoreEvent) => {
    if (w.namespace !== undefined && e.namespace !== w.namespace) return;
    const now = w.matches(e.object);
    const before = e.previous !== undefined && w.matches(e.previous);
    if (e.type === 'ADDED' && now) send('ADDED', view(e.object));
    else if (e.type === 'MODIFIED') {
      if (now) send(before ? 'MODIFIED' : 'ADDED', view(e.object));
      else if (before) send('DELETED', view(e.object));
    } else if (e.type === 'DELETED' && (now || before)) send('DELETED', view(e.object));
  };

  const rv = w.resourceVersion;
  const fromNow = rv === undefined || rv === '' || rv === '0' || w.sendInitialEvents;
  if (fromNow) {
    for (const o of registry.list(t, w.namespace)) if (w.matches(o)) send('ADDED', w.render(o));
    if (w.sendInitialEvents && w.bookmarks) bookmark({ 'k8s.io/initial-events-end': 'true' });
  } else {
    const since = Number(rv);
    const events = Number.isInteger(since) ? store.eventsSince(storageKey(t), since, w.namespace) : undefined;
    if (!events) {
      const err = Number.isInteger(since)
        ? gone(`too old resource version: ${rv} (${store.oldestWatchable})`)
        : gone(`invalid resource version: ${JSON.stringify(rv)}`);
      send('ERROR', err.toStatus());
      res.end();
      return;
    }
    events.forEach(deliver);
  }
  const unsubscribe = store.subscribe({ key: storageKey(t), deliver, end: () => res.end() });
  const ticker = w.bookmarks ? setInterval(() => bookmark(), w.bookmarkIntervalMs) : undefined;
  const timeout = setTimeout(() => res.end(), w.timeoutMs);
  const finish = () => {
    unsubscribe();
    if (ticker) clearInterval(ticker);
    clearTimeout(timeout);
  };
  res.on('close', finish);
  res.on('finish', finish);
}
