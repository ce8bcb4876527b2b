// Talks to a running gateway's local API (`--api-url`). Errors come back as the API's
// {code, message}, so the CLI prints what the gateway said, not a bare HTTP status.

export class ApiError extends Error {
  override name = 'ApiError';
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
  }
}

export async function apiRequest<T>(apiUrl: string, method: string, path: string, body?: unknown): Promise<T> {
  const url = new URL(path, apiUrl.endsWith('/') ? apiUrl : apiUrl + '/');
  let res: Response;
  try {
    res = await fetch(url, {
      method,
      headers: body === undefined ? undefined : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
  } catch (err) {
    const c = (err as { cause?: { code?: string; message?: string; errors?: { code?: string }[] } }).cause;
    const cause = c?.code ?? c?.errors?.[0]?.code ?? c?.message ?? (err as Error).message;
    throw new ApiError(0, 'UNREACHABLE', `cannot reach the gateway at ${apiUrl} (${cause}); is \`edgetwin run\` running? Pass --api-url if it listens elsewhere`);
  }
  const text = await res.text();
  let data: unknown;
  try {
    data = text ? JSON.parse(text) : undefined;
  } catch {
    throw new ApiError(res.status, 'BAD_RESPONSE', `the gateway answered ${res.status} with a body that is not JSON`);
  }
  if (!res.ok) {
    const e = (data ?? {}) as { code?: string; message?: string };
    throw new ApiError(res.status, e.code ?? String(res.status), e.message ?? `HTTP ${res.status}`);
  }
  return data as T;
}

/** `namespace/name`, or a bare name in the default namespace. */
export function splitDeviceRef(ref: string): { namespace: string; name: string } {
  const parts = ref.split('/');
  if (parts.length === 1 && parts[0]) return { namespace: 'default', name: parts[0] };
  if (parts.length === 2 && parts[0] && parts[1]) return { namespace: parts[0], name: parts[1] };
  throw new ApiError(0, 'BAD_ARGUMENT', `"${ref}" is not a device reference: write <namespace>/<name>, e.g. default/thermostat`);
}
