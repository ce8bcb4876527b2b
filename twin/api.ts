// The local HTTP API (node:http or node:https, JSON) that the CLI and dashboards use. Values come
// out typed where JSON can carry them; 64-bit integers beyond 2^53 and bytes come out in their
// KubeEdge string form. Errors are {code, message} with 400, 401, 403, 404, 405 or 409.
// Every request passes the request guard (http-guard.ts) before a route runs.

import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import { EdgetwinError, ErrorCodes } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import { redactDeep, redactText } from '../core/redact.ts';
import { formatValue, type PropertyValue } from '../core/values.ts';
import { exposureProblem, isLoopback, methodNotAllowed, RequestGuard, type Refusal } from './http-guard.ts';
import { PROPERTY_KEY_MAX_BYTES, PROPERTY_VALUE_MAX_BYTES } from './kubeedge.ts';
import type { HealthReport } from './health.ts';
import { counter, type Registry } from './metrics.ts';
import type { DeviceTwin } from './twin.ts';
import type { DesiredResult, TwinView } from './types.ts';

export interface ApiTls {
  /** PEM server certificate and key. */
  cert: string | Buffer;
  key: string | Buffer;
  /** PEM CA whose client certificates are accepted; set, every client must present one. */
  clientCa?: string | Buffer;
}

export interface ApiOptions {
  twin: DeviceTwin;
  host?: string;
  port: number;
  log: Logger;
  registry: Registry;
  /** What /healthz reports; without it, the API alone is "ok". */
  health?: () => HealthReport & Record<string, unknown>;
  /** Bearer token every request but a loopback /healthz must carry. */
  token?: string;
  tls?: ApiTls;
  /** Host header values accepted besides the loopback names and the bind address. */
  allowedHosts?: readonly string[];
}

const MAX_BODY = 64 * 1024;

class HttpError extends Error {
  constructor(readonly status: number, readonly code: string, message: string, readonly headers?: Record<string, string>) {
    super(message);
  }
}

const refuse = (r: Refusal) => new HttpError(r.status, r.code, r.message, r.headers);

type Params = Record<string, string>;
type Handler = (req: IncomingMessage, p: Params) => Promise<[status: number, body: unknown]>;
interface Route {
  name: string;
  /** Path segments; `:x` captures one segment (percent-decoded). */
  path: string[];
  methods: Record<string, Handler>;
}

/** Splits a path and decodes each segment; a malformed escape is the caller's mistake, not ours. */
function segments(pathname: string): string[] {
  return pathname.split('/').filter(Boolean).map((s) => {
    try {
      return decodeURIComponent(s);
    } catch {
      throw new HttpError(400, ErrorCodes.BAD_REQUEST, `the path segment "${s}" has a malformed percent-encoding (write a literal % as %25)`);
    }
  });
}

function match(route: Route, seg: string[]): Params | undefined {
  if (route.path.length !== seg.length) return undefined;
  const p: Params = {};
  for (let i = 0; i < seg.length; i++) {
    const want = route.path[i]!;
    if (want.startsWith(':')) p[want.slice(1)] = seg[i]!;
    else if (want !== seg[i]) return undefined;
  }
  return p;
}

/** KubeEdge's limits on a property key and value (as their string form), the same the MQTT bus enforces. */
function checkLimits(property: string, value: unknown): void {
  if (Buffer.byteLength(property) > PROPERTY_KEY_MAX_BYTES) {
    throw new HttpError(400, ErrorCodes.BAD_REQUEST, `property name "${property.slice(0, 40)}..." is longer than ${PROPERTY_KEY_MAX_BYTES} bytes`);
  }
  const text = typeof value === 'string' ? value : JSON.stringify(value) ?? '';
  if (Buffer.byteLength(text) > PROPERTY_VALUE_MAX_BYTES) {
    throw new HttpError(400, ErrorCodes.BAD_REQUEST, `the value of ${property} is ${Buffer.byteLength(text)} bytes, longer than ${PROPERTY_VALUE_MAX_BYTES} bytes (KubeEdge's limit, which MQTT enforces too)`);
  }
}

/** Refuses an API bound beyond loopback with neither a token nor client certificates, naming the settings to add. */
export function checkApiExposure(host: string, auth: { token?: string; clientCa?: unknown }): void {
  const problem = exposureProblem(host, auth);
  if (problem) {
    throw new EdgetwinError(ErrorCodes.CONFIG, `the local API ${problem}`, { path: 'api.host' }, 'add api.tokenFile (or --api-token-file) with a bearer token, or api.tls.clientCa for client certificates; or keep api.host on 127.0.0.1');
  }
}

export async function startApi(opts: ApiOptions): Promise<{ url: string; port: number; close(): Promise<void> }> {
  const { twin, registry } = opts;
  const log = opts.log.child({ component: 'api' });
  const host = opts.host ?? '127.0.0.1';
  checkApiExposure(host, { token: opts.token, clientCa: opts.tls?.clientCa });
  const requests = counter(registry, 'edgetwin_api_requests_total', 'Local API requests, by route and status', ['route', 'status']);
  let guard: RequestGuard | undefined; // built once the port is known (port 0 picks one)

  const routes: Route[] = [
    {
      name: 'healthz',
      path: ['healthz'],
      methods: {
        GET: async (req) => {
          const { status, reasons, ...rest } = opts.health?.() ?? { status: 'ok' as const, reasons: [] };
          const full = { status, reasons, devices: twin.list().length, ...rest };
          // Without the token, only this machine sees the details; anyone else learns ok or not.
          const trusted = guard!.authenticated(req) || isLoopback(req.socket.remoteAddress ?? '');
          // 503 when degraded, so a plain HTTP probe (systemd, Kubernetes, a load balancer) sees it too.
          return [status === 'ok' ? 200 : 503, trusted ? full : { status }];
        },
      },
    },
    { name: 'metrics', path: ['metrics'], methods: { GET: async () => [200, await registry.metrics()] } },
    { name: 'devices', path: ['api', 'v1', 'devices'], methods: { GET: async () => [200, { devices: twin.list() }] } },
    {
      // The node itself: its name and, when it has one, its link to the cloud (null when standalone).
      name: 'node',
      path: ['api', 'v1', 'node'],
      methods: { GET: async () => [200, { nodeName: twin.nodeName, devices: twin.list().length, cloud: twin.cloudLink ?? null }] },
    },
    {
      name: 'twin',
      path: ['api', 'v1', 'devices', ':ns', ':name', 'twin'],
      methods: {
        GET: async (_req, p) => {
          const id = `${p.ns}/${p.name}`;
          const view = twin.get(id);
          if (!view) throw new EdgetwinError(ErrorCodes.NOT_FOUND, 'no such device in the twin', { device: id }, 'list the devices with GET /api/v1/devices');
          return [200, jsonView(view)];
        },
      },
    },
    {
      name: 'desired',
      path: ['api', 'v1', 'devices', ':ns', ':name', 'twin', 'desired', ':property'],
      methods: {
        PUT: async (req, p) => {
          const body = await readJson(req);
          if (!('value' in body)) throw new HttpError(400, ErrorCodes.BAD_REQUEST, 'the body must be {"value": ...}');
          checkLimits(p.property!, body.value);
          // The CLI's `twin set` says so, so the twin can tell its values from other API clients'.
          const origin = body.origin === 'cli' ? 'cli' : 'api';
          return [200, jsonResult(twin.setDesired(`${p.ns}/${p.name}`, p.property!, body.value, origin))];
        },
      },
    },
    {
      name: 'method',
      path: ['api', 'v1', 'devices', ':ns', ':name', 'methods', ':method'],
      methods: {
        POST: async (req, p) => {
          const body = await readJson(req);
          const values = body.values ?? body.properties;
          if (typeof values !== 'object' || values === null || Array.isArray(values)) {
            throw new HttpError(400, ErrorCodes.BAD_REQUEST, 'the body must be {"values": {"<property>": <value>, ...}}');
          }
          for (const [k, v] of Object.entries(values)) checkLimits(k, v);
          return [200, { results: twin.invokeMethod(`${p.ns}/${p.name}`, p.method!, values as Record<string, unknown>).map(jsonResult) }];
        },
      },
    },
  ];

  const handle = async (req: IncomingMessage): Promise<[route: string, status: number, body: unknown]> => {
    const g = guard!;
    const site = g.checkSite(req);
    if (site) throw refuse(site);
    const url = new URL(req.url ?? '/', 'http://localhost');
    const m = (req.method ?? 'GET').toUpperCase();
    const isPublic = url.pathname === '/healthz' && m === 'GET';
    // Nothing past this line, not even which paths exist, for a caller without the token.
    if (!isPublic && !g.authenticated(req)) throw refuse(g.unauthorized(req));
    const seg = segments(url.pathname);
    for (const route of routes) {
      const params = match(route, seg);
      if (!params) continue;
      const handler = route.methods[m];
      if (!handler) throw refuse(methodNotAllowed(m, url.pathname, Object.keys(route.methods)));
      const write = g.checkWrite(req);
      if (write) throw refuse(write);
      const [status, body] = await handler(req, params);
      return [route.name, status, body];
    }
    throw new HttpError(404, ErrorCodes.NOT_FOUND, `no route ${m} ${url.pathname}`);
  };

  const listener: RequestListener = (req, res) => {
    handle(req).then(
      ([name, status, body]) => {
        requests.inc({ route: name, status: String(status) });
        // What we return never carries a password, whatever a health probe or a metric label holds.
        if (typeof body === 'string') send(res, status, redactText(body), registry.contentType);
        else send(res, status, JSON.stringify(name === 'healthz' ? redactDeep(body) : body));
      },
      (err: unknown) => {
        const e = toHttpError(err);
        if (e.status >= 500) log.error({ err, url: req.url }, 'api: request failed');
        else if (e.status === 401 || e.status === 403) log.debug({ status: e.status, code: e.code, url: req.url, origin: req.headers.origin, host: req.headers.host }, 'api: request refused');
        requests.inc({ route: e.status === 401 || e.status === 403 ? 'refused' : 'error', status: String(e.status) });
        send(res, e.status, JSON.stringify({ code: e.code, message: redactText(e.message) }), undefined, e.headers);
      },
    );
  };
  const scheme = opts.tls ? 'https' : 'http';
  const server: Server = opts.tls
    ? createTlsServer({ cert: opts.tls.cert, key: opts.tls.key, ...(opts.tls.clientCa ? { ca: opts.tls.clientCa, requestCert: true, rejectUnauthorized: true } : {}) }, listener)
    : createServer(listener);
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error) => reject(new Error(`local API cannot listen on ${host}:${opts.port}: ${err.message} (pick another port with --api-port)`, { cause: err }));
    server.once('error', onError);
    server.listen(opts.port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : opts.port;
  guard = new RequestGuard({ bindHost: host, port, scheme, allowedHosts: opts.allowedHosts, token: opts.token, allowedHostsSetting: 'api.allowedHosts' });
  const url = `${scheme}://${host.includes(':') ? `[${host}]` : host}:${port}`;
  if (!isLoopback(host) && opts.token && !opts.tls) {
    log.warn({ url }, 'local API: the bearer token crosses the network in clear text; add api.tls.cert and api.tls.key');
  }
  const auth = [opts.token ? 'bearer token' : '', opts.tls?.clientCa ? 'client certificate' : ''].filter(Boolean).join(' + ') || 'none (loopback only)';
  log.info({ url, auth }, 'local API listening');
  return {
    url,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function send(res: ServerResponse, status: number, body: string, type = 'application/json; charset=utf-8', headers: Record<string, string> = {}): void {
  res.writeHead(status, { ...headers, 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new HttpError(400, ErrorCodes.BAD_REQUEST, `the body is larger than ${MAX_BODY} bytes`);
    chunks.push(chunk as Buffer);
  }
  let v: unknown;
  try {
    v = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch (err) {
    throw new HttpError(400, ErrorCodes.BAD_REQUEST, `the body is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new HttpError(400, ErrorCodes.BAD_REQUEST, 'the body must be a JSON object');
  return v as Record<string, unknown>;
}

function toHttpError(err: unknown): HttpError {
  if (err instanceof HttpError) return err;
  if (err instanceof URIError) return new HttpError(400, ErrorCodes.BAD_REQUEST, `malformed percent-encoding in the request: ${err.message}`);
  if (err instanceof EdgetwinError) {
    // A store that refused the write is the gateway's trouble, not the request's: 503, try again later.
    const status = err.code === ErrorCodes.NOT_FOUND ? 404 : err.code === ErrorCodes.READ_ONLY || err.code === ErrorCodes.CONFLICT ? 409 : err.code === ErrorCodes.STORAGE ? 503 : 400;
    return new HttpError(status, err.code, err.format());
  }
  return new HttpError(500, 'ET_INTERNAL', err instanceof Error ? err.message : String(err));
}

/** A typed value as JSON: numbers, booleans and strings as they are; big integers and bytes as strings. */
export function jsonValue(type: Parameters<typeof formatValue>[0], v: PropertyValue): string | number | boolean {
  return typeof v === 'bigint' || v instanceof Uint8Array ? formatValue(type, v) : v;
}

function jsonView(view: TwinView): unknown {
  const properties: Record<string, unknown> = {};
  for (const [name, p] of Object.entries(view.properties)) {
    properties[name] = {
      ...p,
      desired: p.desired && { ...p.desired, value: jsonValue(p.type, p.desired.value) },
      reported: p.reported && { ...p.reported, ...(p.reported.value !== undefined ? { value: jsonValue(p.type, p.reported.value) } : {}) },
    };
  }
  return { ...view, properties };
}

function jsonResult(r: DesiredResult): unknown {
  return { ...r, value: typeof r.value === 'bigint' || r.value instanceof Uint8Array ? String(formatValue('bytes', r.value)) : r.value };
}
