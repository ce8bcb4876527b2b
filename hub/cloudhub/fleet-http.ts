// The fleet view on the cloud's HTTP listener, beside /metrics and /healthz: the page at `/`, its
// assets, the fleet as JSON (/api/v1/fleet) and pushed as Server-Sent Events (/api/v1/fleet/events).
// Every request on the listener passes the gateway API's request guard (Host and Origin: a DNS
// rebinding page or another site cannot read the fleet; a bearer token or session cookie when one
// is configured), /metrics and /healthz too: see refusal().
import { randomUUID } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isLoopback, type Refusal, type RequestGuard } from '../../twin/http-guard.ts';
import type { Fleet } from './fleet.ts';
import { ErrorCodes } from '../../core/errors.ts';

export interface FleetHttpOptions {
  fleet: Fleet;
  /** Built lazily, once the listener knows its port. */
  guard: () => RequestGuard;
  /** The built page (index.html and assets/); absent, `/` says how to build it. */
  pageDir?: string;
  /** How often the event stream looks for changes (ms, default 1000). */
  pushMs?: number;
}

const PAGE_HEADERS = {
  'content-security-policy': "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};
const TYPES: Record<string, string> = { '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.map': 'application/json; charset=utf-8' };

/** dist/fleet of the edgetwin package this module runs from (source or bundle), if built. */
export function defaultFleetPage(): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    if (existsSync(join(dir, 'package.json'))) return join(dir, 'dist', 'fleet');
    dir = dirname(dir);
  }
  return undefined;
}

/** A request handler that answers the fleet's paths and returns false for any other. */
export function fleetHttp(o: FleetHttpOptions): (req: IncomingMessage, res: ServerResponse) => boolean {
  // Tells a page that reconnects whether the cloud restarted.
  const boot = randomUUID();
  const index = o.pageDir && existsSync(join(o.pageDir, 'index.html')) ? readFileSync(join(o.pageDir, 'index.html'), 'utf8') : undefined;
  const assets = new Map<string, Buffer>();
  if (index && existsSync(join(o.pageDir!, 'assets'))) {
    for (const f of readdirSync(join(o.pageDir!, 'assets'))) assets.set(f, readFileSync(join(o.pageDir!, 'assets', f)));
  }
  const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...headers });
    res.end(JSON.stringify(body));
  };

  return (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const path = url.pathname;
    const isPage = path === '/' || path.startsWith('/assets/');
    if (!isPage && !path.startsWith('/api/v1/fleet') && path !== '/api/v1/session') return false;
    const guard = o.guard();
    const refused = refusal(guard, req, path);
    if (refused) {
      json(res, refused.status, { code: refused.code, message: refused.message }, refused.headers);
      return true;
    }
    const method = req.method ?? 'GET';
    if (path === '/api/v1/session') {
      signIn(guard, req, res, json);
      return true;
    }
    if (method !== 'GET' && method !== 'HEAD') {
      json(res, 405, { code: ErrorCodes.METHOD_NOT_ALLOWED, message: `${path} serves GET` }, { allow: 'GET' });
      return true;
    }
    if (path === '/') {
      if (index) res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', ...PAGE_HEADERS }).end(index);
      else res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('the fleet view is not built: run `npm run build` in the edgetwin package (it runs at npm install)\n');
      return true;
    }
    if (path.startsWith('/assets/')) {
      const file = path.slice('/assets/'.length);
      const body = assets.get(file);
      if (!body) json(res, 404, { code: ErrorCodes.NOT_FOUND, message: `no asset ${file}: reload the page` });
      else res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'x-content-type-options': 'nosniff', 'cache-control': 'no-cache' }).end(body);
      return true;
    }
    if (path === '/api/v1/fleet') {
      o.fleet.snapshot().then((s) => json(res, 200, { boot, ...s }), (err: Error) => json(res, 500, { code: ErrorCodes.INTERNAL, message: err.message }));
      return true;
    }
    if (path === '/api/v1/fleet/events') {
      stream(o, boot, req, res);
      return true;
    }
    json(res, 404, { code: ErrorCodes.NOT_FOUND, message: `no route ${path}: the fleet view serves /, /api/v1/fleet and /api/v1/fleet/events` });
    return true;
  };
}

/**
 * The rules of the cloud's HTTP listener, for every path on it: Host and Origin always; the token
 * (when one is set) for everything but the page and its assets (they hold no data), the sign-in,
 * and /healthz asked from this machine, as the gateway's API does.
 */
export function refusal(guard: RequestGuard, req: IncomingMessage, path: string): Refusal | undefined {
  const open = path === '/' || path.startsWith('/assets/') || path === '/api/v1/session'
    || (path === '/healthz' && isLoopback(req.socket.remoteAddress ?? ''));
  return guard.checkSite(req) ?? (open || guard.authenticated(req) ? undefined : guard.unauthorized(req));
}

/** POST /api/v1/session {"token"}: the token traded for an HttpOnly, SameSite=Strict session cookie. */
function signIn(guard: RequestGuard, req: IncomingMessage, res: ServerResponse, json: (res: ServerResponse, s: number, b: unknown, h?: Record<string, string>) => void): void {
  const refused = guard.checkWrite(req);
  if (req.method !== 'POST' || refused) {
    json(res, refused?.status ?? 405, refused ? { code: refused.code, message: refused.message } : { code: ErrorCodes.METHOD_NOT_ALLOWED, message: '/api/v1/session serves POST {"token": "..."}' });
    return;
  }
  let body = '';
  req.setEncoding('utf8');
  req.on('data', (c: string) => {
    body += c;
    if (body.length > 4096) req.destroy();
  });
  req.on('end', () => {
    let token: unknown;
    try {
      token = (JSON.parse(body) as { token?: unknown }).token;
    } catch {
      token = undefined;
    }
    const cookie = typeof token === 'string' && guard.requiresToken ? guard.signIn(token) : undefined;
    if (!cookie) json(res, 401, { code: ErrorCodes.UNAUTHORIZED, message: guard.requiresToken ? 'the token is wrong' : 'this cloud asks for no token' });
    else json(res, 200, { signedIn: true }, { 'set-cookie': cookie });
  });
}

/** Pushes the fleet when it changed; the browser's EventSource reconnects by itself after a restart. */
function stream(o: FleetHttpOptions, boot: string, req: IncomingMessage, res: ServerResponse): void {
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive', 'x-content-type-options': 'nosniff' });
  res.write('retry: 1000\n\n');
  res.write(`event: hello\ndata: ${JSON.stringify({ boot })}\n\n`);
  let last = '';
  let blocked = false;
  res.on('drain', () => (blocked = false));
  const push = async () => {
    if (blocked || !res.writable) return;
    const s = await o.fleet.snapshot();
    // `at` changes every time; only a change of the fleet itself is pushed.
    const text = JSON.stringify({ nodes: s.nodes, link: s.link });
    if (text === last) return;
    last = text;
    if (!res.write(`event: fleet\ndata: ${JSON.stringify(s)}\n\n`)) blocked = true;
  };
  // A snapshot that fails (a metric read) is skipped: the next interval tries again.
  const tick = () => void push().catch(() => undefined);
  tick();
  const timer = setInterval(tick, o.pushMs ?? 1000);
  // A comment now and then keeps proxies from closing an idle stream.
  const keepAlive = setInterval(() => !blocked && res.write(': keep-alive\n\n'), 15_000);
  req.on('close', () => {
    clearInterval(timer);
    clearInterval(keepAlive);
  });
}
