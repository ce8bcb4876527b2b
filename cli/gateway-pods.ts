// The gateway as a node of the cluster: edged's pods (from MetaManager when cloud-linked, else the
// --pods files), the broker and API listening on the pod bridge for them (plain, open to the pod
// CIDR only: docs/security.md), and the Node's presence (register, status, lease). Split from the
// composition root; it loads only when edged or the cloud is on.

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Registry } from 'prom-client';
import type { Logger } from '../core/log.ts';
import type { EdgeLink } from '../hub/edge.ts';
import type { PodSource, StatusSink } from '../hub/edged/source.ts';
import type { LocalApi } from '../twin/api.ts';
import type { EmbeddedBroker } from '../twin/broker.ts';
import type { Health } from '../twin/health.ts';
import type { ScopedCredentials } from '../twin/scoped-credentials.ts';
import type { GatewayConfig } from './config.ts';
import { edgetwinVersion } from './version.ts';

export type GatewayPods = Awaited<ReturnType<typeof startPods>>;

export interface NodeParts {
  config: GatewayConfig;
  log: Logger;
  registry: Registry;
  cloud: EdgeLink | undefined;
  api: LocalApi;
  embedded: EmbeddedBroker | undefined;
  scoped: ScopedCredentials | undefined;
  health: Health;
  /** Shutdown steps, run in reverse order by the gateway. */
  cleanup: (() => Promise<void> | void)[];
}

/** Starts edged (when enabled) and the Node presence (when cloud-linked); returns edged's handle. */
export async function startGatewayNode({ config, log, registry, cloud, api, embedded, scoped, health, cleanup }: NodeParts): Promise<GatewayPods | undefined> {
  // The pod runtime and its gRPC stack load only when edged is on, after the listeners are bound.
  // Cloud-linked, its pods come from MetaManager (so they run again offline) and statuses go up the link.
  const bridgeIp = config.edged.enabled ? (await import('../hub/edged/edged.ts')).podBridgeAddress(config.edged.podCidr) : '';
  // Pods are told the listeners they may reach: the plain bridge ones, or the main ones where those take the bridge address too.
  const urls = config.edged.enabled ? { api: api.podUrl(bridgeIp), mqtt: embedded?.podUrl(bridgeIp) } : undefined;
  const caFile = urls ? podTrust(config, urls, api, embedded, log) : undefined;
  const edged = urls ? await startPods(config, log, registry, cloud, { ...urls, caFile }, scoped) : undefined;
  if (edged) {
    const pods = edged;
    cleanup.push(() => pods.close());
    // The broker and the API also listen on the pod bridge's address, once CNI has made the bridge.
    const { whenAddressUp } = await import('../hub/edged/edged.ts');
    const podCidr = config.edged.podCidr;
    const opened: { close(): Promise<void> }[] = [];
    let apiOpen = false;
    let brokerOpen = !embedded;
    const watch = whenAddressUp(
      bridgeIp,
      config.edged.bridgeCheckMs ?? 1000,
      async () => {
        if (!apiOpen) opened.push(await api.addListener(bridgeIp, podCidr));
        apiOpen = true;
        if (!brokerOpen) opened.push(await embedded!.addListener(bridgeIp, podCidr));
        brokerOpen = true;
      },
      (err) => log.warn({ address: bridgeIp, error: err.message }, 'cannot listen on the pod bridge yet; trying again'),
    );
    cleanup.push(async () => {
      watch.stop();
      await Promise.all(opened.map((l) => l.close()));
    });
    // No container runtime is a node condition, not a gateway fault: devices keep running.
    health.add('pods', () => (pods.runtime().reachable ? undefined : `containerd is not reachable at ${config.edged.containerd}; pods wait for it`), { degrades: false });
  }
  if (cloud && config.cloud) {
    // The gateway is a Node of the cluster, with or without pods.
    const { NodePresence, hostAddress } = await import('../hub/edged/node-presence.ts');
    const pods = edged;
    const presence = new NodePresence({
      nodeName: config.nodeName,
      version: edgetwinVersion(),
      uplink: cloud.upstream,
      log: log.child({ component: 'node' }),
      dataDir: config.dataDir,
      address: hostAddress(),
      runtime: pods ? { view: () => pods.runtime(), images: () => pods.images() } : undefined,
      statusIntervalMs: config.cloud.node?.statusMs,
      reportIntervalMs: config.cloud.node?.reportMs,
      leaseIntervalMs: config.cloud.node?.leaseMs,
    });
    await presence.start();
    cloud.on('connected', () => presence.refresh());
    cleanup.push(() => presence.stop());
  }
  return edged;
}

/**
 * When pods are sent to a TLS listener (the API or broker bound to every address), the certificates
 * they must trust: the gateway's self-signed ones, gathered in {dataDir}/tls/pods-ca.crt, which edged
 * mounts at /var/run/edgetwin/ca.crt. A certificate of the user's own (api.tls, broker.tls) is signed
 * by a CA edgetwin does not hold: the user gives pods that CA (a Secret volume), as the log says.
 */
function podTrust(config: GatewayConfig, urls: { api: string; mqtt?: string }, api: LocalApi, embedded: EmbeddedBroker | undefined, log: Logger): string | undefined {
  const overTls = [
    { url: urls.api, tls: urls.api.startsWith('https:'), certFile: api.certFile, setting: 'api.tls' },
    { url: urls.mqtt, tls: urls.mqtt?.startsWith('mqtts:') ?? false, certFile: embedded?.certFile, setting: 'broker.tls' },
  ].filter((l) => l.tls);
  for (const l of overTls.filter((x) => !x.certFile)) {
    log.info({ url: l.url }, `pods reach ${l.url} over TLS with the certificate of ${l.setting}: give them the CA that signed it (for example a Secret volume) and point their clients at it`);
  }
  const pems = overTls.flatMap((l) => (l.certFile ? [readFileSync(l.certFile, 'utf8').trim()] : []));
  if (pems.length === 0) return undefined;
  const dir = join(config.dataDir, 'tls');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, 'pods-ca.crt');
  // Certificates only (public): pods read it through a read-only bind mount.
  writeFileSync(file, `${pems.join('\n')}\n`, { mode: 0o644 });
  return file;
}

/** Pods run on containerd: the cloud's (from MetaManager) when linked, else the --pods files. */
async function startPods(config: GatewayConfig, log: Logger, registry: Registry, cloud: EdgeLink | undefined, gateway: { api: string; mqtt?: string; caFile?: string }, credentials: ScopedCredentials | undefined) {
  const { startEdged } = await import('../hub/edged/edged.ts');
  let source: PodSource;
  let sink: StatusSink | undefined;
  let report = () => {};
  if (cloud) {
    const { MetaPodSource, LinkStatusSink } = await import('../hub/edged/meta-source.ts');
    if (config.edged.pods.length > 0) log.warn({ pods: config.edged.pods }, 'edged runs the pods the cloud assigns to this node; the --pods files are not read on a cloud-linked gateway');
    source = new MetaPodSource(cloud.meta, config.nodeName);
    sink = new LinkStatusSink(cloud.upstream);
    log.info({ pods: source.pods().length }, 'pods from MetaManager (the copy of what the cloud sent)');
  } else {
    const { DirPodSource } = await import('../hub/edged/source.ts');
    const dir = new DirPodSource(config.edged.pods);
    source = dir;
    report = () => {
      for (const p of dir.reload()) log.warn({ file: p.file, line: p.line }, `${p.file}${p.line ? `:${p.line}` : ''}: ${p.message}`);
      log.info({ pods: dir.pods().length }, 'pods loaded');
    };
    report();
  }
  const edged = await startEdged(
    {
      containerd: config.edged.containerd,
      cniBinDir: config.edged.cniBinDir,
      cniConfDir: config.edged.cniConfDir,
      bridge: config.edged.bridge,
      podCidr: config.edged.podCidr,
      dataDir: config.dataDir,
      nodeName: config.nodeName,
      syncIntervalMs: config.edged.syncIntervalMs,
      backoffBaseMs: config.edged.backoffBaseMs,
      registry,
      gateway,
      credentials,
    },
    source,
    log,
    sink,
  );
  return { ...edged, reload: report };
}
