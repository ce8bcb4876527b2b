// The containers of a pod with a ready sandbox: started, restarted after an exit by the restart
// policy with CrashLoopBackOff, replaced when their spec changed, and probed while they run.

import type { Logger } from '../../core/log.ts';
import { GrpcCallError } from '../grpc-unix.ts';
import type { Container, ContainerConfig, ContainerStatus, RuntimeClient } from './cri/client.ts';
import { CA_PATH, TOKEN_PATH, type PodCredentials } from './credentials.ts';
import { buildEnv } from './env.ts';
import type { ImagePuller } from './images.ts';
import type { EdgedMetrics } from './metrics.ts';
import { containerHash, type ContainerSpec } from './pod.ts';
import { shouldRestart } from './pod-status.ts';
import { containerState, LABEL, type BackoffLimits, type ContainerView, type Worker } from './pod-worker.ts';
import { Prober } from './probes.ts';
import { linuxResources } from './resources.ts';
import type { PodSource } from './source.ts';
import { containerMounts, VolumeError } from './volumes.ts';

export interface ContainerDeps {
  runtime: RuntimeClient;
  images: ImagePuller;
  source: PodSource;
  log: Logger;
  metrics: EdgedMetrics;
  backoff: BackoffLimits;
  nodeName: string;
  hostIP: string;
  extraEnv?: Record<string, string>;
  podEnv?: (hostNetwork: boolean) => Record<string, string>;
  credentials?: PodCredentials;
  caFile?: string;
  /** A probe result changed or a container was stopped: the pods sync again. */
  kick(): void;
}

export class ContainerSync {
  /** Container status by id, reused while the list reports the same state (running or exited stays put). */
  private readonly statusCache = new Map<string, ContainerStatus>();

  constructor(private readonly d: ContainerDeps) {}

  /** Forgets the statuses of containers that are gone or changed state since the last tick. */
  newTick(containers: Container[]): void {
    const live = new Set(containers.map((c) => `${c.id}/${c.state}`));
    for (const [id, st] of this.statusCache) if (!live.has(`${id}/${st.state}`)) this.statusCache.delete(id);
  }

  /** Brings each container of the spec to its wanted state; `all` are the pod's containers in the runtime. */
  async sync(w: Worker, all: Container[], volumePaths: Map<string, string> | undefined, volumeError: VolumeError | undefined): Promise<ContainerView[]> {
    const pod = w.pod;
    const rt = this.d.runtime;
    const views: ContainerView[] = [];
    for (const [index, spec] of pod.spec.containers.entries()) {
      const st = containerState(w, spec.name);
      const mine = all.filter((c) => (c.labels[LABEL.container] ?? c.metadata.name) === spec.name).sort((a, b) => b.metadata.attempt - a.metadata.attempt || b.createdAt - a.createdAt);
      const first = mine[0] ? await this.status(mine[0]) : undefined;
      const second = mine[1] ? await this.status(mine[1]) : undefined;
      let latest = first;
      let previous = second;
      const hash = containerHash(pod, spec);
      if (first && first.labels[LABEL.containerHash] !== hash) {
        this.d.log.info({ pod: w.key, container: spec.name }, 'container spec changed: restarting it');
        st.prober?.stop();
        st.prober = undefined;
        if (first.state === 'CONTAINER_RUNNING') await rt.stopContainer(first.id, pod.spec.terminationGracePeriodSeconds ?? 30);
        st.crash = undefined;
        const created = await this.recreate(w, index, spec, first, mine, volumePaths, volumeError);
        const stopped = await rt.containerStatus(first.id);
        [latest, previous] = created ? [created, stopped] : [stopped, second];
      } else if (!first || first.state === 'CONTAINER_CREATED') {
        // Never started (a gateway killed between create and start): replace it, same attempt.
        if (first) await rt.removeContainer(first.id);
        latest = await this.recreate(w, index, spec, second, mine.slice(first ? 1 : 0), volumePaths, volumeError);
        if (!latest) [latest, previous] = [second, undefined];
      } else if (first.state === 'CONTAINER_EXITED' || first.state === 'CONTAINER_UNKNOWN') {
        st.prober?.stop();
        st.prober = undefined;
        const b = st.crash;
        if (shouldRestart(pod, first) && (!b || Date.now() >= b.until)) {
          const ranMs = first.finishedAt > 0 && first.startedAt > 0 ? (first.finishedAt - first.startedAt) / 1e6 : 0;
          // A container that ran long and well before it died starts over from the base delay.
          const delay = !b || ranMs > 2 * this.d.backoff.maxMs ? this.d.backoff.baseMs : Math.min(b.delayMs * 2, this.d.backoff.maxMs);
          const created = await this.recreate(w, index, spec, first, mine, volumePaths, volumeError);
          if (created) {
            st.crash = { until: Date.now() + delay, delayMs: delay, message: '' };
            [latest, previous] = [created, first];
          }
        }
      }
      if (latest?.state === 'CONTAINER_RUNNING') this.ensureProber(w, spec, latest.id);
      views.push({ spec, latest, previous });
    }
    return views;
  }

  private async status(c: Container): Promise<ContainerStatus> {
    const cached = this.statusCache.get(c.id);
    if (cached && cached.state === c.state) return cached;
    const st = await this.d.runtime.containerStatus(c.id);
    this.statusCache.set(c.id, st);
    return st;
  }

  /** Creates and starts attempt N+1 of a container; on failure records why and returns undefined. */
  private async recreate(w: Worker, index: number, spec: ContainerSpec, last: ContainerStatus | undefined, older: Container[], volumePaths: Map<string, string> | undefined, volumeError: VolumeError | undefined): Promise<ContainerStatus | undefined> {
    const st = containerState(w, spec.name);
    const d = this.d;
    const rt = d.runtime;
    if (volumeError) {
      st.waiting = { reason: volumeError.reason, message: volumeError.message };
      return undefined;
    }
    if (st.create && Date.now() < st.create.until) return undefined;
    if (!(await d.images.ensure(w, spec, st))) return undefined;
    let envs: { key: string; value: string }[];
    let mounts;
    try {
      const extra = { ...d.extraEnv, ...d.podEnv?.(Boolean(w.pod.spec.hostNetwork)) };
      envs = buildEnv(w.pod, spec, d.source, { nodeName: d.nodeName, podIP: w.podIP ?? '', hostIP: d.hostIP, uid: w.uid, extra });
      mounts = containerMounts(w.pod, index, volumePaths ?? new Map());
      if (d.credentials) {
        const tokenFile = d.credentials.ensure(w.pod.metadata.namespace ?? 'default', w.pod.metadata.name, w.uid);
        // A volumeMount of the spec at the same path wins, as the spec's own env does.
        if (!mounts.some((m) => m.containerPath === TOKEN_PATH)) mounts.push({ containerPath: TOKEN_PATH, hostPath: tokenFile, readonly: true });
      }
      if (d.caFile && !mounts.some((m) => m.containerPath === CA_PATH)) mounts.push({ containerPath: CA_PATH, hostPath: d.caFile, readonly: true });
    } catch (err) {
      if (!(err instanceof VolumeError)) throw err;
      st.waiting = { reason: err.reason, message: err.message };
      return undefined;
    }
    const attempt = last ? last.metadata.attempt + 1 : 0;
    // Keep only the last exited attempt (its state is lastState, its log `logs --previous`).
    for (const c of older) if (c.id !== last?.id && c.state !== 'CONTAINER_RUNNING') await rt.removeContainer(c.id).catch(() => undefined);
    const config: ContainerConfig = {
      metadata: { name: spec.name, attempt },
      image: { image: spec.image },
      command: spec.command ?? [],
      args: spec.args ?? [],
      workingDir: spec.workingDir ?? '',
      envs,
      mounts,
      labels: { [LABEL.managed]: 'true', [LABEL.uid]: w.uid, [LABEL.name]: w.pod.metadata.name, [LABEL.namespace]: w.pod.metadata.namespace ?? 'default', [LABEL.container]: spec.name, [LABEL.containerHash]: containerHash(w.pod, spec) },
      annotations: {},
      logPath: `${spec.name}/${attempt}.log`,
      stdin: Boolean(spec.stdin),
      tty: Boolean(spec.tty),
      linux: {
        resources: linuxResources(spec),
        securityContext: {
          privileged: Boolean(spec.securityContext?.privileged),
          readonlyRootfs: Boolean(spec.securityContext?.readOnlyRootFilesystem),
          namespaceOptions: { network: w.pod.spec.hostNetwork ? 'NODE' : 'POD', pid: 'CONTAINER', ipc: 'POD' },
        },
      },
    };
    try {
      const id = await rt.createContainer(w.sandboxId!, config, w.sandboxConfig!);
      await rt.startContainer(id);
      st.waiting = undefined;
      st.create = undefined;
      d.log.info({ pod: w.key, container: spec.name, attempt }, attempt === 0 ? 'container started' : 'container restarted');
      d.metrics.containerStarts(attempt === 0 ? 'start' : 'restart');
      return await rt.containerStatus(id);
    } catch (err) {
      if (err instanceof GrpcCallError && err.unavailable) throw err;
      st.waiting = { reason: 'CreateContainerError', message: (err as Error).message };
      const delay = st.create ? Math.min(st.create.delayMs * 2, d.backoff.maxMs) : d.backoff.baseMs;
      st.create = { until: Date.now() + delay, delayMs: delay, message: st.waiting.message };
      d.log.warn({ pod: w.key, container: spec.name, error: (err as Error).message }, 'cannot start container');
      return undefined;
    }
  }

  private ensureProber(w: Worker, spec: ContainerSpec, containerId: string): void {
    const st = containerState(w, spec.name);
    if (st.prober && st.proberFor === containerId) return;
    st.prober?.stop();
    const ports = new Map((spec.ports ?? []).filter((p) => p.name).map((p) => [p.name!, p.containerPort]));
    st.proberFor = containerId;
    st.prober = new Prober(
      { containerId, containerName: spec.name, host: w.pod.spec.hostNetwork ? '127.0.0.1' : (w.podIP ?? '127.0.0.1'), ports, probes: { startup: spec.startupProbe, liveness: spec.livenessProbe, readiness: spec.readinessProbe } },
      this.d.runtime,
      {
        changed: () => this.d.kick(),
        failed: (kind, message) => {
          this.d.log.warn({ pod: w.key, container: spec.name, probe: kind, message }, 'probe failed: restarting the container');
          void this.d.runtime
            .stopContainer(containerId, w.pod.spec.terminationGracePeriodSeconds ?? 30)
            .catch((err) => this.d.log.warn({ err }, 'stopping the container after a failed probe failed'))
            .then(() => this.d.kick());
        },
      },
    );
  }
}
