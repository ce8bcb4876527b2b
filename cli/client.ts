// Talks to a running gateway's local API (`--api-url`). Errors come back as the API's
// {code, message}, so the CLI prints what the gateway said, not a bare HTTP status.
// node:http/https rather than fetch: an https API with its own CA and a client certificate
// needs per-request TLS options that fetch does not take.

import { readFileSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';

export class ApiError extends Error {
  override name = 'ApiError';
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
  }
}

/** How to reach a gateway: its URL and, when it asks for them, a token and TLS files. */
export interface ApiTarget {
  url: string;
  /** File holding the bearer token (`--api-token-file`). */
  tokenFile?: string;
  /** PEM CA that signed the API's certificate (`--api-ca`). */
  ca?: string;
  /** PEM client certificate and key, for an API that asks for one (`--api-cert`, `--api-key`). */
  cert?: string;
  key?: string;
}

function readFlagFile(file: string, flag: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new ApiError(0, 'BAD_ARGUMENT', `${flag} ${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

export async function apiRequest<T>(target: ApiTarget | string, method: string, path: string, body?: unknown): Promise<T> {
  const t: ApiTarget = typeof target === 'string' ? { url: target } : target;
  let url: URL;
  try {
    url = new URL(path, t.url.endsWith('/') ? t.url : t.url + '/');
  } catch {
    throw new ApiError(0, 'BAD_ARGUMENT', `--api-url ${t.url} is not a URL: write e.g. http://127.0.0.1:7180`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ApiError(0, 'BAD_ARGUMENT', `--api-url ${t.url}: only http:// and https:// are served`);
  const headers: Record<string, string> = {};
  if (t.tokenFile) headers.authorization = `Bearer ${readFlagFile(t.tokenFile, '--api-token-file').trim()}`;
  const payload = body === undefined ? undefined : JSON.stringify(body);
  if (payload !== undefined) headers['content-type'] = 'application/json';
  const tls = url.protocol === 'https:'
    ? {
      ...(t.ca ? { ca: readFlagFile(t.ca, '--api-ca') } : {}),
      ...(t.cert ? { cert: readFlagFile(t.cert, '--api-cert') } : {}),
      ...(t.key ? { key: readFlagFile(t.key, '--api-key') } : {}),
    }
    : {};
  let res: { status: number; text: string };
  try {
    res = await send(url, { method, headers, timeout: 10_000, ...tls }, payload);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const cause = e.code ?? e.message;
    const hint = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY/.test(cause)
      ? 'pass --api-ca with the CA that signed the API\'s certificate (for the certificate a gateway made itself: {dataDir}/tls/api.crt)'
      : url.protocol === 'http:' && /ECONNRESET|socket hang up/.test(cause)
        // A TLS listener drops a plain request: an API bound beyond loopback serves only https.
        ? 'an API bound beyond loopback serves only https: pass --api-url https://... with --api-ca ({dataDir}/tls/api.crt for its own certificate)'
        : 'is `edgetwin run` running? Pass --api-url if it listens elsewhere';
    throw new ApiError(0, 'UNREACHABLE', `cannot reach the gateway at ${t.url} (${cause}); ${hint}`);
  }
  let data: unknown;
  try {
    data = res.text ? JSON.parse(res.text) : undefined;
  } catch {
    throw new ApiError(res.status, 'BAD_RESPONSE', `the gateway answered ${res.status} with a body that is not JSON`);
  }
  if (res.status < 200 || res.status >= 300) {
    const e = (data ?? {}) as { code?: string; message?: string };
    const hint = res.status === 401 && !t.tokenFile ? ' (pass --api-token-file with the gateway\'s api.tokenFile)' : '';
    throw new ApiError(res.status, e.code ?? String(res.status), (e.message ?? `HTTP ${res.status}`) + hint);
  }
  return data as T;
}

function send(url: URL, options: RequestOptions & { ca?: string; cert?: string; key?: string }, payload: string | undefined): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = (url.protocol === 'https:' ? httpsRequest : httpRequest)(url, options, (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('no answer within 10 s'), { code: 'ETIMEDOUT' })));
    req.on('error', reject);
    req.end(payload);
  });
}

/** `namespace/name`, or a bare name in the default namespace. */
export function splitDeviceRef(ref: string): { namespace: string; name: string } {
  const parts = ref.split('/');
  if (parts.length === 1 && parts[0]) return { namespace: 'default', name: parts[0] };
  if (parts.length === 2 && parts[0] && parts[1]) return { namespace: parts[0], name: parts[1] };
  throw new ApiError(0, 'BAD_ARGUMENT', `"${ref}" is not a device reference: write <namespace>/<name>, e.g. default/thermostat`);
}
