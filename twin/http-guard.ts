// The request guard every HTTP server of ours puts in front of its routes (the local API, later
// the dashboard and `edgetwin cloud`'s listener). It knows nothing of routes or frameworks: it
// reads a method and headers, and answers with a refusal or nothing.
//
// What it stops, and why:
// - DNS rebinding: a web page whose name the attacker re-points at 127.0.0.1 reaches a loopback
//   server with its own name in Host. Only the names the server is really reached by pass.
// - Cross-site requests: any page open in a browser on the gateway's machine may POST to
//   127.0.0.1. Browsers always say who sends such a request in Origin (and Sec-Fetch-Site), and
//   cannot send `Content-Type: application/json` cross-site without a CORS preflight we never
//   answer; so a foreign Origin, or a write that is not JSON, is refused.
// - Anyone on the network, when the server listens beyond loopback: a bearer token (compared in
//   constant time) or TLS client certificates, checked before a route runs.
// - A browser, which cannot send a bearer token when it navigates: it trades the token once for a
//   session cookie (HttpOnly so no script reads it, SameSite=Strict so no other site's page sends
//   it), and the cookie then counts as the token.

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { hostname, networkInterfaces } from 'node:os';
import { ErrorCodes, type ErrorCode } from '../core/errors.ts';
import type { CredentialScope, ScopedCredentials } from './scoped-credentials.ts';

/** What the guard reads of a request: node's IncomingMessage and fastify's request both fit. */
export interface GuardedRequest {
  method?: string;
  headers: IncomingHttpHeaders;
}

/** A refusal: the HTTP status, a stable code, a message a user can act on, and extra headers. */
export interface Refusal {
  status: number;
  code: ErrorCode;
  message: string;
  headers?: Record<string, string>;
}

export interface GuardOptions {
  /** The address the server is bound to (`127.0.0.1`, `0.0.0.0`, `::`, a name...). */
  bindHost: string;
  /** The port it listens on (after listen, so port 0 works). */
  port: number;
  scheme: 'http' | 'https';
  /** Host header values accepted besides the defaults: `name` (on `port`) or `name:port`. */
  allowedHosts?: readonly string[];
  /** The bearer token requests must carry; none means no token is asked for. */
  token?: string;
  /** The setting a user changes to add a host, named in the refusal (`api.allowedHosts`). */
  allowedHostsSetting?: string;
  /** Credentials the gateway hands out with a scope (pod tokens); a request carrying one is limited to it. */
  scoped?: ScopedCredentials;
  /** Even with no `token` configured, a request must carry a credential (a listener beyond loopback). */
  credentialRequired?: boolean;
}

/** The session cookie's name. */
export const SESSION_COOKIE = 'edgetwin_session';
/** A session lasts this long, then the browser signs in again. */
const SESSION_MS = 12 * 3600_000;
/** Sessions kept at once; the oldest goes first (a browser that signs in again loses nothing). */
const MAX_SESSIONS = 64;

/** Who a request is: the holder of the configured token (or anyone, where none is asked for), or a scoped credential. */
export type Caller = { kind: 'full' } | { kind: 'scoped'; scope: CredentialScope };

const WRITES = new Set(['PUT', 'POST', 'PATCH', 'DELETE']);
const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '[::1]'];

/** True for an address or name that only this machine can reach. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h) || /^::ffff:127\.\d+\.\d+\.\d+$/.test(h);
}

const isWildcard = (host: string) => ['', '0.0.0.0', '::', '[::]'].includes(host);

/**
 * Why a server bound to `host` must not start with these credentials, or undefined when it may.
 * Beyond loopback, a request must prove who sends it: a bearer token or a TLS client certificate.
 */
export function exposureProblem(host: string, auth: { token?: string; clientCa?: unknown }): string | undefined {
  if (isLoopback(host) || auth.token || auth.clientCa) return undefined;
  return `listens on ${host}, beyond loopback, with no way to tell who is calling`;
}

/** `name:port` in lower case, IPv6 in brackets, without a trailing dot; undefined if unreadable. */
function normalizeHost(value: string, defaultPort: number): string | undefined {
  const v = value.trim().toLowerCase();
  let name: string;
  let port: string | undefined;
  if (v.startsWith('[')) {
    const end = v.indexOf(']');
    if (end === -1) return undefined;
    name = v.slice(0, end + 1);
    const rest = v.slice(end + 1);
    if (rest && !rest.startsWith(':')) return undefined;
    port = rest ? rest.slice(1) : undefined;
  } else if ((v.match(/:/g) ?? []).length > 1) {
    name = `[${v}]`; // a bare IPv6 address in a setting
  } else {
    const colon = v.lastIndexOf(':');
    name = colon === -1 ? v : v.slice(0, colon);
    port = colon === -1 ? undefined : v.slice(colon + 1);
  }
  name = name.replace(/\.$/, '');
  if (!name || (port !== undefined && !/^\d{1,5}$/.test(port))) return undefined;
  return `${name}:${port === undefined ? defaultPort : Number(port)}`;
}

/** The names a server bound to `bindHost` is reached by: loopback, plus the bind address (every local address for a wildcard). */
export function defaultHostNames(bindHost: string): string[] {
  const names = [...LOOPBACK_NAMES];
  if (isWildcard(bindHost)) {
    names.push(hostname());
    for (const list of Object.values(networkInterfaces())) {
      for (const a of list ?? []) names.push(a.family === 'IPv6' ? `[${a.address.replace(/%.*$/, '')}]` : a.address);
    }
  } else {
    names.push(bindHost.includes(':') && !bindHost.startsWith('[') ? `[${bindHost}]` : bindHost);
  }
  return names;
}

const digest = (s: string) => createHash('sha256').update(s).digest();

export class RequestGuard {
  private readonly allowed: Set<string>;
  private readonly tokenDigest?: Buffer;
  /** Session id digest -> expiry (ms since the epoch). */
  private readonly sessions = new Map<string, number>();

  constructor(private readonly opts: GuardOptions) {
    const port = opts.port;
    this.allowed = new Set(
      [...defaultHostNames(opts.bindHost), ...(opts.allowedHosts ?? [])]
        .map((h) => normalizeHost(h, port))
        .filter((h): h is string => h !== undefined),
    );
    if (opts.token) this.tokenDigest = digest(opts.token);
  }

  get requiresToken(): boolean {
    return this.tokenDigest !== undefined || Boolean(this.opts.credentialRequired);
  }

  /** Adds a name the server is reached by (an address that appeared after it started). */
  allowHost(name: string): void {
    const h = normalizeHost(name, this.opts.port);
    if (h) this.allowed.add(h);
  }

  /**
   * Who is calling: the configured token (or a session signed in with it) is full access; a scoped credential is its scope; with
   * no token configured (and none required) anyone else is full access, as before. Undefined: refuse.
   */
  identify(req: GuardedRequest): Caller | undefined {
    const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(req.headers.authorization ?? '');
    if (m) {
      if (this.isToken(m[1]!)) return { kind: 'full' };
      const scope = this.opts.scoped?.byToken(m[1]!);
      if (scope) return { kind: 'scoped', scope };
    } else if (this.tokenDigest && this.hasSession(req)) {
      // A browser signed in with the token (no bearer header: it navigates).
      return { kind: 'full' };
    }
    return this.requiresToken ? undefined : { kind: 'full' };
  }

  /** Host and Origin: the request is addressed to us by a name we answer to, and sent by our own pages or by no page at all. */
  checkSite(req: GuardedRequest): Refusal | undefined {
    const hostHeader = req.headers.host;
    const defaultPort = this.opts.scheme === 'https' ? 443 : 80;
    const host = hostHeader ? normalizeHost(hostHeader, defaultPort) : undefined;
    if (!host || !this.allowed.has(host)) {
      return {
        status: 403,
        code: ErrorCodes.FORBIDDEN_HOST,
        message: `Host "${hostHeader ?? ''}" is not a name this server answers to (a DNS rebinding guard); add it to ${this.opts.allowedHostsSetting ?? 'the allowed hosts'} if clients reach the gateway by that name`,
      };
    }
    const origin = req.headers.origin;
    if (origin !== undefined) {
      let same = false;
      try {
        const o = new URL(origin);
        same = o.protocol === `${this.opts.scheme}:` && normalizeHost(o.host, defaultPort) === host;
      } catch {
        same = false;
      }
      if (!same) {
        return { status: 403, code: ErrorCodes.FORBIDDEN_ORIGIN, message: `a request from the web page origin "${origin}" is refused: only this server's own origin ${this.opts.scheme}://${hostHeader} may call it` };
      }
    } else if (req.headers['sec-fetch-site'] === 'cross-site') {
      return { status: 403, code: ErrorCodes.FORBIDDEN_ORIGIN, message: 'a cross-site browser request is refused' };
    }
    return undefined;
  }

  /** True when the request carries the bearer token or a live session cookie, or when no token is asked for (a scoped credential is not the token). */
  authenticated(req: GuardedRequest): boolean {
    return this.identify(req)?.kind === 'full';
  }

  /** True when the request carries a session cookie that is still live. */
  private hasSession(req: GuardedRequest): boolean {
    const session = sessionOf(req);
    if (session === undefined) return false;
    const key = digest(session).toString('hex');
    const until = this.sessions.get(key);
    if (until === undefined) return false;
    if (until < Date.now()) {
      this.sessions.delete(key);
      return false;
    }
    return true;
  }

  private isToken(given: string): boolean {
    // Equal-length digests, so the comparison's time says nothing about the token.
    return this.tokenDigest !== undefined && timingSafeEqual(digest(given), this.tokenDigest);
  }

  /**
   * Trades the token for a session: the Set-Cookie header value, or undefined when the token is
   * wrong. Without a token to ask for, there is nothing to sign in to (undefined too).
   */
  signIn(token: string): string | undefined {
    if (!this.isToken(token)) return undefined;
    const id = randomBytes(32).toString('base64url');
    // Only a digest is kept: a memory dump does not hand out live sessions.
    this.sessions.set(digest(id).toString('hex'), Date.now() + SESSION_MS);
    while (this.sessions.size > MAX_SESSIONS) this.sessions.delete(this.sessions.keys().next().value!);
    return `${SESSION_COOKIE}=${id}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${SESSION_MS / 1000}${this.opts.scheme === 'https' ? '; Secure' : ''}`;
  }

  /** Ends the request's session; the Set-Cookie value that clears it in the browser. */
  signOut(req: GuardedRequest): string {
    const session = sessionOf(req);
    if (session !== undefined) this.sessions.delete(digest(session).toString('hex'));
    return `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0${this.opts.scheme === 'https' ? '; Secure' : ''}`;
  }

  /** The 401 for a request without the right token. */
  unauthorized(req: GuardedRequest): Refusal {
    const given = req.headers.authorization !== undefined;
    return {
      status: 401,
      code: ErrorCodes.UNAUTHORIZED,
      message: given ? 'the bearer token is wrong (neither the configured token nor a pod credential of this gateway)' : 'this server requires a bearer token: send "Authorization: Bearer <token>" (the CLI: --api-token-file <file>)',
      headers: { 'www-authenticate': `Bearer realm="edgetwin"${given ? ', error="invalid_token"' : ''}` },
    };
  }

  /** A write (PUT, POST, PATCH, DELETE) must say it is JSON: a cross-site form or a no-cors fetch cannot. */
  checkWrite(req: GuardedRequest): Refusal | undefined {
    if (!WRITES.has((req.method ?? 'GET').toUpperCase())) return undefined;
    const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (type === 'application/json') return undefined;
    return { status: 403, code: ErrorCodes.FORBIDDEN_CONTENT_TYPE, message: `a ${req.method} must send Content-Type: application/json (got ${type ? `"${type}"` : 'none'})` };
  }

  /** Everything in order, for a route that needs the token: Host and Origin, then the token, then the content type. */
  check(req: GuardedRequest, opts: { public?: boolean } = {}): Refusal | undefined {
    return this.checkSite(req) ?? (opts.public || this.authenticated(req) ? undefined : this.unauthorized(req)) ?? this.checkWrite(req);
  }
}

/** The session id in the request's Cookie header, if any. */
function sessionOf(req: GuardedRequest): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq !== -1 && part.slice(0, eq).trim() === SESSION_COOKIE) return part.slice(eq + 1).trim() || undefined;
  }
  return undefined;
}

/** The 405 for a known path asked with a method it does not serve, with the Allow header. */
export function methodNotAllowed(method: string, path: string, allowed: readonly string[]): Refusal {
  return {
    status: 405,
    code: ErrorCodes.METHOD_NOT_ALLOWED,
    message: `${path} does not serve ${method}; it serves ${allowed.join(', ')}`,
    headers: { allow: allowed.join(', ') },
  };
}
