// Pod sandboxes: one ready sandbox per pod (adopted when it still runs, made again when it died or
// its network settings changed), and the teardown of a pod's containers and sandboxes with its grace.

import type { Logger } from '../../core/log.ts';
import { GrpcCallError } from '../grpc-unix.ts';
import type { PodSandbox, PodSandboxConfig, RuntimeClient } from './cri/client.ts';
import { sandboxHash } from './pod.ts';
import { GRACE_ANNOTATION, LABEL, nowIso, nsToIso, type Snapshot, type Worker } from './pod-worker.ts';

export interface SandboxDeps {
  runtime: RuntimeClient;
  log: Logger;
  nodeName: string;
  hostIP: string;
  /** Where the CRI log files of a pod's containers go. */
  logDirectory(namespace: string, name: string, uid: string): string;
}

/** Stops every container of the sandboxes (SIGTERM, SIGKILL after `grace` s), then the sandboxes. */
export async function teardown(rt: RuntimeClient, log: Logger, uid: string, grace: number, sandboxes: PodSandbox[]): Promise<void> {
  const containers = await rt.listContainers({ labelSelector: { [LABEL.uid]: uid } });
  await Promise.all(containers.filter((c) => c.state === 'CONTAINER_RUNNING').map((c) => rt.stopContainer(c.id, grace).catch((err) => log.warn({ err, container: c.id }, 'stopping a container failed'))));
  for (const c of containers) await rt.removeContainer(c.id).catch((err) => log.warn({ err, container: c.id }, 'removing a container failed'));
  for (const sb of sandboxes) {
    await rt.stopPodSandbox(sb.id);
    await rt.removePodSandbox(sb.id);
  }
}

/** A ready sandbox for the pod (adopted, or created now). False with w.sandboxError when not. */
export async function ensureSandbox(d: SandboxDeps, w: Worker, snap: Snapshot | undefined): Promise<boolean> {
  const rt = d.runtime;
  const pod = w.pod;
  const want = sandboxHash(pod);
  const config = sandboxConfig(d, w);
  const existing = snap ? snap.sandboxes.filter((s) => s.labels[LABEL.uid] === w.uid) : await rt.listPodSandbox({ labelSelector: { [LABEL.uid]: w.uid } });
  const good = existing.find((s) => s.state === 'SANDBOX_READY' && s.labels[LABEL.sandboxHash] === want);
  const stale = existing.filter((s) => s !== good);
  if (stale.length > 0) {
    // A sandbox that died (containerd or the host restarted) or whose network settings changed.
    for (const s of stale) {
      for (const c of await rt.listContainers({ podSandboxId: s.id })) {
        if (c.state === 'CONTAINER_RUNNING') await rt.stopContainer(c.id, pod.spec.terminationGracePeriodSeconds ?? 30).catch(() => undefined);
        await rt.removeContainer(c.id).catch(() => undefined);
      }
      await rt.stopPodSandbox(s.id).catch(() => undefined);
      await rt.removePodSandbox(s.id).catch(() => undefined);
    }
    for (const c of w.containers.values()) {
      c.prober?.stop();
      c.prober = undefined;
    }
  }
  if (good) {
    if (w.sandboxId !== good.id) {
      w.sandboxId = good.id;
      w.sandboxConfig = { ...config, metadata: { ...config.metadata, attempt: good.metadata.attempt } };
      const st = await rt.podSandboxStatus(good.id);
      w.podIP = pod.spec.hostNetwork ? d.hostIP : st.network?.ip || undefined;
      w.startTime ??= nsToIso(good.createdAt);
      d.log.info({ pod: w.key, sandbox: good.id.slice(0, 12) }, 'adopted the running pod sandbox');
    }
    w.sandboxError = undefined;
    return true;
  }
  const attempt = existing.reduce((n, s) => Math.max(n, (s.metadata.attempt ?? 0) + 1), 0);
  config.metadata.attempt = attempt;
  try {
    const id = await rt.runPodSandbox(config);
    const st = await rt.podSandboxStatus(id);
    w.sandboxId = id;
    w.sandboxConfig = config;
    w.podIP = pod.spec.hostNetwork ? d.hostIP : st.network?.ip || undefined;
    w.startTime ??= nsToIso(st.createdAt) ?? nowIso();
    w.sandboxError = undefined;
    d.log.info({ pod: w.key, sandbox: id.slice(0, 12), podIP: w.podIP }, 'pod sandbox running');
    return true;
  } catch (err) {
    if (err instanceof GrpcCallError && err.unavailable) throw err;
    w.sandboxId = undefined;
    w.sandboxError = (err as Error).message;
    d.log.warn({ pod: w.key, error: w.sandboxError }, 'cannot create the pod sandbox');
    return false;
  }
}

function sandboxConfig(d: SandboxDeps, w: Worker): PodSandboxConfig {
  const pod = w.pod;
  const ns = pod.metadata.namespace ?? 'default';
  const hostNetwork = Boolean(pod.spec.hostNetwork);
  const ports = pod.spec.containers.flatMap((c) => (c.ports ?? []).filter((p) => p.hostPort).map((p) => ({ protocol: p.protocol ?? 'TCP', containerPort: p.containerPort, hostPort: p.hostPort, hostIp: p.hostIP ?? '' })));
  return {
    metadata: { name: pod.metadata.name, uid: w.uid, namespace: ns, attempt: 0 },
    // With the host's network the host's UTS namespace comes too, and its name cannot be set.
    hostname: hostNetwork ? '' : (pod.spec.hostname ?? pod.metadata.name).slice(0, 63),
    logDirectory: d.logDirectory(ns, pod.metadata.name, w.uid),
    portMappings: ports,
    labels: { [LABEL.managed]: 'true', [LABEL.node]: d.nodeName, [LABEL.uid]: w.uid, [LABEL.name]: pod.metadata.name, [LABEL.namespace]: ns, [LABEL.sandboxHash]: sandboxHash(pod) },
    annotations: { [GRACE_ANNOTATION]: String(pod.spec.terminationGracePeriodSeconds ?? 30) },
    linux: {
      cgroupParent: '',
      securityContext: { namespaceOptions: { network: hostNetwork ? 'NODE' : 'POD', pid: 'CONTAINER', ipc: 'POD' } },
    },
  };
}
