// The `edgetwin cloud` process, as one function the command and the tests' child both call: the
// CA, the join server (:10002), CloudHub (:10000), and /metrics, /healthz and the fleet view on
// loopback (:10080), or beyond it over HTTPS with a certificate of the cloud's CA and a token.
// With Kubernetes the controllers run (hub/controllers, loaded by a dynamic import), the CA lives in
// Secret edgetwin-ca and the ACK record in ObjectSync objects; without it no controller runs and
// edge messages go to the ReportLog in the state directory (as do those no controller claims).
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { hostname, networkInterfaces } from 'node:os';
import { collectDefaultMetrics, Registry } from 'prom-client';
import type { Logger } from '../../core/log.ts';
import { CertificateAuthority } from '../join/ca.ts';
import { IssuedNodes, Revocations } from '../join/revocation.ts';
import { createJoinServer } from '../join/server.ts';
import { DirCaStore, ensureStateDir } from '../join/store.ts';
import { isMembershipDetailRequest, membershipDetail, type MembershipDevice, type Message } from '../message/index.ts';
import { SqliteAckRecordStore, type AckRecordStore } from './ack-store.ts';
import type { Offer } from './queue.ts';
import { exposureProblem, isLoopback, RequestGuard } from '../../twin/http-guard.ts';
import { Fleet, ReportedDeviceStates, type DeviceStateSource } from './fleet.ts';
import { defaultFleetPage, fleetHttp, refusal } from './fleet-http.ts';
import { ReportLog } from './report-log.ts';
import type { Controllers, ControllersConfig } from '../controllers/index.ts';
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
  /**
   * Address of the /metrics, /healthz and fleet view listener (default 127.0.0.1); beyond loopback it
   * needs httpToken and serves HTTPS with a certificate of the cloud's CA (for `advertise` and this address).
   */
  httpListen?: string;
  /** The bearer token (or session cookie) the fleet view asks for. */
  httpToken?: string;
  /** Host names the fleet view answers to besides its own address (a DNS rebinding guard). */
  httpAllowedHosts?: string[];
  /** The built fleet page; default dist/fleet of this package. */
  fleetPageDir?: string;
  /** How often the fleet view's event stream looks for changes (ms, default 1000). */
  fleetPushMs?: number;
  /**
   * Where the fleet view learns devices and their states. Default: the edges' reports
   * (ReportedDeviceStates); the controllers' DeviceStatus plugs in here when Kubernetes is configured.
   */
  deviceStates?: DeviceStateSource;
  /** Names and addresses in the server certificate; default: hostname, 127.0.0.1 and this machine's addresses. */
  advertise?: string[];
  settings?: Partial<CloudHubSettings>;
  /** How often the running cloud re-reads the revocation list `edgetwin cloud revoke` writes. */
  revocationPollMs?: number;
  /** Where Kubernetes is, if anywhere (--kubeconfig, KUBECONFIG, in-cluster). */
  kubernetes?: string;
  /** The cloud's namespace in Kubernetes (default `edgetwin`). */
  namespace?: string;
  /** Settings of the controllers, by section (`devices`, ...). */
  controllers?: ControllersConfig;
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
  fleet: Fleet;
  /** The running controllers; absent without Kubernetes. */
  controllers?: Controllers;
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
  const httpHost = opts.httpListen ?? '127.0.0.1';
  const exposed = exposureProblem(httpHost, { token: opts.httpToken });
  if (exposed) throw new Error(`the metrics and fleet view server (--http-listen) ${exposed}: give it a token (--http-token-file) or keep it on 127.0.0.1`);
  await ensureStateDir(opts.stateDir);
  // Loaded only when Kubernetes is configured: @kubernetes/client-node stays out of every other process.
  const kubernetes = opts.kubernetes
    ? (await import('../controllers/index.ts')).connectKubernetes(opts.kubernetes, { namespace: opts.namespace, log })
    : undefined;
  const store = kubernetes ? kubernetes.caStore() : new DirCaStore(opts.stateDir);
  const ca = await CertificateAuthority.loadOrCreate(store, { onCreate: (where) => log.info({ where }, 'created a new CA') });
  const revocations = new Revocations(store);
  await revocations.reload();
  const issued = new IssuedNodes(store);
  await issued.load();
  const advertise = opts.advertise?.length ? opts.advertise : defaultAdvertise();
  const credentials = await ca.issueServerCert(advertise);
  // Beyond loopback the fleet listener serves HTTPS, always: its token must not cross the network in clear.
  const fleetTls = isLoopback(httpHost)
    ? undefined
    : await ca.issueServerCert(['', '0.0.0.0', '::', '[::]'].includes(httpHost) ? advertise : [...advertise, httpHost.replace(/^\[|\]$/g, '')]);

  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  // With Kubernetes the ACK record is KubeEdge's: ObjectSync objects (read in full before CloudHub starts).
  const ackStore: AckRecordStore = kubernetes ? await kubernetes.ackStore() : new SqliteAckRecordStore(opts.stateDir);
  const reports = new ReportLog(opts.stateDir);
  const hub = new CloudHub({ ca, credentials, revocations, ackStore, registry, log, settings: opts.settings });
  const reported = opts.deviceStates ? undefined : new ReportedDeviceStates(reports.latest());
  let controllers: Controllers | undefined;
  hub.onUpstream(async (node, msg) => {
    if (controllers && (await controllers.dispatch.dispatch(node, msg))) return;
    // A query, not a report: answered from what the cloud knows of the node, and not logged.
    if (isMembershipDetailRequest(msg)) return membershipDetail(opts.membership?.(node) ?? []);
    await reports.store(node, msg);
    reported?.apply({ node, resource: msg.route.resource, content: msg.content, at: Date.now() });
    return undefined;
  });
  const fleet = new Fleet({ hub, devices: opts.deviceStates ?? reported!, joinedNodes: () => issued.nodes() });
  // Built at the first request: the guard needs the port the listener got.
  let guard: RequestGuard | undefined;
  const guardOf = () => (guard ??= new RequestGuard({
    bindHost: httpHost, port: (http.address() as { port: number }).port, scheme: fleetTls ? 'https' : 'http', token: opts.httpToken,
    allowedHosts: opts.httpAllowedHosts, allowedHostsSetting: '--http-allowed-hosts',
  }));
  const fleetRoutes = fleetHttp({ fleet, pageDir: opts.fleetPageDir ?? defaultFleetPage(), pushMs: opts.fleetPushMs, guard: guardOf });
  const join = createJoinServer({ ca, credentials, revocations, issued, log, connected: (n) => hub.isConnected(n) });
  const serve = (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const refused = path === '/healthz' || path === '/metrics' ? refusal(guardOf(), req, path) : undefined;
    if (refused) {
      res.writeHead(refused.status, { 'content-type': 'application/json; charset=utf-8', ...refused.headers });
      res.end(JSON.stringify({ code: refused.code, message: refused.message }));
      return;
    }
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
    if (fleetRoutes(req, res)) return;
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('this server serves the fleet view at /, /api/v1/fleet, /metrics and /healthz\n');
  };
  const http: HttpServer | HttpsServer = fleetTls ? createHttpsServer({ cert: fleetTls.certPem, key: fleetTls.keyPem }, serve) : createHttpServer(serve);

  const servers: Array<HttpServer | HttpsServer> = [];
  const closeAll = async () => {
    await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  };
  let ports;
  try {
    const cloudhubPort = await listen(hub.server, opts.port ?? CLOUD_DEFAULTS.port, opts.listen, 'CloudHub (--port)');
    servers.push(join, http);
    const joinPort = await listen(join, opts.joinPort ?? CLOUD_DEFAULTS.joinPort, opts.listen, 'join server (--join-port)');
    const httpPort = await listen(http, opts.httpPort ?? CLOUD_DEFAULTS.httpPort, httpHost, 'metrics and fleet view server (--http-port)');
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

  if (kubernetes) {
    try {
      controllers = await kubernetes.startControllers({ link: hub, acks: ackStore, registry, config: opts.controllers ?? {} });
    } catch (err) {
      clearInterval(poll);
      await hub.close();
      await closeAll();
      ackStore.close();
      reports.close();
      throw err;
    }
  }

  log.info({ ...ports, listen: opts.listen ?? 'all interfaces', stateDir: opts.stateDir, sans: credentials.sans, caHash: ca.hash }, 'cloud started');
  if (fleetTls) {
    log.info(
      { url: `https://${httpHost.includes(':') ? `[${httpHost}]` : httpHost}:${ports.http}`, sans: fleetTls.sans, caHash: ca.hash },
      `the fleet view, /metrics and /healthz serve HTTPS with a certificate of the cloud's CA: trust that CA, served by the join server at /ca.crt on port ${ports.join} in DER (check its sha256 against caHash; openssl x509 -inform der -in ca.crt -out ca.pem; curl --cacert ca.pem)`,
    );
  }
  if (kubernetes) log.info({ kubernetes: opts.kubernetes, server: kubernetes.kube.server, namespace: kubernetes.namespace, controllers: controllers?.list.map((c) => c.name) }, 'controllers running against Kubernetes');
  else log.info('no Kubernetes configuration (--kubeconfig, KUBECONFIG or in-cluster): no controller runs, the cloud-edge link runs alone and edge messages go to the report log');

  return {
    hub,
    ca,
    reports,
    fleet,
    ...(controllers ? { controllers } : {}),
    ports,
    send: (node, msg) => hub.send(node, msg),
    onUpstream: (h) => hub.onUpstream(h),
    callService: (node, req, timeoutMs) => hub.callService(node, req, timeoutMs),
    async close() {
      clearInterval(poll);
      await controllers?.stop();
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
