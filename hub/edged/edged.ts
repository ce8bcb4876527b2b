// Edged: the gateway's pod runtime. Connects to containerd's CRI socket, writes the CNI config
// of edgetwin's pod bridge, and runs the pod manager against a pod source. A containerd that is
// missing or down is a warning and a retry, never an exit: the devices keep running.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Registry } from 'prom-client';
import type { Logger } from '../../core/log.ts';
import { connectCri, type Cri } from './cri/client.ts';
import { CONFLIST_NAME, shadowingConfigs, validatePodNetwork, writeConflist } from './cni.ts';
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
