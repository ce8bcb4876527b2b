// The Kubernetes API stand-in, for tests only: an in-memory kube-apiserver on 127.0.0.1 with
// TLS and bearer-token authentication, so clients (kubectl, python3-kubernetes,
// @kubernetes/client-node) reach it through a kubeconfig exactly as they reach a cluster.
// restart() keeps the objects (they would live in etcd) and loses the watch history and every
// open connection (they live in the apiserver process), so clients must re-list.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { silentLogger, type Logger } from '../../../core/log.ts';
import { makeServingCerts } from './certs.ts';
import { createHandler, WatchGate } from './handler.ts';
import { startNodeLifecycle } from './node-lifecycle.ts';
import { Registry } from './registry.ts';
import { Catalog } from './resources.ts';
import { Store } from './store.ts';

export interface KubeApiServerOptions {
  /** Port on 127.0.0.1; default: a free one below 32768, so no outgoing connection takes it during restart(). */
  port?: number;
  token?: string;
  /** How many events the watch history keeps; older resourceVersions get 410 Gone. Default 10,000. */
  historyLimit?: number;
  /** How long a node's lease may lapse before it goes NotReady (Unknown). Default 40 s. */
  leaseGraceMs?: number;
  /** How often watches with allowWatchBookmarks get a BOOKMARK. Default 60 s. */
  bookmarkIntervalMs?: number;
  log?: Logger;
}

export interface KubeApiServer {
  url: string;
  port: number;
  caPem: string;
  token: string;
  kubeconfigPath: string;
  store: Store;
  registry: Registry;
  /** Stops and starts the server on the same port: watch history and connections are lost, objects kept. */
  restart(): Promise<void>;
  stop(): Promise<void>;
  /** Ends every open watch and holds new ones until releaseWatches(), so a test can make clients fall behind. */
  holdWatches(): void;
  releaseWatches(): void;
}

export function kubeconfigYaml(url: string, caPem: string, token: string): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'kube-standin', cluster: { server: url, 'certificate-authority-data': Buffer.from(caPem).toString('base64') } }],
    users: [{ name: 'kube-standin-admin', user: { token } }],
    contexts: [{ name: 'kube-standin', context: { cluster: 'kube-standin', user: 'kube-standin-admin', namespace: 'default' } }],
    'current-context': 'kube-standin',
  });
}

export async function startKubeApiServer(opts: KubeApiServerOptions = {}): Promise<KubeApiServer> {
  const log = opts.log ?? silentLogger;
  const token = opts.token ?? randomBytes(24).toString('hex');
  const certs = makeServingCerts();
  const store = new Store(opts.historyLimit ?? 10_000);
  const registry = new Registry(store, new Catalog());
  const gate = new WatchGate();
  let port = opts.port ?? 0;
  const chosen = opts.port !== undefined;
  const handler = createHandler(registry, {
    token, log, bookmarkIntervalMs: opts.bookmarkIntervalMs ?? 60_000, serverAddress: () => `127.0.0.1:${port}`,
  }, gate);
  let server: Server | undefined;

  const listenOn = async (p: number) => {
    const s = createServer({ cert: certs.certPem, key: certs.keyPem }, (req, res) => void handler(req, res));
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.listen(p, '127.0.0.1', () => resolve());
    });
    port = (s.address() as { port: number }).port;
    server = s;
  };
  // Ports from 32768 up are the kernel's for outgoing connections: one of those could take the
  // stand-in's port while restart() has it closed. So an unchosen port comes from below.
  const listen = async () => {
    if (chosen || server !== undefined || port !== 0) return listenOn(port);
    for (let attempt = 0; ; attempt++) {
      try {
        return await listenOn(20_000 + Math.floor(Math.random() * 12_768));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt >= 50) throw err;
      }
    }
  };
  const close = async () => {
    const s = server;
    server = undefined;
    if (!s) return;
    const closed = new Promise<void>((resolve) => s.close(() => resolve()));
    s.closeAllConnections();
    await closed;
  };

  await listen();
  const stopLifecycle = startNodeLifecycle(registry, opts.leaseGraceMs ?? 40_000);
  const dir = mkdtempSync(join(tmpdir(), 'kube-standin-'));
  const url = `https://127.0.0.1:${port}`;
  const kubeconfigPath = join(dir, 'kubeconfig');
  writeFileSync(kubeconfigPath, kubeconfigYaml(url, certs.caPem, token), { mode: 0o600 });
  log.info({ url, kubeconfigPath }, 'kube-apiserver stand-in listening');

  return {
    url, port, caPem: certs.caPem, token, kubeconfigPath, store, registry,
    async restart() {
      await close();
      store.forgetHistory();
      await listen();
    },
    async stop() {
      stopLifecycle();
      gate.release();
      await close();
      rmSync(dir, { recursive: true, force: true });
    },
    holdWatches() {
      gate.hold();
      server?.closeAllConnections();
    },
    releaseWatches() {
      gate.release();
    },
  };
}


