// The dashboard's side of the local API: the page itself at `/`, one device's view (twin, model
// limits, sparklines), link health, the last warnings, and a Server-Sent Events stream that pushes
// what changed. The stream coalesces: a device that changes a thousand times between two pushes
// is sent once, and a browser that reads slowly is skipped until it drains, so a busy gateway
// never queues memory for a page.

import { randomUUID } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { EdgetwinError, ErrorCodes } from '../core/errors.ts';
import type { LinkHealth } from '../core/link-health.ts';
import type { LogLine, LogRing } from '../core/log-ring.ts';
import { jsonView, type RouteTable } from './api.ts';
import type { PropertyHistory } from './history.ts';
import type { DeviceTwin } from './twin.ts';
import type { TwinChange } from './types.ts';

export interface DashboardOptions {
  twin: DeviceTwin;
  history: PropertyHistory;
  /** The built page (index.html and assets/); absent, `/` says how to build it. */
  pageDir?: string;
  logs?: LogRing;
  links?: () => LinkHealth[];
  /** How often the event stream pushes what changed (ms, default 500). */
  pushMs?: number;
  /** How often it pushes link health (ms, default 2000). */
  linksMs?: number;
}

// The page loads nothing from elsewhere and runs no inline script; nobody may frame it.
const PAGE_HEADERS = {
  'content-security-policy': "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

const TYPES: Record<string, string> = { '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.map': 'application/json; charset=utf-8' };

/** Registers the dashboard's routes on the API; `boot` tells a page that reconnects whether the gateway restarted. */
export function dashboardRoutes(o: DashboardOptions): (t: RouteTable) => Promise<void> {
  const boot = randomUUID();
  return async (t) => {
    const { twin } = o;
    const index = o.pageDir && existsSync(join(o.pageDir, 'index.html')) ? readFileSync(join(o.pageDir, 'index.html'), 'utf8') : undefined;
    t.add({
      name: 'page',
      url: '/',
      public: true, // the page holds no data: it asks the API, which asks for the token
      methods: {
        GET: async () =>
          index
            ? [200, index, 'text/html; charset=utf-8', PAGE_HEADERS]
            : [404, 'the dashboard is not built: run `npm run build` in the edgetwin package (it runs at npm install)\n', 'text/plain; charset=utf-8'],
      },
    });
    if (index) {
      // The page's few assets (a script, a stylesheet, their source maps), kept in memory.
      const assets = new Map<string, Buffer>();
      for (const f of readdirSync(join(o.pageDir!, 'assets'))) assets.set(f, readFileSync(join(o.pageDir!, 'assets', f)));
      t.publicPrefix('/assets/');
      t.add({
        name: 'assets',
        url: '/assets/:file',
        public: true,
        methods: {
          GET: async (_req, p) => {
            const body = assets.get(p.file!);
            if (!body) throw new EdgetwinError(ErrorCodes.NOT_FOUND, `no asset ${p.file}`, {}, 'reload the page');
            return [200, body, TYPES[extname(p.file!)] ?? 'application/octet-stream', { 'x-content-type-options': 'nosniff', 'cache-control': 'no-cache' }];
          },
        },
      });
    }

    t.add({
      name: 'dashboard',
      url: '/api/v1/devices/:ns/:name/dashboard',
      methods: {
        GET: async (_req, p) => {
          const id = `${p.ns}/${p.name}`;
          const view = twin.get(id);
          const spec = twin.spec(id);
          if (!view || !spec) throw new EdgetwinError(ErrorCodes.NOT_FOUND, 'no such device in the twin', { device: id }, 'list the devices with GET /api/v1/devices');
          return [200, { boot, twin: jsonView(view), model: modelOf(spec.properties), history: o.history.of(id) }];
        },
      },
    });
    t.add({ name: 'links', url: '/api/v1/links', methods: { GET: async () => [200, { links: o.links?.() ?? [] }] } });
    t.add({ name: 'logs', url: '/api/v1/logs', methods: { GET: async () => [200, { lines: o.logs?.lines() ?? [] }] } });
    t.add({
      name: 'events',
      url: '/api/v1/events',
      methods: { GET: async (req, _p, reply) => (stream(o, boot, req, reply), undefined) },
    });
  };
}

/** What the page's form checks before it sends: each property's type, unit, limits and access. */
function modelOf(props: readonly { name: string; type: string; unit?: string; minimum?: number; maximum?: number; accessMode: string }[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const p of props) out[p.name] = { type: p.type, accessMode: p.accessMode, ...(p.unit ? { unit: p.unit } : {}), ...(p.minimum !== undefined ? { minimum: p.minimum } : {}), ...(p.maximum !== undefined ? { maximum: p.maximum } : {}) };
  return out;
}

/**
 * One page's event stream. `?device=ns/name` names the device the page shows: its full view is
 * pushed when it changes; every other device only when its line in the list changes.
 */
function stream(o: DashboardOptions, boot: string, req: FastifyRequest, reply: FastifyReply): void {
  const { twin } = o;
  const watched = new URL(req.url, 'http://localhost').searchParams.get('device') ?? undefined;
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive', 'x-content-type-options': 'nosniff' });
  let blocked = false;
  const send = (event: string, data: unknown) => {
    if (!res.writable) return;
    // A page that reads slowly is skipped, not queued for: the next push carries the latest anyway.
    if (!res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`)) blocked = true;
  };
  res.on('drain', () => (blocked = false));
  // The browser's EventSource retries after this long when the gateway goes away (a restart).
  res.write(`retry: 1000\n\n`);
  send('hello', { boot });

  const dirty = new Set<string>();
  let watchedDirty = false;
  let membership = false;
  const onChange = (c: TwinChange) => {
    if (c.kind === 'membership') {
      membership = true;
      return;
    }
    // The cloud link's state is the node's, not a device's: the device list does not show it.
    if (c.kind === 'cloud') return;
    if (c.kind === 'reported' && c.device !== watched && !c.updates.some((u) => u.deltaChanged)) return; // the list line shows no values
    dirty.add(c.device);
    if (c.device === watched) watchedDirty = true;
  };
  twin.on('change', onChange);
  const onLog = (line: LogLine) => send('log', line);
  o.logs?.on('line', onLog);

  const push = setInterval(() => {
    if (blocked) return;
    if (membership) {
      membership = false;
      dirty.clear();
      send('membership', {});
    }
    if (dirty.size) {
      const devices = [...dirty].map((id) => twin.summary(id)).filter((d) => d !== undefined);
      dirty.clear();
      send('devices', devices);
    }
    if (watchedDirty && watched) {
      watchedDirty = false;
      const view = twin.get(watched);
      if (view) send('device', { twin: jsonView(view), history: o.history.of(watched) });
    }
  }, o.pushMs ?? 500);
  const links = setInterval(() => !blocked && send('links', o.links?.() ?? []), o.linksMs ?? 2000);
  // A comment now and then keeps proxies from closing an idle stream.
  const keepAlive = setInterval(() => !blocked && res.write(': keep-alive\n\n'), 15_000);
  send('links', o.links?.() ?? []);
  req.raw.on('close', () => {
    clearInterval(push);
    clearInterval(links);
    clearInterval(keepAlive);
    twin.off('change', onChange);
    o.logs?.off('line', onLog);
  });
}
