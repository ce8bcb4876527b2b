// The `edgetwin cloud` process, as one function the command and the tests' child both call: the
// CA, the join server (:10002), CloudHub (:10000), and /metrics and /healthz on loopback (:10080).
// Without Kubernetes no controller runs; edge messages go to the ReportLog in the state directory.
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import { hostname, networkInterfaces } from 'node:os';
import { collectDefaultMetrics, Registry } from 'prom-client';
import type { Logger } from '../../core/log.ts';
import { CertificateAuthority } from '../join/ca.ts';
import { IssuedNodes, Revocations } from '../join/revocation.ts';
import { createJoinServer } from '../join/server.ts';
import { DirCaStore, ensureStateDir } from '../join/store.ts';
import { isMembershipDetailRequest, membershipDetail, type MembershipDevice, type Message } from '../message/index.ts';
import { SqliteAckRecordStore } from './ack-store.ts';
import type { Offer } from './queue.ts';
import { ReportLog } from './report-log.ts';
import { CloudHub, type CloudHubSettings, type ServiceRequest, type ServiceResponse, type UpstreamHandler } from './server.ts';

export const CLOUD_DEFAULTS = {
  port: 10000,
  joinPort: 10002,
  httpPort: 10080,
  stateDir: './edgetwin-cloud',
  revocationPollMs: 2000,
} as const;

export interface CloudOptions {
  stateDir: string;
  /** Address CloudHub and the join server listen on; all interfaces when absent. */
  listen?: string;
  port?: number;
  joinPort?: number;
  httpPort?: number;
  /** Names and addresses in the server certificate; default: hostname, 127.0.0.1 and this machine's addresses. */
  advertise?: string[];
  settings?: Partial<CloudHubSettings>;
  /** How often the running cloud re-reads the revocation list `edgetwin cloud revoke` writes. */
  revocationPollMs?: number;
  /** Where Kubernetes is, if anywhere (--kubeconfig, KUBECONFIG, in-cluster). */
  kubernetes?: string;
  /**
   * The devices bound to a node, for an edge's `membership/detail` query after it reconnects.
   * Until the device controller exists (next issue) no device is bound to any node: empty.
   */
  membership?: (node: string) => MembershipDevice[];
  log: Logger;
}

export interface Cloud {
  hub: CloudHub;
  ca: CertificateAuthority;
  reports: ReportLog;
  ports: { cloudhub: number; join: number; http: number };
  send(node: string, msg: Message): Promise<Offer>;
  onUpstream(handler: UpstreamHandler): void;
  callService(node: string, req: ServiceRequest, timeoutMs?: number): Promise<ServiceResponse>;
  close(): Promise<void>;
}

export function defaultAdvertise(): string[] {
  const out = [hostname(), '127.0.0.1'];
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (!a.address.startsWith('fe80:')) out.push(a.address);
  }
  return [...new Set(out)];
}

export async function startCloud(opts: CloudOptions): Promise<Cloud> {
  const { log } = opts;
  await ensureStateDir(opts.stateDir);
  const store = new DirCaStore(opts.stateDir);
  const ca = await CertificateAuthority.loadOrCreate(store, { onCreate: (where) => log.info({ stateDir: where }, 'created a new CA') });
  const revocations = new Revocations(store);
  await revocations.reload();
  const issued = new IssuedNodes(store);
  await issued.load();
  const credentials = await ca.issueServerCert(opts.advertise?.length ? opts.advertise : defaultAdvertise());

  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const ackStore = new SqliteAckRecordStore(opts.stateDir);
  const reports = new ReportLog(opts.stateDir);
  const hub = new CloudHub({ ca, credentials, revocations, ackStore, registry, log, settings: opts.settings });
  hub.onUpstream(async (node, msg) => {
    // A query, not a report: answered from what the cloud knows of the node, and not logged.
    if (isMembershipDetailRequest(msg)) return membershipDetail(opts.membership?.(node) ?? []);
    await reports.store(node, msg);
    return undefined;
  });
  const join = createJoinServer({ ca, credentials, revocations, issued, log, connected: (n) => hub.isConnected(n) });
  const http = createHttpServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ status: 'ok', nodes: hub.connectedNodes().length }));
      return;
    }
    if (path === '/metrics') {
      registry.metrics().then((text) => {
        res.writeHead(200, { 'content-type': registry.contentType });
        res.end(text);
      }, (err: Error) => {
        res.writeHead(500);
        res.end(err.message);
      });
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('this server serves /metrics and /healthz\n');
  });

  const servers: Array<HttpServer | HttpsServer> = [];
  const closeAll = async () => {
    await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  };
  let ports;
  try {
    const cloudhubPort = await listen(hub.server, opts.port ?? CLOUD_DEFAULTS.port, opts.listen, 'CloudHub (--port)');
    servers.push(join, http);
    const joinPort = await listen(join, opts.joinPort ?? CLOUD_DEFAULTS.joinPort, opts.listen, 'join server (--join-port)');
    const httpPort = await listen(http, opts.httpPort ?? CLOUD_DEFAULTS.httpPort, '127.0.0.1', 'metrics server (--http-port)');
    ports = { cloudhub: cloudhubPort, join: joinPort, http: httpPort };
  } catch (err) {
    await hub.close();
    await closeAll();
    ackStore.close();
    reports.close();
    throw err;
  }

  const poll = setInterval(() => {
    revocations.reload().then((changed) => {
      if (!changed) return;
      log.info('revocation list changed');
      hub.enforceRevocations();
    }, (err: Error) => log.error({ err: err.message }, 'cannot read the revocation list'));
  }, opts.revocationPollMs ?? CLOUD_DEFAULTS.revocationPollMs);
  poll.unref();

  log.info({ ...ports, listen: opts.listen ?? 'all interfaces', stateDir: opts.stateDir, sans: credentials.sans, caHash: ca.hash }, 'cloud started');
  if (opts.kubernetes) log.warn({ kubernetes: opts.kubernetes }, 'Kubernetes is configured but this version runs no controller yet: the cloud-edge link runs alone');
  else log.info('no Kubernetes configuration (--kubeconfig, KUBECONFIG or in-cluster): no controller runs, the cloud-edge link runs alone and edge messages go to the report log');

  return {
    hub,
    ca,
    reports,
    ports,
    send: (node, msg) => hub.send(node, msg),
    onUpstream: (h) => hub.onUpstream(h),
    callService: (node, req, timeoutMs) => hub.callService(node, req, timeoutMs),
    async close() {
      clearInterval(poll);
      await hub.close();
      join.closeAllConnections();
      http.closeAllConnections();
      await closeAll();
      ackStore.close();
      reports.close();
    },
  };
}

function listen(server: HttpServer | HttpsServer, port: number, host: string | undefined, what: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => reject(new Error(`the ${what} cannot listen on ${host ?? '*'}:${port}: ${err.code === 'EADDRINUSE' ? 'the port is in use; pick another' : err.message}`));
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve((server.address() as { port: number }).port);
    });
  });
}
