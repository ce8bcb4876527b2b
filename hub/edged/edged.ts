// Edged: the gateway's pod runtime. Connects to containerd's CRI socket, writes the CNI config
// of edgetwin's pod bridge, and runs the pod manager against a pod source. A containerd that is
// missing or down is a warning and a retry, never an exit: the devices keep running.

import { existsSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import type { Registry } from 'prom-client';
import type { Logger } from '../../core/log.ts';
import type { ScopedCredentials } from '../../twin/scoped-credentials.ts';
import { connectCri, type Cri } from './cri/client.ts';
import { bridgeAddress, CONFLIST_NAME, shadowingConfigs, validatePodNetwork, writeConflist } from './cni.ts';
import { CA_PATH, PodCredentials, TOKEN_PATH } from './credentials.ts';
import { PodManager } from './manager.ts';
import { hostAddress } from './node-presence.ts';
import type { PodStatus } from './pod.ts';
import type { PodSource, RuntimeView, StatusSink } from './source.ts';

export interface EdgedConfig {
  /** containerd's CRI endpoint, unix:///run/containerd/containerd.sock by default. */
  containerd: string;
  /** Where the CNI plugins are (Debian: /usr/lib/cni); checked so a missing package is named. */
  cniBinDir: string;
  /** Where containerd's CRI plugin reads CNI configs (containerd's default: /etc/cni/net.d). */
  cniConfDir: string;
  bridge: string;
  podCidr: string;
  dataDir: string;
  nodeName: string;
  syncIntervalMs?: number;
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  runtimeRetryMs?: number;
  extraEnv?: Record<string, string>;
  registry?: Registry;
  /**
   * The gateway's own listeners (the local API, the embedded broker), as the gateway reaches them.
   * Pods get EDGETWIN_API_URL / EDGETWIN_MQTT_URL pointing at them: on the bridge address, or on
   * loopback for hostNetwork pods. No `mqtt`: the gateway uses an external broker; pods get no MQTT URL.
   * `caFile`: when a URL is https or mqtts, the certificates to trust for it (a file on this host), mounted
   * read-only at /var/run/edgetwin/ca.crt and named by EDGETWIN_CA_FILE.
   */
  gateway?: { api: string; mqtt?: string; caFile?: string };
  /** Where per-pod tokens are registered; none: pods get no token. */
  credentials?: ScopedCredentials;
}

export interface PodView {
  namespace: string;
  name: string;
  uid: string;
  nodeName: string;
  status?: PodStatus;
}

export interface Edged {
  pods(): PodView[];
  runtime(): RuntimeView;
  /** The images containerd holds (for the node status), largest first, at most 50 as the kubelet reports. */
  images(): Promise<Array<{ names: string[]; sizeBytes: number }>>;
  /** The folder of a pod's CRI log files, or undefined when the pod is not on this gateway. */
  logDirectory(namespace: string, name: string): string | undefined;
  close(): Promise<void>;
}

export { hostAddress } from './node-presence.ts';

export async function startEdged(cfg: EdgedConfig, source: PodSource, log: Logger, downstream?: StatusSink): Promise<Edged> {
  const problem = validatePodNetwork(cfg);
  if (problem) throw new Error(`${problem} (see docs/edged.md)`);
  const missing = ['bridge', 'host-local', 'loopback'].filter((p) => !existsSync(join(cfg.cniBinDir, p)));
  if (missing.length > 0) {
    log.warn({ cniBinDir: cfg.cniBinDir, missing }, `CNI plugins ${missing.join(', ')} are not in ${cfg.cniBinDir}: pods without hostNetwork cannot start (apt install containernetworking-plugins, or set edged.cniBinDir)`);
  }
  // Written when containerd first answers (before any pod sandbox is asked for), not before: a
  // gateway with no containerd (a cloud-linked one turns edged on by default) leaves the host's
  // CNI folder alone.
  let networkWritten = false;
  const writeNetwork = () => {
    networkWritten = true;
    try {
      writeConflist({ bridge: cfg.bridge, podCidr: cfg.podCidr, confDir: cfg.cniConfDir, ipamDir: join(cfg.dataDir, 'edged', 'ipam') });
    } catch (err) {
      log.warn({ cniConfDir: cfg.cniConfDir, error: (err as Error).message }, 'cannot write the CNI config for the pod bridge: pods without hostNetwork cannot start (check edged.cniConfDir)');
    }
    const shadows = shadowingConfigs(cfg.cniConfDir);
    if (shadows.length > 0) {
      log.warn({ cniConfDir: cfg.cniConfDir, configs: shadows }, `containerd uses the first CNI config by name, and ${shadows[0]} comes before ${CONFLIST_NAME}: pods join that network, not ${cfg.bridge} (remove it, or rename it after ${CONFLIST_NAME})`);
    }
  };
  const cri: Cri = await connectCri(cfg.containerd);
  let runtime: RuntimeView = { reachable: false, endpoint: cfg.containerd, message: 'not contacted yet' };
  const sink: StatusSink = {
    podStatus(pod, status, patch) {
      downstream?.podStatus(pod, status, patch);
    },
    podRemoved(pod) {
      downstream?.podRemoved(pod);
    },
    runtime(view) {
      if (view.reachable && !networkWritten) writeNetwork();
      runtime = view;
      downstream?.runtime(view);
    },
  };
  const manager = new PodManager({
    cri,
    source,
    sink,
    dataDir: cfg.dataDir,
    nodeName: cfg.nodeName,
    hostIP: hostAddress(),
    log: log.child({ component: 'edged' }),
    syncIntervalMs: cfg.syncIntervalMs,
    backoffBaseMs: cfg.backoffBaseMs,
    backoffMaxMs: cfg.backoffMaxMs,
    runtimeRetryMs: cfg.runtimeRetryMs,
    extraEnv: cfg.extraEnv,
    podEnv: cfg.gateway ? podEnv(cfg.gateway, bridgeAddress(cfg.podCidr), Boolean(cfg.credentials)) : undefined,
    credentials: cfg.credentials ? new PodCredentials(cfg.dataDir, cfg.credentials) : undefined,
    caFile: cfg.gateway?.caFile,
    registry: cfg.registry,
  });
  manager.start();
  return {
    pods: () => manager.list(),
    runtime: () => runtime,
    async images() {
      const list = await cri.images.listImages();
      return list
        .map((i) => ({ names: [...i.repoDigests, ...i.repoTags], sizeBytes: Number(i.size) }))
        .filter((i) => i.names.length > 0)
        .sort((a, b) => b.sizeBytes - a.sizeBytes)
        .slice(0, 50);
    },
    logDirectory(namespace, name) {
      const p = manager.list().find((x) => x.namespace === namespace && x.name === name);
      return p ? manager.logDirectory(namespace, name, p.uid) : undefined;
    },
    async close() {
      await manager.close();
      cri.close();
    },
  };
}

/** The gateway's URLs as a pod sees them: on the bridge address, or on loopback for a hostNetwork pod. */
export function podEnv(gateway: { api: string; mqtt?: string; caFile?: string }, bridgeIp: string, withToken: boolean): (hostNetwork: boolean) => Record<string, string> {
  const at = (url: string, hostNetwork: boolean) => {
    const u = new URL(url);
    const bound = u.hostname.replace(/^\[|\]$/g, '');
    // A hostNetwork pod shares the host's loopback; a listener bound to a single other address stays where it is.
    const loopbackOrAny = ['0.0.0.0', '::', 'localhost', '::1'].includes(bound) || bound.startsWith('127.');
    u.hostname = hostNetwork ? (loopbackOrAny ? '127.0.0.1' : u.hostname) : bridgeIp;
    return u.toString().replace(/\/$/, '');
  };
  return (hostNetwork) => ({
    EDGETWIN_API_URL: at(gateway.api, hostNetwork),
    ...(gateway.mqtt ? { EDGETWIN_MQTT_URL: at(gateway.mqtt, hostNetwork) } : {}),
    ...(withToken ? { EDGETWIN_TOKEN_FILE: TOKEN_PATH } : {}),
    ...(gateway.caFile ? { EDGETWIN_CA_FILE: CA_PATH } : {}),
  });
}

/** The address pods reach the gateway on, once the bridge carries it (CNI makes the bridge with the first pod). */
export function podBridgeAddress(podCidr: string): string {
  return bridgeAddress(podCidr);
}

/**
 * Calls `up` once `address` is on one of this host's interfaces, checking every `intervalMs`;
 * a failing `up` is tried again on the next check. The bridge appears only when containerd's CNI
 * call makes it for the first pod, so the gateway cannot bind there at start.
 */
export function whenAddressUp(address: string, intervalMs: number, up: () => Promise<void>, onError: (err: Error) => void): { stop(): void } {
  let done = false;
  let busy = false;
  const present = () => Object.values(networkInterfaces()).some((list) => (list ?? []).some((a) => a.address === address));
  const check = () => {
    if (done || busy || !present()) return;
    busy = true;
    up().then(
      () => {
        done = true;
        clearInterval(timer);
      },
      (err: Error) => onError(err),
    ).finally(() => {
      busy = false;
    });
  };
  const timer = setInterval(check, intervalMs);
  timer.unref();
  check();
  return {
    stop() {
      done = true;
      clearInterval(timer);
    },
  };
}
