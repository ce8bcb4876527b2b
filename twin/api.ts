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

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { EdgetwinError, ErrorCodes } from '../core/errors.ts';
import { compileSchema } from '../core/schema.ts';
import type { Logger } from '../core/log.ts';
import { redactDeep, redactText } from '../core/redact.ts';
import { formatValue, type PropertyValue } from '../core/values.ts';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { exposureProblem, isLoopback, methodNotAllowed, RequestGuard, type Caller, type Refusal } from './http-guard.ts';
import { selfSignedListenerTls } from './listener-tls.ts';
import { insideCidr } from './pod-cidr.ts';
import { PROPERTY_KEY_MAX_BYTES, PROPERTY_VALUE_MAX_BYTES } from './kubeedge.ts';
import type { HealthReport } from './health.ts';
import { counter, type Registry } from './metrics.ts';
import { scopeAllowsDevice, type CredentialScope, type ScopedCredentials } from './scoped-credentials.ts';
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

const MAX_BODY = 64 * 1024;
/** Wrong sign-in tokens a minute before sign-in pauses. */
const SIGN_IN_FAILURES = 10;
const METHODS = ['GET', 'HEAD', 'PUT', 'POST', 'DELETE', 'PATCH', 'OPTIONS'] as const;

export class HttpError extends Error {
  constructor(readonly status: number, readonly code: string, message: string, readonly headers?: Record<string, string>) {
    super(message);
  }
}

const refuse = (r: Refusal) => new HttpError(r.status, r.code, r.message, r.headers);

export type Params = Record<string, string>;
/** A route's answer: a status and a body (a string goes out as it is, with `type`), or nothing when the handler answered itself. */
export type Answer = [status: number, body: unknown, type?: string, headers?: Record<string, string>] | undefined;
export type Handler = (req: FastifyRequest, p: Params, reply: FastifyReply) => Promise<Answer>;

export interface RouteSpec {
  /** The route label of edgetwin_api_requests_total. */
  name: string;
  /** fastify's path syntax: `/api/v1/devices/:ns/:name/twin`. */
  url: string;
  methods: Partial<Record<(typeof METHODS)[number], Handler>>;
  /** Served without the token (still behind the Host and Origin checks). */
  public?: boolean;
  /** A JSON Schema for the body of a PUT, POST or PATCH, checked by ajv before the handler runs. */
  body?: object;
  /** The message of the 400 for a body the schema refuses. */
  badBody?: string;
  /** The methods a scoped credential may use here, for the devices of its namespaces (`:ns`); none: it is refused. */
  scoped?: readonly string[];
}

/** What an extension registers routes with, and what it may need of the server. */
export interface RouteTable {
  add(route: RouteSpec): void;
  /** Paths under this prefix are served without the token (a page's scripts and styles: they hold no data). */
  publicPrefix(prefix: string): void;
  readonly app: FastifyInstance;
  readonly guard: () => RequestGuard;
  readonly log: Logger;
}

interface RouteConfig {
  name: string;
  kind: 'route' | 'wrong-method';
  public: boolean;
  /** The methods the path serves, for a 405's Allow. */
  allow?: string[];
  badBody?: string;
  /** A scoped credential may use this method of the route. */
  scoped?: boolean;
}

/** A path segment fastify could not decode is the caller's mistake, not ours. */
const malformedPath = (path: string) => new HttpError(400, ErrorCodes.BAD_REQUEST, `the path "${path}" has a malformed percent-encoding (write a literal % as %25)`);

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

  const add = (route: RouteSpec) => {
    const served = Object.keys(route.methods) as (typeof METHODS)[number][];
    for (const method of served) {
      const handler = route.methods[method]!;
      app.route({
        method,
        url: route.url,
        config: { name: route.name, kind: 'route', public: route.public ?? false, badBody: route.badBody, scoped: route.scoped?.includes(method) ?? false } satisfies RouteConfig,
        ...(route.body && ['PUT', 'POST', 'PATCH'].includes(method) ? { schema: { body: route.body } } : {}),
        handler: async (req, reply) => {
          const answer = await handler(req, req.params as Params, reply);
          if (!answer) return reply; // answered (or hijacked) by the handler
          const [status, body, type, headers] = answer;
          void reply.code(status).headers(headers ?? {});
          if (typeof body === 'string' || Buffer.isBuffer(body)) return reply.type(type ?? 'application/json; charset=utf-8').send(body);
          return reply.type('application/json; charset=utf-8').send(JSON.stringify(body));
        },
      });
    }
    const others = METHODS.filter((m) => !served.includes(m));
    app.route({
      method: [...others],
      url: route.url,
      config: { name: route.name, kind: 'wrong-method', public: route.public ?? false, allow: served } satisfies RouteConfig,
      // The onRequest hook answers 405 before this could run.
      handler: async (req) => {
        throw refuse(methodNotAllowed(req.method, new URL(req.url, 'http://localhost').pathname, served));
      },
    });
  };

  add({
    name: 'healthz',
    url: '/healthz',
    public: true,
    methods: {
      GET: async (req) => {
        const { status, reasons, ...rest } = opts.health?.() ?? { status: 'ok' as const, reasons: [] };
        const full = { status, reasons, devices: twin.list().length, ...rest };
        // Without the token, only this machine sees the details; anyone else learns ok or not.
        const trusted = callerOf(req)?.kind === 'full' || isLoopback(req.socket.remoteAddress ?? '');
        // 503 when degraded, so a plain HTTP probe (systemd, Kubernetes, a load balancer) sees it too.
        // What we return never carries a password, whatever a health probe holds.
        return [status === 'ok' ? 200 : 503, redactDeep(trusted ? full : { status })];
      },
    },
  });
  add({ name: 'metrics', url: '/metrics', methods: { GET: async () => [200, redactText(await registry.metrics()), registry.contentType] } });
  // The node itself: its name and, when it has one, its link to the cloud (null when standalone).
  add({ name: 'node', url: '/api/v1/node', methods: { GET: async () => [200, { nodeName: twin.nodeName, devices: twin.list().length, cloud: twin.cloudLink ?? null }] } });
  add({
    name: 'devices',
    url: '/api/v1/devices',
    scoped: ['GET'],
    methods: {
      GET: async (req) => {
        // A scoped caller sees its namespaces' devices only.
        const caller = callerOf(req);
        const all = twin.list();
        return [200, { devices: caller?.kind === 'scoped' ? all.filter((d) => scopeAllowsDevice(caller.scope, `${d.namespace}/${d.name}`)) : all }];
      },
    },
  });
  add({
    name: 'pods',
    url: '/api/v1/pods',
    methods: {
      GET: async () => {
        const pods = opts.pods?.();
        if (!pods) throw new EdgetwinError(ErrorCodes.NOT_FOUND, 'this gateway runs no pods', {}, 'start it with --pods <dir> or edged.enabled: true');
        return [200, { pods }];
      },
    },
  });
  add({
    name: 'twin',
    url: '/api/v1/devices/:ns/:name/twin',
    scoped: ['GET'],
    methods: {
      GET: async (_req, p) => {
        const id = `${p.ns}/${p.name}`;
        const view = twin.get(id);
        if (!view) throw new EdgetwinError(ErrorCodes.NOT_FOUND, 'no such device in the twin', { device: id }, 'list the devices with GET /api/v1/devices');
        return [200, jsonView(view)];
      },
    },
  });
  add({
    name: 'desired',
    url: '/api/v1/devices/:ns/:name/twin/desired/:property',
    body: { type: 'object', required: ['value'], properties: { value: {} } },
    badBody: 'the body must be {"value": ...}',
    scoped: ['PUT'],
    methods: {
      PUT: async (req, p) => {
        const body = req.body as Record<string, unknown>;
        checkLimits(p.property!, body.value);
        // The CLI's `twin set` says so, so the twin can tell its values from other API clients'.
        const origin = body.origin === 'cli' ? 'cli' : 'api';
        return [200, jsonResult(twin.setDesired(`${p.ns}/${p.name}`, p.property!, body.value, origin))];
      },
    },
  });
  add({
    name: 'method',
    url: '/api/v1/devices/:ns/:name/methods/:method',
    methods: {
      POST: async (req, p) => {
        const body = req.body as Record<string, unknown>;
        const values = body.values ?? body.properties;
        if (typeof values !== 'object' || values === null || Array.isArray(values)) {
          throw new HttpError(400, ErrorCodes.BAD_REQUEST, 'the body must be {"values": {"<property>": <value>, ...}}');
        }
        for (const [k, v] of Object.entries(values)) checkLimits(k, v);
        return [200, { results: twin.invokeMethod(`${p.ns}/${p.name}`, p.method!, values as Record<string, unknown>).map(jsonResult) }];
      },
    },
  });
  // A browser cannot send a bearer token when it navigates: it trades the token for a session cookie.
  const failures: number[] = [];
  add({
    name: 'session',
    url: '/api/v1/session',
    public: true,
    body: { type: 'object', required: ['token'], properties: { token: { type: 'string' } } },
    badBody: 'the body must be {"token": "<the API token>"}',
    methods: {
      POST: async (req) => {
        const g = guardOf(req);
        if (!g.requiresToken) return [200, { signedIn: true, required: false }];
        // Guessing is slow: after SIGN_IN_FAILURES wrong tokens in a minute, nobody signs in until it passes.
        const now = Date.now();
        while (failures.length && failures[0]! < now - 60_000) failures.shift();
        if (failures.length >= SIGN_IN_FAILURES) throw new HttpError(429, ErrorCodes.TOO_MANY, `${failures.length} wrong tokens in the last minute: try again in a minute`, { 'retry-after': '60' });
        const cookie = g.signIn((req.body as { token: string }).token);
        if (!cookie) {
          failures.push(now);
          log.warn({ from: req.socket.remoteAddress }, 'api: a sign-in with a wrong token');
          throw new HttpError(401, ErrorCodes.UNAUTHORIZED, 'the token is wrong: it is the content of the file api.tokenFile (or --api-token-file) names');
        }
        return [200, { signedIn: true, required: true }, undefined, { 'set-cookie': cookie }];
      },
      DELETE: async (req) => [200, { signedIn: false, required: guardOf(req).requiresToken }, undefined, { 'set-cookie': guardOf(req).signOut(req) }],
    },
  });
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
  const plainUrlOf = (h: string) => `http://${h.includes(':') ? `[${h}]` : h}:${port}`;
  const podUrl = (bridgeHost: string) => (wildcard || (isLoopback(host) && !tls) ? url : plainUrlOf(bridgeHost));
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
      const fromPod = insideCidr(podCidr);
      const bridgeUrl = plainUrlOf(bridgeHost);
      const bridgeGuard = new RequestGuard({ bindHost: bridgeHost, port, scheme: 'http', allowedHosts: opts.allowedHosts, token: opts.token, allowedHostsSetting: 'api.allowedHosts', scoped: opts.scoped, credentialRequired: true });
      // A second node server on the same app: fastify's router serves its requests, through the same hooks.
      const onRequest = (req: IncomingMessage, res: import('node:http').ServerResponse) => {
        bridged.set(req, bridgeGuard);
        app.routing(req, res);
      };
      // Plain: the traffic never leaves this host's bridge, and pods hold no certificate to check ours with.
      const s: Server = createServer(onRequest);
      s.on('connection', (socket) => {
        if (fromPod(socket.remoteAddress)) return;
        log.warn({ address: socket.remoteAddress, podCidr }, 'local API: a connection to the pod bridge listener from outside the pod CIDR closed');
        socket.destroy();
      });
      await new Promise<void>((resolve, reject) => {
        const onError = (err: Error) => reject(new Error(`local API cannot listen on the pod bridge ${bridgeHost}:${port}: ${err.message}`, { cause: err }));
        s.once('error', onError);
        s.listen(port, bridgeHost, () => {
          s.off('error', onError);
          resolve();
        });
      });
      extra.add(s);
      log.info({ url: bridgeUrl, podCidr, auth: opts.token ? 'bearer token or pod credential' : 'pod credential' }, 'local API listening for pods (plain HTTP, pod CIDR only)');
      return {
        url: bridgeUrl,
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

/** A scoped caller may use a route only as it says, and only for the devices of its namespaces. */
function checkScope(config: Partial<RouteConfig>, method: string, params: Params, scope: CredentialScope): void {
  const where = `${scope.subject} may only list devices, read twins and set desired values in namespace${scope.namespaces.length === 1 ? '' : 's'} ${scope.namespaces.join(', ')}`;
  if (!config.scoped) throw new HttpError(403, ErrorCodes.FORBIDDEN_SCOPE, `${method} ${config.name} is refused: ${where}`);
  if (params.ns !== undefined && !scope.namespaces.includes(params.ns)) {
    throw new HttpError(403, ErrorCodes.FORBIDDEN_SCOPE, `device ${params.ns}/${params.name} is refused: ${where}`);
  }
}

function toHttpError(err: unknown): HttpError {
  if (err instanceof HttpError) return err;
  if (err instanceof URIError) return new HttpError(400, ErrorCodes.BAD_REQUEST, `malformed percent-encoding in the request: ${err.message}`);
  if (err instanceof EdgetwinError) {
    // A store that refused the write is the gateway's trouble, not the request's: 503, try again later.
    const status = err.code === ErrorCodes.NOT_FOUND ? 404 : err.code === ErrorCodes.READ_ONLY || err.code === ErrorCodes.CONFLICT ? 409 : err.code === ErrorCodes.STORAGE ? 503 : 400;
    return new HttpError(status, err.code, err.format());
  }
  // fastify's own errors (a body over the limit, a connection cut mid-body) carry their status.
  const fst = err as { code?: string; statusCode?: number; message?: string };
  if (fst.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return new HttpError(400, ErrorCodes.BAD_REQUEST, `the body is larger than ${MAX_BODY} bytes`);
  if (typeof fst.statusCode === 'number' && fst.statusCode >= 400 && fst.statusCode < 500) return new HttpError(fst.statusCode, ErrorCodes.BAD_REQUEST, fst.message ?? 'bad request');
  return new HttpError(500, ErrorCodes.INTERNAL, err instanceof Error ? err.message : String(err));
}

/** A typed value as JSON: numbers, booleans and strings as they are; big integers and bytes as strings. */
export function jsonValue(type: Parameters<typeof formatValue>[0], v: PropertyValue): string | number | boolean {
  return typeof v === 'bigint' || v instanceof Uint8Array ? formatValue(type, v) : v;
}

export function jsonView(view: TwinView): unknown {
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
