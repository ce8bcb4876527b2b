// The local HTTP API (fastify over node:http or node:https, JSON) that the CLI and the dashboard
// use. Values come out typed where JSON can carry them; 64-bit integers beyond 2^53 and bytes come
// out in their KubeEdge string form. Errors are {code, message} with 400, 401, 403, 404, 405, 409,
// 429 (sign-in guessing) or 503. Every request passes the request guard (http-guard.ts) in an onRequest hook, before
// fastify reads a body or a route runs; the order of its checks is the order of the old server's:
// Host and Origin, the token, which route (404, 405), a scoped credential's scope, then a write's
// content type. Beyond loopback it serves only TLS: the configured certificate, else a self-signed
// one kept in tlsDir (twin/listener-tls.ts), so a token never crosses the network in clear. The same
// app also answers on the pod bridge (addListener): a second, plain node server, open only to the pod
// CIDR, hands its requests to fastify's router, and those pass a guard that takes no anonymous caller.
// Beside it: api-routes.ts (how routes are declared), api-endpoints.ts (the API's own routes),
// api-errors.ts, api-json.ts (values as JSON), api-bridge.ts (the pod bridge listener).

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { EdgetwinError, ErrorCodes } from '../core/errors.ts';
import { compileSchema } from '../core/schema.ts';
import type { Logger } from '../core/log.ts';
import { redactText } from '../core/redact.ts';
import type { IncomingMessage, Server } from 'node:http';
import { addEndpoints } from './api-endpoints.ts';
import { HttpError, malformedPath, MAX_BODY, refuse, toHttpError } from './api-errors.ts';
import { listenOnBridge, plainUrlOf } from './api-bridge.ts';
import { addRoute, checkScope, type Params, type RouteConfig, type RouteSpec, type RouteTable } from './api-routes.ts';
import { exposureProblem, isLoopback, methodNotAllowed, RequestGuard, type Caller } from './http-guard.ts';
import { selfSignedListenerTls } from './listener-tls.ts';
import type { HealthReport } from './health.ts';
import { counter, type Registry } from './metrics.ts';
import type { ScopedCredentials } from './scoped-credentials.ts';
import type { DeviceTwin } from './twin.ts';

export { HttpError } from './api-errors.ts';
export { jsonValue, jsonView } from './api-json.ts';
export type { Answer, Handler, Params, RouteSpec, RouteTable } from './api-routes.ts';

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
  /** The server certificate; beyond loopback without it, a self-signed one from `tlsDir` is served. */
  tls?: ApiTls;
  /** Where the self-signed certificate is kept (`{dataDir}/tls`, as api.crt and api.key). */
  tlsDir?: string;
  /** Host header values accepted besides the loopback names and the bind address. */
  allowedHosts?: readonly string[];
  /** More routes (the dashboard's), registered with the same guard, errors and metrics. */
  extend?: (routes: RouteTable) => void | Promise<void>;
  /** The pods of the gateway's pod runtime (hub/edged); undefined when it runs none. GET /api/v1/pods. */
  pods?: () => unknown[] | undefined;
  /** Credentials with a scope (pod tokens): bearer tokens limited to reading and setting desired values of their namespaces' devices. */
  scoped?: ScopedCredentials;
}

export interface LocalApi {
  url: string;
  port: number;
  /** The self-signed certificate file the API serves (beyond loopback with no api.tls); clients trust it. */
  certFile?: string;
  /**
   * Also listens on `host` (the pod bridge's address), on the same port, in plain HTTP, for
   * connections from inside `podCidr` only (others are closed unanswered); there every request must
   * carry the configured token or a scoped credential, whatever the main listener asks.
   */
  addListener(host: string, podCidr: string): Promise<{ url: string; close(): Promise<void> }>;
  /** The URL pods are given for the API on the bridge address `host` (see addListener). */
  podUrl(host: string): string;
  close(): Promise<void>;
}

/** Refuses an API bound beyond loopback with neither a token nor client certificates, naming the settings to add. */
export function checkApiExposure(host: string, auth: { token?: string; clientCa?: unknown }): void {
  const problem = exposureProblem(host, auth);
  if (problem) {
    throw new EdgetwinError(ErrorCodes.CONFIG, `the local API ${problem}`, { path: 'api.host' }, 'add api.tokenFile (or --api-token-file) with a bearer token, or api.tls.clientCa for client certificates; or keep api.host on 127.0.0.1');
  }
}

export async function startApi(opts: ApiOptions): Promise<LocalApi> {
  const { twin, registry } = opts;
  const log = opts.log.child({ component: 'api' });
  const host = opts.host ?? '127.0.0.1';
  checkApiExposure(host, { token: opts.token, clientCa: opts.tls?.clientCa });
  // Beyond loopback, TLS always: a bearer token or a session cookie must not cross the network in clear.
  const generated = !opts.tls && !isLoopback(host)
    ? await selfSignedListenerTls({ name: 'api', what: 'the local API', host, dir: opts.tlsDir, setting: 'api.tls', trust: 'curl --cacert {cert} (the CLI: --api-ca {cert})', log })
    : undefined;
  const tls: ApiTls | undefined = opts.tls ?? (generated ? { cert: generated.cert, key: generated.key } : undefined);
  const requests = counter(registry, 'edgetwin_api_requests_total', 'Local API requests, by route and status', ['route', 'status']);
  let guard: RequestGuard | undefined; // built once the port is known (port 0 picks one)
  // Requests that came in on a bridge listener, and that listener's guard.
  const bridged = new WeakMap<IncomingMessage, RequestGuard>();
  const guardOf = (req: FastifyRequest) => bridged.get(req.raw) ?? guard!;
  // Who each request is, as its guard identified it in the onRequest hook.
  const callers = new WeakMap<FastifyRequest, Caller>();
  const callerOf = (req: FastifyRequest): Caller | undefined => callers.get(req);
  const scheme = tls ? 'https' : 'http';

  // Loaded here, not at the top: a library caller that never starts the API does not pay for it.
  const { default: Fastify } = await import('fastify');
  const app = Fastify({
    logger: false,
    // Open event streams (the dashboard's) must not hold a shutdown up.
    forceCloseConnections: true,
    // The old server answered HEAD with 405 like any method a path does not serve.
    exposeHeadRoutes: false,
    bodyLimit: MAX_BODY,
    // A long property name is refused by the KubeEdge limit check with its reason, not by the router.
    routerOptions: { ignoreTrailingSlash: true, ignoreDuplicateSlashes: true, maxParamLength: 8192 },
    ...(tls ? { https: { cert: tls.cert, key: tls.key, ...(tls.clientCa ? { ca: tls.clientCa, requestCert: true, rejectUnauthorized: true } : {}) } } : {}),
    frameworkErrors: (err, req, reply) => {
      // A path fastify cannot decode: the guard still speaks first, so a stranger learns nothing.
      const g = bridged.get(req.raw) ?? guard!;
      const refusal = g.checkSite(req) ?? (g.identify(req) ? undefined : g.unauthorized(req));
      answerError(req, reply, refusal ? refuse(refusal) : (err as { code?: string }).code === 'FST_ERR_BAD_URL' ? malformedPath(req.url) : err);
    },
  }) as unknown as FastifyInstance;

  // The project's one schema setup checks bodies, as it checks Device documents: one validator, one dialect.
  app.setValidatorCompiler(({ schema }) => {
    const validator = compileSchema(schema);
    return (data: unknown) => {
      const checked = validator.check(data);
      if (checked.ok) return { value: data };
      // `validation` marks it for the error handler, which answers the route's own 400 message.
      const error = Object.assign(new Error(checked.problems.map((p) => p.message).join('; ')), { validation: checked.problems });
      return { error };
    };
  });
  // JSON only, parsed by us: the same messages and limits as before, and nothing but an object.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string', bodyLimit: MAX_BODY }, (_req, text, done) => {
    let v: unknown;
    try {
      v = JSON.parse(text as string);
    } catch (err) {
      done(new HttpError(400, ErrorCodes.BAD_REQUEST, `the body is not valid JSON: ${(err as Error).message}`), undefined);
      return;
    }
    if (typeof v !== 'object' || v === null || Array.isArray(v)) done(new HttpError(400, ErrorCodes.BAD_REQUEST, 'the body must be a JSON object'), undefined);
    else done(null, v);
  });

  const answered = new WeakMap<FastifyRequest, string>();
  const publicPrefixes: string[] = [];
  const answerError = (req: FastifyRequest, reply: FastifyReply, err: unknown) => {
    const e = toHttpError(err);
    if (e.status >= 500) log.error({ err, url: req.url }, 'api: request failed');
    else if (e.status === 401 || e.status === 403) log.debug({ status: e.status, code: e.code, url: req.url, origin: req.headers.origin, host: req.headers.host }, 'api: request refused');
    answered.set(req, e.status === 401 || e.status === 403 ? 'refused' : 'error');
    void reply.code(e.status).headers(e.headers ?? {}).type('application/json; charset=utf-8').send(JSON.stringify({ code: e.code, message: redactText(e.message) }));
  };

  app.addHook('onRequest', async (req) => {
    const g = guardOf(req);
    const site = g.checkSite(req);
    if (site) throw refuse(site);
    const config = req.routeOptions.config as Partial<RouteConfig>;
    const caller = g.identify(req);
    if (caller) callers.set(req, caller);
    // Nothing past this line, not even which paths exist, for a caller without the token.
    const open = config.public || (req.method === 'GET' && publicPrefixes.some((p) => req.url.startsWith(p)));
    if (!open && !caller) throw refuse(g.unauthorized(req));
    // 404 and 405 answer before a write's content type matters, and before a body is read.
    if (config.kind === 'wrong-method') throw refuse(methodNotAllowed(req.method, new URL(req.url, 'http://localhost').pathname, config.allow ?? []));
    if (config.kind !== 'route') return;
    if (caller?.kind === 'scoped' && !open) checkScope(config, req.method, req.params as Params, caller.scope);
    const write = g.checkWrite(req);
    if (write) throw refuse(write);
  });
  app.addHook('onResponse', async (req, reply) => {
    const config = req.routeOptions.config as Partial<RouteConfig>;
    requests.inc({ route: answered.get(req) ?? config.name ?? 'error', status: String(reply.statusCode) });
  });
  app.setErrorHandler((err, req, reply) => {
    const config = req.routeOptions.config as Partial<RouteConfig>;
    if ((err as { validation?: unknown }).validation) return answerError(req, reply, new HttpError(400, ErrorCodes.BAD_REQUEST, config.badBody ?? `the body does not fit: ${(err as Error).message}`));
    return answerError(req, reply, err);
  });
  app.setNotFoundHandler((req, reply) => {
    answerError(req, reply, new HttpError(404, ErrorCodes.NOT_FOUND, `no route ${req.method} ${new URL(req.url, 'http://localhost').pathname}`));
  });

  const add = (route: RouteSpec) => addRoute(app, route);
  addEndpoints(add, { twin, registry, log, health: opts.health, pods: opts.pods, callerOf, guardOf });
  await opts.extend?.({ add, publicPrefix: (p) => publicPrefixes.push(p), app, guard: () => guard!, log });

  await new Promise<void>((resolve, reject) => {
    app.listen({ port: opts.port, host }).then(() => resolve(), (err: Error) => reject(new Error(`local API cannot listen on ${host}:${opts.port}: ${err.message} (pick another port with --api-port)`, { cause: err })));
  });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : opts.port;
  guard = new RequestGuard({ bindHost: host, port, scheme, allowedHosts: opts.allowedHosts, token: opts.token, allowedHostsSetting: 'api.allowedHosts', scoped: opts.scoped });
  const mainGuard = guard;
  const urlOf = (h: string) => `${scheme}://${h.includes(':') ? `[${h}]` : h}:${port}`;
  const url = urlOf(host);
  const auth = [opts.token ? 'bearer token' : '', tls?.clientCa ? 'client certificate' : ''].filter(Boolean).join(' + ') || 'none (loopback only)';
  log.info({ url, auth, tls: opts.tls ? 'api.tls' : generated ? generated.certFile : 'none (loopback only)' }, 'local API listening');

  const extra = new Set<Server>();
  const closeServer = (s: Server) =>
    new Promise<void>((resolve) => {
      s.close(() => resolve());
      // Open event streams (the dashboard's) must not hold a shutdown up, here as on the main server.
      s.closeAllConnections();
    });
  const wildcard = ['', '0.0.0.0', '::', '[::]'].includes(host);
  // The main listener's URL where it takes the bridge address too (a wildcard), or where it is plain on
  // loopback (podEnv points hostNetwork pods at loopback, the others at the bridge, whose listener is plain
  // too); else the plain bridge listener's, for every pod.
  const podUrl = (bridgeHost: string) => (wildcard || (isLoopback(host) && !tls) ? url : plainUrlOf(bridgeHost, port));
  return {
    url,
    port,
    ...(generated ? { certFile: generated.certFile } : {}),
    podUrl,
    async addListener(bridgeHost, podCidr) {
      if (wildcard) {
        // The main listener already takes this address (TLS, as anywhere beyond loopback); it only has to answer to its name.
        mainGuard.allowHost(bridgeHost);
        return { url: urlOf(bridgeHost), close: async () => undefined };
      }
      const s = await listenOnBridge({ app, bridged, port, token: opts.token, scoped: opts.scoped, allowedHosts: opts.allowedHosts, log }, bridgeHost, podCidr);
      extra.add(s);
      return {
        url: plainUrlOf(bridgeHost, port),
        close: async () => {
          if (!extra.delete(s)) return;
          await closeServer(s);
        },
      };
    },
    close: async () => {
      await Promise.all([...extra].map(closeServer));
      extra.clear();
      await app.close();
    },
  };
}
