// The local API on the pod bridge: a second, plain node server on the same fastify app, open only
// to the pod CIDR, whose requests pass a guard that takes no anonymous caller.
import type { FastifyInstance } from 'fastify';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Logger } from '../core/log.ts';
import { RequestGuard } from './http-guard.ts';
import { insideCidr } from './pod-cidr.ts';
import type { ScopedCredentials } from './scoped-credentials.ts';

export interface BridgeListenerOptions {
  app: FastifyInstance;
  /** The guard of each request that came in on a bridge listener, read by the API's hooks. */
  bridged: WeakMap<IncomingMessage, RequestGuard>;
  port: number;
  token?: string;
  scoped?: ScopedCredentials;
  allowedHosts?: readonly string[];
  log: Logger;
}

export const plainUrlOf = (h: string, port: number) => `http://${h.includes(':') ? `[${h}]` : h}:${port}`;

/** Listens on `bridgeHost` at the API's port for connections from `podCidr`; others are closed unanswered. */
export async function listenOnBridge(o: BridgeListenerOptions, bridgeHost: string, podCidr: string): Promise<Server> {
  const { app, bridged, port, log } = o;
  const fromPod = insideCidr(podCidr);
  const bridgeUrl = plainUrlOf(bridgeHost, port);
  const bridgeGuard = new RequestGuard({ bindHost: bridgeHost, port, scheme: 'http', allowedHosts: o.allowedHosts, token: o.token, allowedHostsSetting: 'api.allowedHosts', scoped: o.scoped, credentialRequired: true });
  // A second node server on the same app: fastify's router serves its requests, through the same hooks.
  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
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
  log.info({ url: bridgeUrl, podCidr, auth: o.token ? 'bearer token or pod credential' : 'pod credential' }, 'local API listening for pods (plain HTTP, pod CIDR only)');
  return s;
}
