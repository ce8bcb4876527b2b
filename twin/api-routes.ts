// How the local API's routes are declared and registered: each route's methods, its body schema,
// whether it is public or open to a scoped credential, and a 405 with Allow for every other method.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ErrorCodes } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import { HttpError, refuse } from './api-errors.ts';
import { methodNotAllowed, type RequestGuard } from './http-guard.ts';
import type { CredentialScope } from './scoped-credentials.ts';

export const METHODS = ['GET', 'HEAD', 'PUT', 'POST', 'DELETE', 'PATCH', 'OPTIONS'] as const;

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

export interface RouteConfig {
  name: string;
  kind: 'route' | 'wrong-method';
  public: boolean;
  /** The methods the path serves, for a 405's Allow. */
  allow?: string[];
  badBody?: string;
  /** A scoped credential may use this method of the route. */
  scoped?: boolean;
}

export function addRoute(app: FastifyInstance, route: RouteSpec): void {
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
}

/** A scoped caller may use a route only as it says, and only for the devices of its namespaces. */
export function checkScope(config: Partial<RouteConfig>, method: string, params: Params, scope: CredentialScope): void {
  const where = `${scope.subject} may only list devices, read twins and set desired values in namespace${scope.namespaces.length === 1 ? '' : 's'} ${scope.namespaces.join(', ')}`;
  if (!config.scoped) throw new HttpError(403, ErrorCodes.FORBIDDEN_SCOPE, `${method} ${config.name} is refused: ${where}`);
  if (params.ns !== undefined && !scope.namespaces.includes(params.ns)) {
    throw new HttpError(403, ErrorCodes.FORBIDDEN_SCOPE, `device ${params.ns}/${params.name} is refused: ${where}`);
  }
}
