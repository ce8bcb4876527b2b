// The local API's own endpoints: health, metrics, the node, devices and their twins, desired values,
// device methods, pods, and the sign-in that trades the token for a session cookie.
import type { FastifyRequest } from 'fastify';
import { EdgetwinError, ErrorCodes } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import { redactDeep, redactText } from '../core/redact.ts';
import { HttpError } from './api-errors.ts';
import { jsonResult, jsonView } from './api-json.ts';
import type { RouteSpec } from './api-routes.ts';
import type { HealthReport } from './health.ts';
import { isLoopback, type Caller, type RequestGuard } from './http-guard.ts';
import { PROPERTY_KEY_MAX_BYTES, PROPERTY_VALUE_MAX_BYTES } from './kubeedge.ts';
import type { Registry } from './metrics.ts';
import { scopeAllowsDevice } from './scoped-credentials.ts';
import type { DeviceTwin } from './twin.ts';

/** Wrong sign-in tokens a minute before sign-in pauses. */
const SIGN_IN_FAILURES = 10;

export interface EndpointDeps {
  twin: DeviceTwin;
  registry: Registry;
  log: Logger;
  health?: () => HealthReport & Record<string, unknown>;
  pods?: () => unknown[] | undefined;
  /** Who the request is, as its guard identified it. */
  callerOf(req: FastifyRequest): Caller | undefined;
  /** The guard of the listener the request came in on. */
  guardOf(req: FastifyRequest): RequestGuard;
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

export function addEndpoints(add: (route: RouteSpec) => void, d: EndpointDeps): void {
  const { twin, registry, log, callerOf, guardOf } = d;
  add({
    name: 'healthz',
    url: '/healthz',
    public: true,
    methods: {
      GET: async (req) => {
        const { status, reasons, ...rest } = d.health?.() ?? { status: 'ok' as const, reasons: [] };
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
        return [200, { devices: caller?.kind === 'scoped' ? all.filter((dev) => scopeAllowsDevice(caller.scope, `${dev.namespace}/${dev.name}`)) : all }];
      },
    },
  });
  add({
    name: 'pods',
    url: '/api/v1/pods',
    methods: {
      GET: async () => {
        const pods = d.pods?.();
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
}
