// The HTTP face of the stand-in: bearer-token authentication, URL routing in Kubernetes' REST
// layout (/api/v1/namespaces/{ns}/{resource}/{name}/{subresource}, /apis/{group}/{version}/...),
// verbs from methods and query parameters, content negotiation for Table output, paginated
// lists from consistent snapshots, and every failure as a metav1.Status.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parse as parseYaml } from 'yaml';
import type { Logger } from '../../../core/log.ts';
import { apiGroupList, apiGroupOf, apiResourceList, apiVersions, versionInfo } from './discovery.ts';
import { groupVersionDocument, openApiIndex } from './openapi.ts';
import { PATCH_TYPES, type DeleteOptions, type Registry, type WriteOptions } from './registry.ts';
import { apiVersionOf, storageKey, type ResourceType } from './resources.ts';
import type { FieldValidation } from './schema.ts';
import { decodeProtobufObject, PROTOBUF } from './protobuf.ts';
import { parseFieldSelector, parseLabelSelector, type Predicate } from './selectors.ts';
import { ApiError, badRequest, gone, methodNotAllowed, pathNotFound, unauthorized } from './status.ts';
import { toTable, type IncludeObject } from './table.ts';
import { serveWatch } from './watch.ts';

type Obj = Record<string, any>;

export interface HandlerConfig {
  token: string;
  serverAddress: () => string;
  bookmarkIntervalMs: number;
  log: Logger;
}

interface Snapshot {
  items: Obj[];
  rv: string;
  createdAt: number;
}

const SNAPSHOT_TTL_MS = 5 * 60_000;

/** Holds watch requests while a test wants clients to fall behind the history (then 410). */
export class WatchGate {
  private held = false;
  private waiting: Array<() => void> = [];

  hold(): void {
    this.held = true;
  }

  release(): void {
    this.held = false;
    for (const go of this.waiting.splice(0)) go();
  }

  async pass(): Promise<void> {
    if (this.held) await new Promise<void>((go) => this.waiting.push(go));
  }
}

/** Go's strconv.ParseBool, which the real server uses: python-kubernetes sends "True". */
const truthy = (v: string | null) => v !== null && ['1', 't', 'T', 'true', 'TRUE', 'True'].includes(v);

function send(res: ServerResponse, code: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  res.writeHead(code, { 'Content-Type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

async function readBody(req: IncomingMessage): Promise<{ raw: string; contentType: string; decoded?: Obj }> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const body = Buffer.concat(chunks);
  const contentType = String(req.headers['content-type'] ?? '').split(';')[0].trim();
  if (contentType === PROTOBUF) return { raw: '', contentType, decoded: decodeProtobufObject(body) };
  return { raw: body.toString('utf8'), contentType };
}

function parseBody(raw: string, contentType: string, decoded?: Obj): any {
  if (decoded) return decoded;
  if (raw.trim() === '') return undefined;
  try {
    return contentType.includes('yaml') ? parseYaml(raw) : JSON.parse(raw);
  } catch (err) {
    throw badRequest(`the request body is not valid ${contentType.includes('yaml') ? 'YAML' : 'JSON'}: ${(err as Error).message}`);
  }
}

interface Route {
  type: ResourceType;
  namespace?: string;
  name?: string;
  subresource?: string;
}

export function createHandler(registry: Registry, cfg: HandlerConfig, gate: WatchGate) {
  const catalog = registry.catalog;
  const snapshots = new Map<string, Snapshot>();

  function route(group: string, version: string, rest: string[], path: string): Route {
    let r: Route | undefined;
    if (rest[0] === 'namespaces' && rest.length >= 3) {
      const t = catalog.find(group, version, rest[2]);
      if (t?.namespaced && rest.length <= 5) r = { type: t, namespace: rest[1], name: rest[3], subresource: rest[4] };
    }
    if (!r) {
      const t = catalog.find(group, version, rest[0]);
      if (!t || rest.length > 3) throw pathNotFound(path);
      r = { type: t, name: rest[1], subresource: rest[2] };
    }
    if (r.subresource !== undefined && !(r.subresource === 'status' && r.type.statusSubresource)) throw pathNotFound(path);
    if (r.name !== undefined && r.type.namespaced && r.namespace === undefined) throw pathNotFound(path);
    return r;
  }

  function writeOptions(q: URLSearchParams): WriteOptions & { fieldManager?: string } {
    const fv = q.get('fieldValidation');
    if (fv !== null && !['Strict', 'Warn', 'Ignore'].includes(fv)) throw badRequest(`fieldValidation must be one of Strict, Warn, Ignore, not ${JSON.stringify(fv)}`);
    return { dryRun: q.getAll('dryRun').includes('All'), fieldValidation: (fv ?? undefined) as FieldValidation | undefined, fieldManager: q.get('fieldManager') ?? undefined };
  }

  function selectors(t: ResourceType, q: URLSearchParams): Predicate {
    const labels = parseLabelSelector(q.get('labelSelector'));
    const fields = parseFieldSelector(q.get('fieldSelector'), t.fieldLabels, t.plural);
    return (o) => labels(o) && fields(o);
  }

  function tableWanted(req: IncomingMessage): boolean {
    return String(req.headers.accept ?? '').split(',').some((m) => /;\s*as=Table/.test(m));
  }

  function includeObject(q: URLSearchParams): IncludeObject {
    const v = q.get('includeObject');
    return v === 'None' || v === 'Object' ? v : 'Metadata';
  }

  function expireSnapshots(): void {
    for (const [id, s] of snapshots) {
      if (Date.now() - s.createdAt > SNAPSHOT_TTL_MS || Number(s.rv) < registry.store.oldestWatchable) snapshots.delete(id);
    }
  }

  /** A page of a list: the first page snapshots the result, so later pages stay consistent with it. */
  function listPage(t: ResourceType, r: Route, q: URLSearchParams): { items: Obj[]; meta: Obj } {
    expireSnapshots();
    const limit = Number(q.get('limit') ?? 0);
    const token = q.get('continue');
    let snap: Snapshot;
    let offset = 0;
    let id: string;
    if (token) {
      let parsed: { id?: string; offset?: number };
      try {
        parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
      } catch {
        throw badRequest('continue key is not valid: it was not produced by this server');
      }
      const found = parsed.id ? snapshots.get(parsed.id) : undefined;
      if (!found) throw gone('The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.');
      snap = found;
      id = parsed.id!;
      offset = parsed.offset ?? 0;
    } else {
      const matches = selectors(t, q);
      snap = { items: registry.list(t, r.namespace).filter(matches), rv: String(registry.store.resourceVersion), createdAt: Date.now() };
      id = randomUUID();
    }
    const end = limit > 0 ? Math.min(offset + limit, snap.items.length) : snap.items.length;
    const items = snap.items.slice(offset, end);
    const meta: Obj = { resourceVersion: snap.rv };
    if (end < snap.items.length) {
      snapshots.set(id, snap);
      meta.continue = Buffer.from(JSON.stringify({ id, offset: end })).toString('base64url');
      meta.remainingItemCount = snap.items.length - end;
    } else snapshots.delete(id);
    return { items, meta };
  }

  async function serveResource(req: IncomingMessage, res: ServerResponse, r: Route, q: URLSearchParams): Promise<void> {
    const t = r.type;
    const ns = r.namespace ?? '';
    const method = req.method ?? 'GET';
    const asTable = tableWanted(req);
    const include = includeObject(q);
    const one = (o: Obj) => (asTable ? toTable(t, [o], { resourceVersion: o.metadata?.resourceVersion }, include) : o);
    const warned = (warnings: string[]): Record<string, string> =>
      warnings.length > 0 ? { Warning: warnings.map((w) => `299 - ${JSON.stringify(w)}`).join(', ') } : {};

    if (r.name === undefined) {
      if (method === 'GET') {
        const watching = truthy(q.get('watch'));
        if (watching) {
          const matches = selectors(t, q);
          await gate.pass();
          if (res.destroyed) return;
          serveWatch(registry, {
            type: t, namespace: r.namespace, matches, resourceVersion: q.get('resourceVersion') ?? undefined,
            sendInitialEvents: truthy(q.get('sendInitialEvents')), bookmarks: truthy(q.get('allowWatchBookmarks')),
            bookmarkIntervalMs: cfg.bookmarkIntervalMs,
            timeoutMs: (Number(q.get('timeoutSeconds') ?? 0) || 1800) * 1000,
            render: (o) => (asTable ? toTable(t, [o], { resourceVersion: o.metadata?.resourceVersion }, include) : o),
          }, res);
          return;
        }
        const { items, meta } = listPage(t, r, q);
        if (asTable) return send(res, 200, toTable(t, items, meta, include));
        return send(res, 200, { kind: t.listKind, apiVersion: apiVersionOf(t), metadata: meta, items });
      }
      if (method === 'POST') {
        if (t.namespaced && r.namespace === undefined) throw methodNotAllowed('create', t.plural);
        const { raw, contentType, decoded } = await readBody(req);
        const w = registry.create(t, ns, parseBody(raw, contentType, decoded) ?? {}, writeOptions(q));
        return send(res, 201, one(w.object), warned(w.warnings));
      }
      if (method === 'DELETE') {
        const matches = selectors(t, q);
        const deleted = registry.list(t, r.namespace).filter(matches).map((o) => registry.delete(t, o.metadata.namespace ?? '', o.metadata.name, {}));
        return send(res, 200, { kind: t.listKind, apiVersion: apiVersionOf(t), metadata: {}, items: deleted });
      }
      throw methodNotAllowed(method, t.plural);
    }

    switch (method) {
      case 'GET': return send(res, 200, one(registry.get(t, ns, r.name)));
      case 'PUT': {
        const { raw, contentType, decoded } = await readBody(req);
        const w = registry.update(t, ns, r.name, parseBody(raw, contentType, decoded) ?? {}, writeOptions(q), r.subresource);
        return send(res, 200, one(w.object), warned(w.warnings));
      }
      case 'PATCH': {
        const { raw, contentType } = await readBody(req);
        const accepted = Object.values(PATCH_TYPES) as string[];
        const body = accepted.includes(contentType) ? parseBody(raw, contentType === PATCH_TYPES.apply ? 'yaml' : 'json') : undefined;
        const existed = contentType === PATCH_TYPES.apply ? registry.store.get(storageKey(t), t.namespaced ? ns : '', r.name) : true;
        const w = registry.patch(t, ns, r.name, contentType, body ?? {}, writeOptions(q), r.subresource);
        return send(res, existed ? 200 : 201, one(w.object), warned(w.warnings));
      }
      case 'DELETE': {
        const { raw } = await readBody(req);
        const body: Obj = parseBody(raw, 'json') ?? {};
        const grace = q.get('gracePeriodSeconds') ?? body.gracePeriodSeconds;
        const opts: DeleteOptions = {
          propagationPolicy: (q.get('propagationPolicy') ?? body.propagationPolicy ?? (body.orphanDependents === true ? 'Orphan' : undefined)) as DeleteOptions['propagationPolicy'],
          gracePeriodSeconds: grace === undefined || grace === null ? undefined : Number(grace),
          preconditions: body.preconditions,
          dryRun: q.getAll('dryRun').includes('All') || (body.dryRun ?? []).includes('All'),
        };
        if (r.subresource) throw methodNotAllowed('delete', `${t.plural}/${r.subresource}`);
        return send(res, 200, one(registry.delete(t, ns, r.name, opts)));
      }
      default: throw methodNotAllowed(method, t.plural);
    }
  }

  return async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://stand-in');
    const path = url.pathname;
    const q = url.searchParams;
    try {
      if (['/healthz', '/readyz', '/livez'].includes(path)) {
        res.writeHead(200, { 'Content-Type': 'text/plain' });
        res.end('ok');
        return;
      }
      if (path === '/version') return send(res, 200, versionInfo);
      if (req.headers.authorization !== `Bearer ${cfg.token}`) throw unauthorized();
      cfg.log.debug({ method: req.method, url: req.url }, 'request');
      const seg = path.split('/').filter(Boolean);
      if (seg[0] === 'openapi' && seg[1] === 'v3') {
        if (seg.length === 2) return send(res, 200, openApiIndex(catalog));
        const gv = seg[2] === 'api' ? seg.slice(3).join('/') : seg[2] === 'apis' ? seg.slice(3).join('/') : '';
        const doc = gv ? groupVersionDocument(catalog, gv) : undefined;
        if (!doc) throw pathNotFound(path);
        return send(res, 200, doc, { 'Cache-Control': 'no-cache, private' });
      }
      if (seg[0] === 'api') {
        if (seg.length === 1) return send(res, 200, apiVersions(cfg.serverAddress()));
        if (seg[1] !== 'v1') throw pathNotFound(path);
        if (seg.length === 2) return send(res, 200, apiResourceList(catalog, 'v1'));
        return await serveResource(req, res, route('', seg[1], seg.slice(2), path), q);
      }
      if (seg[0] === 'apis') {
        if (seg.length === 1) return send(res, 200, apiGroupList(catalog));
        if (seg.length === 2) {
          const g = apiGroupOf(catalog, seg[1]);
          if (!g) throw pathNotFound(path);
          return send(res, 200, g);
        }
        if (seg.length === 3) {
          const list = apiResourceList(catalog, `${seg[1]}/${seg[2]}`);
          if (!list) throw pathNotFound(path);
          return send(res, 200, list);
        }
        return await serveResource(req, res, route(seg[1], seg[2], seg.slice(3), path), q);
      }
      throw pathNotFound(path);
    } catch (err) {
      if (err instanceof ApiError) {
        cfg.log.debug({ method: req.method, url: req.url, code: err.code, reason: err.reason }, err.message);
        return send(res, err.code, err.toStatus());
      }
      cfg.log.error({ err, method: req.method, url: req.url }, 'stand-in failed a request');
      return send(res, 500, new ApiError(500, 'InternalError', `the kube-apiserver stand-in failed: ${(err as Error).message}`).toStatus());
    }
  };
}
