// The controllers of `edgetwin cloud` when Kubernetes is configured. This directory is the only
// place that imports @kubernetes/client-node; hub/cloudhub loads it with a dynamic import, so an
// edge process (and a cloud without Kubernetes) never loads the client.
import type { Registry } from 'prom-client';
import type { Logger } from '../../core/log.ts';
import type { Offer } from '../cloudhub/queue.ts';
import type { Message } from '../message/index.ts';
import { CONTROLLERS, type ControllersConfig } from './all.ts';
import { UpstreamDispatch } from './dispatch.ts';
import { loadKube, type KubeClient, type KubeSource } from './kube.ts';

export { UpstreamDispatch } from './dispatch.ts';
export type { UpstreamRoute } from './dispatch.ts';
export type { ControllersConfig } from './all.ts';

/** What a controller needs of CloudHub (the node sessions and queues). */
export interface CloudLink {
  send(node: string, msg: Message): Promise<Offer>;
  isConnected(node: string): boolean;
  connectedNodes(): string[];
  onConnection(handler: (node: string, connected: boolean) => void): void;
}

export interface ControllerContext {
  kube: KubeClient;
  link: CloudLink;
  dispatch: UpstreamDispatch;
  /** The cloud's own namespace (its CA Secret lives there); default `edgetwin`. */
  namespace: string;
  config: ControllersConfig;
  registry: Registry;
  log: Logger;
}

export interface Controller {
  readonly name: string;
  /** Resolves once its informers listed (a failing API is retried in the background). */
  start(): Promise<void>;
  stop(): Promise<void>;
}

export type ControllerFactory = (ctx: ControllerContext) => Controller;

export interface Controllers {
  dispatch: UpstreamDispatch;
  list: Controller[];
  stop(): Promise<void>;
}

export interface KubernetesConnection {
  kube: KubeClient;
  namespace: string;
  startControllers(link: CloudLink, registry: Registry, config?: ControllersConfig, factories?: ControllerFactory[]): Promise<Controllers>;
}

export const DEFAULT_NAMESPACE = 'edgetwin';

/** Reads the configuration (no request yet): throws a message naming the kubeconfig when it is unusable. */
export function connectKubernetes(source: KubeSource, opts: { namespace?: string; log: Logger }): KubernetesConnection {
  const kube = loadKube(source);
  const namespace = opts.namespace ?? DEFAULT_NAMESPACE;
  return {
    kube,
    namespace,
    async startControllers(link, registry, config = {}, factories = CONTROLLERS) {
      const dispatch = new UpstreamDispatch();
      const ctx: ControllerContext = { kube, link, dispatch, namespace, config, registry, log: opts.log };
      const list = factories.map((f) => f(ctx));
      const started: Controller[] = [];
      for (const c of list) {
        await c.start();
        started.push(c);
        opts.log.info({ controller: c.name }, 'controller started');
      }
      return {
        dispatch,
        list,
        async stop() {
          for (const c of started.reverse()) await c.stop();
        },
      };
    },
  };
}
