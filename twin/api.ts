// The local HTTP API (node:http, JSON) that the CLI and dashboards use. Values come out typed
// where JSON can carry them; 64-bit integers beyond 2^53 and bytes come out in their KubeEdge
// string form. Errors are {code, message} with 400, 404 or 409.

import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { EdgetwinError, ErrorCodes } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import { formatValue, type PropertyValue } from '../core/values.ts';
import type { HealthReport } from './health.ts';
import { counter, type Registry } from './metrics.ts';
import type { DeviceTwin } from './twin.ts';
import type { DesiredResult, TwinView } from './types.ts';

export interface ApiOptions {
  twin: DeviceTwin;
  host?: string;
  port: number;
  log: Logger;
  registry: Registry;
  /** What /healthz reports; without it, the API alone is "ok". */
  health?: () => HealthReport & Record<string, unknown>;
}

const MAX_BODY = 64 * 1024;

class HttpError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
  }
}

export async function startApi(opts: ApiOptions): Promise<{ url: string; port: number; close(): Promise<void> }> {
  const { twin, registry } = opts;
  const log = opts.log.child({ component: 'api' });
  const requests = counter(registry, 'edgetwin_api_requests_total', 'Local API requests, by route and status', ['route', 'status']);

  const route = async (req: IncomingMessage): Promise<[route: string, status: number, body: unknown]> => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const seg = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    const m = req.method ?? 'GET';
    if (url.pathname === '/healthz' && m === 'GET') {
      // 503 when degraded, so a plain HTTP probe (systemd, Kubernetes, a load balancer) sees it too.
      const { status, reasons, ...rest } = opts.health?.() ?? { status: 'ok' as const, reasons: [] };
      return ['healthz', status === 'ok' ? 200 : 503, { status, reasons, devices: twin.list().length, ...rest }];
    }
    if (seg[0] !== 'api' || seg[1] !== 'v1' || seg[2] !== 'devices') throw new HttpError(404, ErrorCodes.NOT_FOUND, `no route ${m} ${url.pathname}`);
    if (seg.length === 3 && m === 'GET') return ['devices', 200, { devices: twin.list() }];
    const id = `${seg[3]}/${seg[4]}`;
    if (seg.length === 6 && seg[5] === 'twin' && m === 'GET') {
      const view = twin.get(id);
      if (!view) throw new EdgetwinError(ErrorCodes.NOT_FOUND, 'no such device in the twin', { device: id }, 'list the devices with GET /api/v1/devices');
      return ['twin', 200, jsonView(view)];
    }
    if (seg.length === 8 && seg[5] === 'twin' && seg[6] === 'desired' && m === 'PUT') {
      const body = await readJson(req);
      if (!('value' in body)) throw new HttpError(400, ErrorCodes.BAD_REQUEST, 'the body must be {"value": ...}');
      // The CLI's `twin set` says so, so the twin can tell its values from other API clients'.
      const origin = body.origin === 'cli' ? 'cli' : 'api';
      return ['desired', 200, jsonResult(twin.setDesired(id, seg[7]!, body.value, origin))];
    }
    if (seg.length === 7 && seg[5] === 'methods' && m === 'POST') {
      const body = await readJson(req);
      const values = body.values ?? body.properties;
      if (typeof values !== 'object' || values === null || Array.isArray(values)) {
        throw new HttpError(400, ErrorCodes.BAD_REQUEST, 'the body must be {"values": {"<property>": <value>, ...}}');
      }
      return ['method', 200, { results: twin.invokeMethod(id, seg[6]!, values as Record<string, unknown>).map(jsonResult) }];
    }
    throw new HttpError(404, ErrorCodes.NOT_FOUND, `no route ${m} ${url.pathname}`);
  };

  const server = createServer((req, res) => {
    if (req.url === '/metrics' && req.method === 'GET') {
      registry.metrics().then(
        (text) => send(res, 200, text, registry.contentType),
        (err: Error) => send(res, 500, JSON.stringify({ code: 'ET_INTERNAL', message: err.message })),
      );
      requests.inc({ route: 'metrics', status: '200' });
      return;
    }
    route(req).then(
      ([name, status, body]) => {
        requests.inc({ route: name, status: String(status) });
        send(res, status, JSON.stringify(body));
      },
      (err: unknown) => {
        const e = toHttpError(err);
        if (e.status >= 500) log.error({ err, url: req.url }, 'api: request failed');
        requests.inc({ route: 'error', status: String(e.status) });
        send(res, e.status, JSON.stringify({ code: e.code, message: e.message }));
      },
    );
  });
  const host = opts.host ?? '127.0.0.1';
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
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  log.info({ url }, 'local API listening');
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

function send(res: ServerResponse, status: number, body: string, type = 'application/json; charset=utf-8'): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
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
