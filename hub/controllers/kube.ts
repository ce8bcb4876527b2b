// The one door to Kubernetes: a KubeConfig from --kubeconfig, KUBECONFIG or the in-cluster service
// account, and a small JSON request helper on it. Writes go through `request` (not client-node's
// generated APIs) so the content type of every patch is explicit: merge patch for custom
// resources, which a real server refuses as strategic merge, and which client-node 1.4 would
// otherwise send as JSON patch.
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest, type AgentOptions, type RequestOptions } from 'node:https';
import { KubeConfig, Watch } from '@kubernetes/client-node';

/** Where the cloud found Kubernetes: a kubeconfig file, or `in-cluster`. */
export type KubeSource = string;

export const IN_CLUSTER = 'in-cluster';

export interface KubeRequestOptions {
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  /** Defaults to application/json; patches name their type. */
  contentType?: string;
  /** Milliseconds before the request is abandoned (default 30 s). */
  timeoutMs?: number;
}

/** A failed API call: the HTTP status and the Status `reason` the server sent (NotFound, Conflict, ...). */
export class KubeApiError extends Error {
  constructor(readonly status: number, readonly reason: string, message: string, readonly method: string, readonly path: string) {
    super(`${method} ${path}: ${status} ${reason}: ${message}`);
  }
}

export function isNotFound(err: unknown): boolean {
  return err instanceof KubeApiError && err.status === 404;
}
export function isConflict(err: unknown): boolean {
  return err instanceof KubeApiError && err.status === 409;
}

export class KubeClient {
  readonly watch: Watch;
  readonly server: string;
  /**
   * One keep-alive agent for every request. client-node hands out a new agent per call, so each
   * write paid a TCP and TLS handshake on both ends (6 per pod that starts: ACK records, status
   * patches), and that CPU was taken from the pods starting on a small machine. Made again when
   * the TLS material changes.
   */
  private agent?: { key: string; agent: HttpsAgent };

  constructor(readonly config: KubeConfig, readonly source: KubeSource) {
    const cluster = config.getCurrentCluster();
    if (!cluster) throw new Error(`${source}: the kubeconfig has no current cluster: set current-context`);
    this.server = cluster.server.replace(/\/+$/, '');
    this.watch = new Watch(config);
  }

  /** The namespace of the current context (the kubeconfig's, or the service account's in a pod). */
  get contextNamespace(): string | undefined {
    const ctx = this.config.getContextObject(this.config.getCurrentContext());
    return ctx?.namespace;
  }

  async request<T = unknown>(method: string, path: string, opts: KubeRequestOptions = {}): Promise<T> {
    const url = new URL(this.server + path);
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    const body = opts.body === undefined ? undefined : Buffer.from(JSON.stringify(opts.body));
    const reqOpts: RequestOptions = {
      method,
      protocol: url.protocol,
      hostname: url.hostname.replace(/^\[|\]$/g, ''),
      port: url.port,
      path: url.pathname + url.search,
      headers: {
        accept: 'application/json',
        ...(body ? { 'content-type': opts.contentType ?? 'application/json', 'content-length': String(body.length) } : {}),
      },
    };
    await this.config.applyToHTTPSOptions(reqOpts);
    this.keepAlive(reqOpts);
    const send = url.protocol === 'http:' ? httpRequest : httpsRequest;
    const where = `${method} ${url.pathname}`;
    const once = (retry: boolean) => new Promise<{ status: number; text: string }>((resolve, reject) => {
      let answered = false;
      const req = send(reqOpts, (r: IncomingMessage) => {
        answered = true;
        const chunks: Buffer[] = [];
        r.on('data', (c: Buffer) => chunks.push(c));
        r.on('end', () => resolve({ status: r.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        r.on('error', reject);
      });
      req.setTimeout(opts.timeoutMs ?? 30_000, () => req.destroy(new Error(`no answer within ${opts.timeoutMs ?? 30_000} ms`)));
      req.on('error', (err: NodeJS.ErrnoException) => {
        // A kept-alive connection the server closed while it was idle (it restarted, or its idle
        // timeout came first): the request never reached it, so it goes once more on a new one.
        if (retry && req.reusedSocket && !answered && (err.code === 'ECONNRESET' || err.message === 'socket hang up')) {
          once(false).then(resolve, reject);
          return;
        }
        reject(new Error(`${where}: cannot reach the Kubernetes API at ${this.server}: ${err.message}`));
      });
      req.end(body);
    });
    const res = await once(true);
    let parsed: unknown;
    try {
      parsed = res.text ? JSON.parse(res.text) : undefined;
    } catch {
      parsed = undefined;
    }
    if (res.status >= 400) {
      const s = (parsed ?? {}) as { reason?: string; message?: string };
      throw new KubeApiError(res.status, s.reason ?? 'Error', s.message ?? res.text.slice(0, 200), method, url.pathname);
    }
    return parsed as T;
  }

  /** Swaps the agent client-node made for this request for the shared keep-alive one (a proxy's agent stays). */
  private keepAlive(opts: RequestOptions): void {
    const made = opts.agent;
    if (!made || made.constructor !== HttpsAgent) return;
    const o = (made as HttpsAgent & { options: AgentOptions }).options;
    const key = [o.ca, o.cert, o.key, o.pfx, o.passphrase, o.rejectUnauthorized, o.servername].map((v) => String(v)).join('\0');
    if (this.agent?.key !== key) {
      this.agent?.agent.destroy();
      this.agent = { key, agent: new HttpsAgent({ ...o, keepAlive: true }) };
    }
    opts.agent = this.agent.agent;
  }
}

/** Loads the configuration: `in-cluster` reads the pod's service account, anything else is a kubeconfig file. */
export function loadKube(source: KubeSource): KubeClient {
  const kc = new KubeConfig();
  try {
    if (source === IN_CLUSTER) kc.loadFromCluster();
    else kc.loadFromFile(source);
  } catch (err) {
    throw new Error(`${source === IN_CLUSTER ? 'in-cluster configuration' : `kubeconfig ${source}`}: ${(err as Error).message}`);
  }
  return new KubeClient(kc, source);
}

/** The API path of a resource collection (`/api/v1/...` for the core group, `/apis/{group}/{version}/...` otherwise). */
export function collectionPath(group: string, version: string, plural: string, namespace?: string): string {
  const base = group === '' ? `/api/${version}` : `/apis/${group}/${version}`;
  return namespace ? `${base}/namespaces/${encodeURIComponent(namespace)}/${plural}` : `${base}/${plural}`;
}

export function objectPath(group: string, version: string, plural: string, namespace: string | undefined, name: string): string {
  return `${collectionPath(group, version, plural, namespace)}/${encodeURIComponent(name)}`;
}
