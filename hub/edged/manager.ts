// The pod manager: keeps what runs in containerd equal to the desired pods. One sync per pod at a
// time, re-run on every change and on a short interval; every decision is taken again from what
// the runtime reports (sandboxes and containers carry the pod UID and a spec hash as labels), so a
// restarted gateway adopts what still runs and rebuilds only what is gone.

import { join } from 'node:path';
import type { Logger } from '../../core/log.ts';
import { GrpcCallError } from '../grpc-unix.ts';
import type { Container, ContainerConfig, ContainerStatus, Cri, Image, PodSandbox, PodSandboxConfig } from './cri/client.ts';
import { buildEnv } from './env.ts';
import { containerHash, parseQuantity, podKey, podUid, sandboxHash, unsupported, type ContainerSpec, type ContainerStateView, type ContainerStatusView, type Pod, type PodCondition, type PodStatus } from './pod.ts';
import { edgedMetrics, type EdgedMetrics } from './metrics.ts';
import { Prober } from './probes.ts';
import type { Registry } from 'prom-client';
import type { PodSource, SourceEvent, StatusSink } from './source.ts';
import { containerMounts, removePodDir, syncVolumes, VolumeError } from './volumes.ts';
import { CA_PATH, TOKEN_PATH, type PodCredentials } from './credentials.ts';

export const LABEL = {
  managed: 'edgetwin.io/managed',
  node: 'edgetwin.io/node',
  uid: 'io.kubernetes.pod.uid',
  name: 'io.kubernetes.pod.name',
  namespace: 'io.kubernetes.pod.namespace',
  container: 'io.kubernetes.container.name',
  sandboxHash: 'edgetwin.io/sandbox-hash',
  containerHash: 'edgetwin.io/container-hash',
} as const;
const GRACE_ANNOTATION = 'edgetwin.io/termination-grace-seconds';

export interface PodManagerOptions {
  cri: Cri;
  source: PodSource;
  sink: StatusSink;
  dataDir: string;
  nodeName: string;
  hostIP: string;
  log: Logger;
  /** How often every pod is checked again without a change (container exits, backoff ends). */
  syncIntervalMs?: number;
  /** CrashLoopBackOff and ImagePullBackOff: first delay, doubling up to max (Kubernetes: 10 s to 5 min). */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** Environment every container gets (EDGETWIN_MQTT_URL, EDGETWIN_API_URL). */
  extraEnv?: Record<string, string>;
  /** Environment by network: a hostNetwork pod reaches the gateway on loopback, the others on the bridge. */
  podEnv?: (hostNetwork: boolean) => Record<string, string>;
  /** Per-pod tokens, mounted at /var/run/edgetwin/token; none: pods get no token. */
  credentials?: PodCredentials;
  /** The certificates pods trust for the gateway's TLS listeners, mounted at CA_PATH (see edged.ts `gateway.caFile`). */
  caFile?: string;
  /** How often to try again while containerd cannot be reached. */
  runtimeRetryMs?: number;
  registry?: Registry;
}

interface Backoff { until: number; delayMs: number; message: string }

interface ContainerState {
  crash?: Backoff;
  image?: Backoff;
  /** After a failed create: the runtime refused the config; asking again every sync only floods the log. */
  create?: Backoff;
  /** Why the container cannot be created now (ErrImagePull, CreateContainerConfigError...). */
  waiting?: { reason: string; message: string };
  prober?: Prober;
  proberFor?: string;
}

interface Worker {
  key: string;
  uid: string;
  pod: Pod;
  deleting: boolean;
  syncing: boolean;
  again: boolean;
  sandboxId?: string;
  sandboxConfig?: PodSandboxConfig;
  podIP?: string;
  startTime?: string;
  sandboxError?: string;
  containers: Map<string, ContainerState>;
  lastStatus?: string;
  status?: PodStatus;
  transitions: Map<string, { status: string; time: string }>;
}

/** What the runtime held at the start of a tick: one list call each for all pods, not two per pod. */
interface Snapshot {
  sandboxes: PodSandbox[];
  containers: Container[];
}

const nowIso = () => new Date().toISOString();
const nsToIso = (ns: number) => (ns > 0 ? new Date(Math.floor(ns / 1e6)).toISOString() : undefined);

export class PodManager {
  private readonly workers = new Map<string, Worker>();
  private timer?: NodeJS.Timeout;
  private ticking = false;
  /** kick() came while a tick was running. */
  private rerun = false;
  private unsubscribe?: () => void;
  private closed = false;
  private reachable: boolean | undefined;
  private lastRuntimeTry = 0;
  private orphansCleaned = false;
  /** Container status by id, reused while the list reports the same state (running or exited stays put). */
  private readonly statusCache = new Map<string, ContainerStatus>();
  /** One ImageStatus per image per tick, shared by every pod that uses it. */
  private imageCache = new Map<string, Promise<Image | undefined>>();
  private readonly syncMs: number;
  private readonly baseMs: number;
  private readonly maxMs: number;
  private readonly retryMs: number;
  private readonly log: Logger;
  private readonly metrics: EdgedMetrics;

  constructor(private readonly o: PodManagerOptions) {
    this.metrics = edgedMetrics(o.registry, {
      phases: () => {
        const n: Record<string, number> = { Pending: 0, Running: 0, Succeeded: 0, Failed: 0 };
        for (const w of this.workers.values()) if (w.status) n[w.status.phase] = (n[w.status.phase] ?? 0) + 1;
        return n;
      },
      runtimeUp: () => this.reachable === true,
    });
    this.syncMs = o.syncIntervalMs ?? 1000;
    this.baseMs = o.backoffBaseMs ?? 10_000;
    this.maxMs = o.backoffMaxMs ?? 300_000;
    this.retryMs = o.runtimeRetryMs ?? 5000;
    this.log = o.log;
  }

  start(): void {
    this.unsubscribe = this.o.source.onChange((e) => this.changed(e));
    this.kick();
  }

  /**
   * A source change syncs every pod again, unless it is a pod whose desired form is what the
   * worker holds: the cloud sends a pod back after each status patch (its resourceVersion moved),
   * and syncing all pods for each of those echoes kept containerd busy while pods were starting.
   */
  private changed(e: SourceEvent): void {
    if (e.kind === 'pod') {
      const key = `${e.namespace}/${e.name}`;
      const pod = this.o.source.pods().find((p) => podKey(p) === key);
      const w = pod && this.workers.get(podUid(pod));
      if (pod && w && w.key === key && desiredForm(pod) === desiredForm(w.pod)) {
        w.pod = pod;
        return;
      }
    }
    this.kick();
  }

  /** Pod status views for the local API and `edgetwin pods`. */
  list(): { namespace: string; name: string; uid: string; nodeName: string; status: PodStatus | undefined }[] {
    return [...this.workers.values()].map((w) => ({
      namespace: w.pod.metadata.namespace ?? 'default',
      name: w.pod.metadata.name,
      uid: w.uid,
      nodeName: this.o.nodeName,
      status: w.status,
    }));
  }

  /** Where the CRI log files of a pod's containers are: <logDir>/<container>/<attempt>.log. */
  logDirectory(namespace: string, name: string, uid: string): string {
    return join(this.o.dataDir, 'edged', 'logs', `${namespace}_${name}_${uid}`);
  }

  /** Re-runs the sync of every pod soon (coalesced). */
  kick(): void {
    if (this.closed) return;
    // A tick in progress has read the pods already: it runs once more when it ends. (Rescheduling
    // here was undone by that tick's own reschedule, and pods that came meanwhile waited for the
    // next interval, a whole second.)
    if (this.ticking) {
      this.rerun = true;
      return;
    }
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.tick(), 0);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    this.unsubscribe?.();
    for (const w of this.workers.values()) for (const c of w.containers.values()) c.prober?.stop();
    // Containers keep running: a gateway restart adopts them (the point of autonomy).
    for (let i = 0; i < 200 && [...this.workers.values()].some((w) => w.syncing); i++) await new Promise((r) => setTimeout(r, 25));
  }

  private async tick(): Promise<void> {
    if (this.closed || this.ticking) return;
    this.ticking = true;
    this.rerun = false;
    try {
      this.refreshWorkers();
      if (await this.runtimeReady()) {
        if (!this.orphansCleaned) {
          await this.adoptOrClean();
          this.orphansCleaned = true;
        }
        const rt = this.o.cri.runtime;
        const [sandboxes, containers] = await Promise.all([rt.listPodSandbox({ labelSelector: { [LABEL.managed]: 'true', [LABEL.node]: this.o.nodeName } }), rt.listContainers({ labelSelector: { [LABEL.managed]: 'true' } })]);
        const live = new Set(containers.map((c) => `${c.id}/${c.state}`));
        for (const [id, st] of this.statusCache) if (!live.has(`${id}/${st.state}`)) this.statusCache.delete(id);
        this.imageCache = new Map();
        // The images of new pods are looked up now, beside their sandboxes, not after them.
        for (const w of this.workers.values()) if (!w.sandboxId && !w.deleting) for (const c of w.pod.spec.containers) void this.imageLookup(c.image).catch(() => undefined);
        // Workers run on their own: a pod in its grace period or pulling an image holds up no other.
        for (const w of this.workers.values()) void this.syncWorker(w, { sandboxes, containers });
      } else {
        // Pods not seen running yet say why they wait; the others keep their last status (their
        // containers may well still run while containerd restarts).
        for (const w of this.workers.values()) {
          if (w.status || w.deleting) continue;
          w.sandboxError = `the container runtime at ${this.o.cri.endpoint} cannot be reached`;
          this.emit(w, this.buildStatus(w, [], false));
        }
      }
    } catch (err) {
      this.runtimeError(err);
    } finally {
      this.ticking = false;
      if (!this.closed) {
        clearTimeout(this.timer);
        this.timer = setTimeout(() => void this.tick(), this.rerun ? 0 : this.reachable === false ? this.retryMs : this.syncMs);
      }
    }
  }

  private async runtimeReady(): Promise<boolean> {
    if (this.reachable) return true;
    if (this.reachable === false && Date.now() - this.lastRuntimeTry < this.retryMs) return false;
    this.lastRuntimeTry = Date.now();
    try {
      const v = await this.o.cri.runtime.version();
      this.reachable = true;
      this.log.info({ endpoint: this.o.cri.endpoint, runtime: v.runtimeName, version: v.runtimeVersion }, 'container runtime reachable');
      this.o.sink.runtime({ reachable: true, endpoint: this.o.cri.endpoint, runtimeName: v.runtimeName, runtimeVersion: v.runtimeVersion });
      return true;
    } catch (err) {
      this.runtimeError(err);
      return false;
    }
  }

  private runtimeError(err: unknown): void {
    const unavailable = err instanceof GrpcCallError && err.unavailable;
    if (!unavailable) {
      this.log.error({ err }, 'pod sync failed');
      return;
    }
    if (this.reachable !== false) {
      this.log.warn({ endpoint: this.o.cri.endpoint, error: (err as Error).message }, `cannot reach containerd at ${this.o.cri.endpoint}: pods wait until it answers; devices keep running (start containerd, or set edged.containerd)`);
      this.o.sink.runtime({ reachable: false, endpoint: this.o.cri.endpoint, message: (err as GrpcCallError).details });
    }
    this.reachable = false;
    this.lastRuntimeTry = Date.now();
  }

  /** Sandboxes of ours whose pod is no longer desired were deleted while the gateway was down. */
  private async adoptOrClean(): Promise<void> {
    const desired = new Set(this.o.source.pods().map((p) => podUid(p)));
    const ours = await this.o.cri.runtime.listPodSandbox({ labelSelector: { [LABEL.managed]: 'true', [LABEL.node]: this.o.nodeName } });
    for (const sb of ours) {
      const uid = sb.labels[LABEL.uid] ?? '';
      if (desired.has(uid)) continue;
      this.log.info({ pod: `${sb.metadata.namespace}/${sb.metadata.name}`, uid }, 'removing the containers of a pod that is no longer assigned to this gateway');
      await this.teardown(uid, Number(sb.annotations[GRACE_ANNOTATION] ?? 30), sb.id === '' ? [] : [sb]);
      this.o.credentials?.remove(uid);
      removePodDir(this.o.dataDir, uid);
    }
  }

  private refreshWorkers(): void {
    const seen = new Set<string>();
    for (const pod of this.o.source.pods()) {
      const uid = podUid(pod);
      const key = podKey(pod);
      seen.add(uid);
      const w = this.workers.get(uid);
      if (w) {
        w.pod = pod;
        w.deleting = Boolean(pod.metadata.deletionTimestamp);
      } else {
        this.workers.set(uid, { key, uid, pod, deleting: Boolean(pod.metadata.deletionTimestamp), syncing: false, again: false, containers: new Map(), transitions: new Map() });
      }
    }
    for (const w of this.workers.values()) if (!seen.has(w.uid)) w.deleting = true;
  }

  private async syncWorker(w: Worker, snapshot: Snapshot): Promise<void> {
    if (w.syncing) {
      w.again = true;
      return;
    }
    w.syncing = true;
    let snap: Snapshot | undefined = snapshot;
    try {
      do {
        w.again = false;
        if (w.deleting) await this.deletePod(w);
        else await this.syncPod(w, snap);
        snap = undefined; // a second round asks the runtime afresh
      } while (w.again && !this.closed && this.workers.has(w.uid));
    } catch (err) {
      if (err instanceof GrpcCallError && err.unavailable) this.runtimeError(err);
      else this.log.error({ pod: w.key, err }, 'pod sync failed; trying again');
    } finally {
      w.syncing = false;
    }
  }

  private async deletePod(w: Worker): Promise<void> {
    for (const c of w.containers.values()) c.prober?.stop();
    const grace = w.pod.spec.terminationGracePeriodSeconds ?? 30;
    const sandboxes = await this.o.cri.runtime.listPodSandbox({ labelSelector: { [LABEL.uid]: w.uid } });
    await this.teardown(w.uid, grace, sandboxes);
    this.o.credentials?.remove(w.uid);
    removePodDir(this.o.dataDir, w.uid);
    this.workers.delete(w.uid);
    const [namespace, name] = w.key.split('/') as [string, string];
    this.log.info({ pod: w.key }, 'pod stopped and removed');
    this.o.sink.podRemoved({ namespace, name, uid: w.uid });
  }

  /** Stops every container of the sandboxes (SIGTERM, SIGKILL after `grace` s), then the sandboxes. */
  private async teardown(uid: string, grace: number, sandboxes: PodSandbox[]): Promise<void> {
    const rt = this.o.cri.runtime;
    const containers = await rt.listContainers({ labelSelector: { [LABEL.uid]: uid } });
    await Promise.all(containers.filter((c) => c.state === 'CONTAINER_RUNNING').map((c) => rt.stopContainer(c.id, grace).catch((err) => this.log.warn({ err, container: c.id }, 'stopping a container failed'))));
    for (const c of containers) await rt.removeContainer(c.id).catch((err) => this.log.warn({ err, container: c.id }, 'removing a container failed'));
    for (const sb of sandboxes) {
      await rt.stopPodSandbox(sb.id);
      await rt.removePodSandbox(sb.id);
    }
  }

  private async syncPod(w: Worker, snap: Snapshot | undefined): Promise<void> {
    const pod = w.pod;
    const problems = unsupported(pod);
    if (problems.length > 0) {
      // A pod edited into something edged cannot run stops running its old form.
      const sandboxes = snap ? snap.sandboxes.filter((x) => x.labels[LABEL.uid] === w.uid) : await this.o.cri.runtime.listPodSandbox({ labelSelector: { [LABEL.uid]: w.uid } });
      if (sandboxes.length > 0) await this.teardown(w.uid, pod.spec.terminationGracePeriodSeconds ?? 30, sandboxes);
      w.sandboxId = undefined;
      this.emit(w, { phase: 'Failed', reason: 'Unsupported', message: problems.join('; '), conditions: [], containerStatuses: [] });
      return;
    }
    // Say Pending at once: pulling and starting can take a while, and the cloud should know the pod arrived.
    if (!w.status) this.emit(w, this.buildStatus(w, [], false));
    if (!(await this.ensureSandbox(w, snap))) {
      this.emit(w, this.buildStatus(w, [], false));
      return;
    }
    const rt = this.o.cri.runtime;
    const all = snap
      ? snap.containers.filter((c) => c.podSandboxId === w.sandboxId && c.labels[LABEL.uid] === w.uid)
      : await rt.listContainers({ podSandboxId: w.sandboxId!, labelSelector: { [LABEL.uid]: w.uid } });
    const wanted = new Set(pod.spec.containers.map((c) => c.name));
    for (const c of all) {
      const name = c.labels[LABEL.container] ?? c.metadata.name;
      if (!wanted.has(name)) {
        if (c.state === 'CONTAINER_RUNNING') await rt.stopContainer(c.id, pod.spec.terminationGracePeriodSeconds ?? 30);
        await rt.removeContainer(c.id);
      }
    }

    let volumePaths: Map<string, string> | undefined;
    let volumeError: VolumeError | undefined;
    try {
      volumePaths = syncVolumes(pod, w.uid, this.o.dataDir, this.o.source).paths;
      // Every sync, not only when a container is made: a pod adopted after a gateway restart keeps its token working.
      this.o.credentials?.ensure(pod.metadata.namespace ?? 'default', pod.metadata.name, w.uid);
    } catch (err) {
      if (!(err instanceof VolumeError)) throw err;
      volumeError = err;
    }

    const views: { spec: ContainerSpec; latest?: ContainerStatus; previous?: ContainerStatus }[] = [];
    for (const [index, spec] of pod.spec.containers.entries()) {
      const st = this.containerState(w, spec.name);
      const mine = all.filter((c) => (c.labels[LABEL.container] ?? c.metadata.name) === spec.name).sort((a, b) => b.metadata.attempt - a.metadata.attempt || b.createdAt - a.createdAt);
      const first = mine[0] ? await this.status(mine[0]) : undefined;
      const second = mine[1] ? await this.status(mine[1]) : undefined;
      let latest = first;
      let previous = second;
      const hash = containerHash(pod, spec);
      if (first && first.labels[LABEL.containerHash] !== hash) {
        this.log.info({ pod: w.key, container: spec.name }, 'container spec changed: restarting it');
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
        if (this.shouldRestart(pod, first) && (!b || Date.now() >= b.until)) {
          const ranMs = first.finishedAt > 0 && first.startedAt > 0 ? (first.finishedAt - first.startedAt) / 1e6 : 0;
          // A container that ran long and well before it died starts over from the base delay.
          const delay = !b || ranMs > 2 * this.maxMs ? this.baseMs : Math.min(b.delayMs * 2, this.maxMs);
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
    this.emit(w, this.buildStatus(w, views, true));
  }

  private async status(c: Container): Promise<ContainerStatus> {
    const cached = this.statusCache.get(c.id);
    if (cached && cached.state === c.state) return cached;
    const st = await this.o.cri.runtime.containerStatus(c.id);
    this.statusCache.set(c.id, st);
    return st;
  }

  private containerState(w: Worker, name: string): ContainerState {
    let s = w.containers.get(name);
    if (!s) w.containers.set(name, (s = {}));
    return s;
  }

  private shouldRestart(pod: Pod, c: ContainerStatus): boolean {
    const policy = pod.spec.restartPolicy ?? 'Always';
    return policy === 'Always' || (policy === 'OnFailure' && c.exitCode !== 0);
  }

  /** Creates and starts attempt N+1 of a container; on failure records why and returns undefined. */
  private async recreate(w: Worker, index: number, spec: ContainerSpec, last: ContainerStatus | undefined, older: Container[], volumePaths: Map<string, string> | undefined, volumeError: VolumeError | undefined): Promise<ContainerStatus | undefined> {
    const st = this.containerState(w, spec.name);
    const rt = this.o.cri.runtime;
    if (volumeError) {
      st.waiting = { reason: volumeError.reason, message: volumeError.message };
      return undefined;
    }
    if (st.create && Date.now() < st.create.until) return undefined;
    if (!(await this.ensureImage(w, spec, st))) return undefined;
    let envs: { key: string; value: string }[];
    let mounts;
    try {
      const extra = { ...this.o.extraEnv, ...this.o.podEnv?.(Boolean(w.pod.spec.hostNetwork)) };
      envs = buildEnv(w.pod, spec, this.o.source, { nodeName: this.o.nodeName, podIP: w.podIP ?? '', hostIP: this.o.hostIP, uid: w.uid, extra });
      mounts = containerMounts(w.pod, index, volumePaths ?? new Map());
      if (this.o.credentials) {
        const tokenFile = this.o.credentials.ensure(w.pod.metadata.namespace ?? 'default', w.pod.metadata.name, w.uid);
        // A volumeMount of the spec at the same path wins, as the spec's own env does.
        if (!mounts.some((m) => m.containerPath === TOKEN_PATH)) mounts.push({ containerPath: TOKEN_PATH, hostPath: tokenFile, readonly: true });
      }
      if (this.o.caFile && !mounts.some((m) => m.containerPath === CA_PATH)) mounts.push({ containerPath: CA_PATH, hostPath: this.o.caFile, readonly: true });
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
      this.log.info({ pod: w.key, container: spec.name, attempt }, attempt === 0 ? 'container started' : 'container restarted');
      this.metrics.containerStarts(attempt === 0 ? 'start' : 'restart');
      return await rt.containerStatus(id);
    } catch (err) {
      if (err instanceof GrpcCallError && err.unavailable) throw err;
      st.waiting = { reason: 'CreateContainerError', message: (err as Error).message };
      const delay = st.create ? Math.min(st.create.delayMs * 2, this.maxMs) : this.baseMs;
      st.create = { until: Date.now() + delay, delayMs: delay, message: st.waiting.message };
      this.log.warn({ pod: w.key, container: spec.name, error: (err as Error).message }, 'cannot start container');
      return undefined;
    }
  }

  /** ImageStatus of an image, asked once per tick for every pod that uses it. */
  private imageLookup(image: string): Promise<Image | undefined> {
    let lookup = this.imageCache.get(image);
    if (!lookup) this.imageCache.set(image, (lookup = this.o.cri.images.imageStatus(image)));
    return lookup;
  }

  /** The image is local, or pulled now; a failed pull waits a doubling delay (ImagePullBackOff). */
  private async ensureImage(w: Worker, spec: ContainerSpec, st: ContainerState): Promise<boolean> {
    const img = this.o.cri.images;
    const tagLatest = !/[:@][^/]*$/.test(spec.image) || spec.image.endsWith(':latest');
    const policy = spec.imagePullPolicy ?? (tagLatest ? 'Always' : 'IfNotPresent');
    const present = await this.imageLookup(spec.image);
    if (present && policy !== 'Always') return true;
    if (policy === 'Never') {
      st.waiting = { reason: 'ErrImageNeverPull', message: `container image "${spec.image}" is not present with pull policy of Never (import it with ctr -n k8s.io images import)` };
      return false;
    }
    if (st.image && Date.now() < st.image.until) {
      st.waiting = { reason: 'ImagePullBackOff', message: `Back-off pulling image "${spec.image}": ${st.image.message}` };
      return false;
    }
    try {
      await img.pullImage(spec.image, w.sandboxConfig);
      this.imageCache.delete(spec.image);
      st.image = undefined;
      return true;
    } catch (err) {
      if (err instanceof GrpcCallError && err.code === 14) throw err;
      const message = err instanceof GrpcCallError ? err.details : (err as Error).message;
      // An offline gateway keeps running the copy it has when a pull of a moving tag fails.
      if (present) {
        this.log.warn({ pod: w.key, image: spec.image, error: message }, 'pull failed; using the local copy of the image');
        return true;
      }
      const delay = st.image ? Math.min(st.image.delayMs * 2, this.maxMs) : this.baseMs;
      st.image = { until: Date.now() + delay, delayMs: delay, message };
      st.waiting = { reason: 'ErrImagePull', message };
      this.metrics.pullFailure();
      this.log.warn({ pod: w.key, container: spec.name, image: spec.image, error: message }, 'image pull failed');
      return false;
    }
  }

  /** A ready sandbox for the pod (adopted, or created now). False with w.sandboxError when not. */
  private async ensureSandbox(w: Worker, snap: Snapshot | undefined): Promise<boolean> {
    const rt = this.o.cri.runtime;
    const pod = w.pod;
    const want = sandboxHash(pod);
    const config = this.sandboxConfig(w);
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
        w.podIP = pod.spec.hostNetwork ? this.o.hostIP : st.network?.ip || undefined;
        w.startTime ??= nsToIso(good.createdAt);
        this.log.info({ pod: w.key, sandbox: good.id.slice(0, 12) }, 'adopted the running pod sandbox');
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
      w.podIP = pod.spec.hostNetwork ? this.o.hostIP : st.network?.ip || undefined;
      w.startTime ??= nsToIso(st.createdAt) ?? nowIso();
      w.sandboxError = undefined;
      this.log.info({ pod: w.key, sandbox: id.slice(0, 12), podIP: w.podIP }, 'pod sandbox running');
      return true;
    } catch (err) {
      if (err instanceof GrpcCallError && err.unavailable) throw err;
      w.sandboxId = undefined;
      w.sandboxError = (err as Error).message;
      this.log.warn({ pod: w.key, error: w.sandboxError }, 'cannot create the pod sandbox');
      return false;
    }
  }

  private sandboxConfig(w: Worker): PodSandboxConfig {
    const pod = w.pod;
    const ns = pod.metadata.namespace ?? 'default';
    const hostNetwork = Boolean(pod.spec.hostNetwork);
    const ports = pod.spec.containers.flatMap((c) => (c.ports ?? []).filter((p) => p.hostPort).map((p) => ({ protocol: p.protocol ?? 'TCP', containerPort: p.containerPort, hostPort: p.hostPort, hostIp: p.hostIP ?? '' })));
    return {
      metadata: { name: pod.metadata.name, uid: w.uid, namespace: ns, attempt: 0 },
      // With the host's network the host's UTS namespace comes too, and its name cannot be set.
      hostname: hostNetwork ? '' : (pod.spec.hostname ?? pod.metadata.name).slice(0, 63),
      logDirectory: this.logDirectory(ns, pod.metadata.name, w.uid),
      portMappings: ports,
      labels: { [LABEL.managed]: 'true', [LABEL.node]: this.o.nodeName, [LABEL.uid]: w.uid, [LABEL.name]: pod.metadata.name, [LABEL.namespace]: ns, [LABEL.sandboxHash]: sandboxHash(pod) },
      annotations: { [GRACE_ANNOTATION]: String(pod.spec.terminationGracePeriodSeconds ?? 30) },
      linux: {
        cgroupParent: '',
        securityContext: { namespaceOptions: { network: hostNetwork ? 'NODE' : 'POD', pid: 'CONTAINER', ipc: 'POD' } },
      },
    };
  }

  private ensureProber(w: Worker, spec: ContainerSpec, containerId: string): void {
    const st = this.containerState(w, spec.name);
    if (st.prober && st.proberFor === containerId) return;
    st.prober?.stop();
    const ports = new Map((spec.ports ?? []).filter((p) => p.name).map((p) => [p.name!, p.containerPort]));
    st.proberFor = containerId;
    st.prober = new Prober(
      { containerId, containerName: spec.name, host: w.pod.spec.hostNetwork ? '127.0.0.1' : (w.podIP ?? '127.0.0.1'), ports, probes: { startup: spec.startupProbe, liveness: spec.livenessProbe, readiness: spec.readinessProbe } },
      this.o.cri.runtime,
      {
        changed: () => this.kick(),
        failed: (kind, message) => {
          this.log.warn({ pod: w.key, container: spec.name, probe: kind, message }, 'probe failed: restarting the container');
          void this.o.cri.runtime
            .stopContainer(containerId, w.pod.spec.terminationGracePeriodSeconds ?? 30)
            .catch((err) => this.log.warn({ err }, 'stopping the container after a failed probe failed'))
            .then(() => this.kick());
        },
      },
    );
  }

  private buildStatus(w: Worker, views: { spec: ContainerSpec; latest?: ContainerStatus; previous?: ContainerStatus }[], sandboxReady: boolean): PodStatus {
    const statuses: ContainerStatusView[] = [];
    const pod = w.pod;
    for (const spec of pod.spec.containers) {
      const v = views.find((x) => x.spec.name === spec.name);
      const st = w.containers.get(spec.name) ?? {};
      const latest = v?.latest;
      const prober = st.prober && latest && st.proberFor === latest.id ? st.prober : undefined;
      let state: ContainerStateView;
      let lastState: ContainerStateView = v?.previous ? terminated(v.previous) : {};
      if (latest?.state === 'CONTAINER_RUNNING') {
        state = { running: { startedAt: nsToIso(latest.startedAt) ?? nowIso() } };
      } else if (latest && (latest.state === 'CONTAINER_EXITED' || latest.state === 'CONTAINER_UNKNOWN')) {
        const restarting = this.shouldRestart(pod, latest) && (st.crash || st.waiting);
        if (restarting) {
          lastState = terminated(latest);
          state = st.waiting && !st.crash ? { waiting: { ...st.waiting } } : { waiting: { reason: 'CrashLoopBackOff', message: `back-off ${fmtDelay(st.crash!.delayMs)} restarting failed container=${spec.name} pod=${pod.metadata.name}_${pod.metadata.namespace ?? 'default'}(${w.uid})` } };
        } else {
          state = terminated(latest);
        }
      } else if (st.waiting) {
        state = { waiting: { ...st.waiting } };
      } else {
        state = { waiting: { reason: sandboxReady ? 'ContainerCreating' : 'PodInitializing', message: w.sandboxError ?? '' } };
        if (!state.waiting!.message) delete state.waiting!.message;
      }
      const running = Boolean(state.running);
      statuses.push({
        name: spec.name,
        image: spec.image,
        imageID: latest?.imageRef ?? '',
        ...(latest ? { containerID: `containerd://${latest.id}` } : {}),
        ready: running && (prober ? prober.ready : !spec.readinessProbe && !spec.startupProbe),
        started: running && (prober ? prober.started : !spec.startupProbe),
        restartCount: latest?.metadata.attempt ?? v?.previous?.metadata.attempt ?? 0,
        state,
        lastState,
      });
    }
    const policy = pod.spec.restartPolicy ?? 'Always';
    let phase: PodStatus['phase'];
    const neverRan = statuses.some((s) => s.state.waiting && !s.lastState.terminated);
    if (!sandboxReady || neverRan) phase = 'Pending';
    else if (statuses.some((s) => s.state.running || s.state.waiting)) phase = 'Running';
    else if (statuses.every((s) => s.state.terminated?.exitCode === 0)) phase = 'Succeeded';
    else phase = policy === 'Always' ? 'Running' : 'Failed';
    const allReady = statuses.length > 0 && statuses.every((s) => s.ready);
    const notReady = statuses.filter((s) => !s.ready).map((s) => s.name);
    const cond = (type: string, ok: boolean, reason?: string, message?: string): PodCondition => {
      const status = ok ? 'True' : 'False';
      const prev = w.transitions.get(type);
      const time = prev && prev.status === status ? prev.time : nowIso();
      w.transitions.set(type, { status, time });
      return { type, status, lastTransitionTime: time, ...(reason ? { reason } : {}), ...(message ? { message } : {}) };
    };
    const conditions = [
      cond('PodReadyToStartContainers', sandboxReady, undefined, sandboxReady ? undefined : w.sandboxError),
      cond('Initialized', true),
      cond('Ready', allReady, allReady ? undefined : 'ContainersNotReady', allReady ? undefined : `containers with unready status: [${notReady.join(' ')}]`),
      cond('ContainersReady', allReady, allReady ? undefined : 'ContainersNotReady', allReady ? undefined : `containers with unready status: [${notReady.join(' ')}]`),
      cond('PodScheduled', true),
    ];
    return {
      phase,
      conditions,
      containerStatuses: statuses,
      hostIP: this.o.hostIP,
      ...(w.podIP ? { podIP: w.podIP, podIPs: [{ ip: w.podIP }] } : {}),
      ...(w.startTime ? { startTime: w.startTime } : {}),
    };
  }

  private emit(w: Worker, status: PodStatus): void {
    w.status = status;
    const text = JSON.stringify(status);
    if (text === w.lastStatus) return;
    w.lastStatus = text;
    const [namespace, name] = w.key.split('/') as [string, string];
    this.o.sink.podStatus({ namespace, name, uid: w.uid }, status, JSON.stringify({ metadata: { uid: w.uid }, status }));
  }
}

/** What edged acts on of a pod: its spec, and whether it is being deleted (not its status or version). */
function desiredForm(p: Pod): string {
  return JSON.stringify([p.metadata.uid, p.metadata.deletionTimestamp, p.spec]);
}

function terminated(c: ContainerStatus): ContainerStateView {
  return {
    terminated: {
      exitCode: c.exitCode,
      reason: c.reason || (c.exitCode === 0 ? 'Completed' : 'Error'),
      ...(c.message ? { message: c.message } : {}),
      ...(nsToIso(c.startedAt) ? { startedAt: nsToIso(c.startedAt) } : {}),
      ...(nsToIso(c.finishedAt) ? { finishedAt: nsToIso(c.finishedAt) } : {}),
      containerID: `containerd://${c.id}`,
    },
  };
}

function fmtDelay(ms: number): string {
  if (ms >= 60_000 && ms % 60_000 === 0) return `${ms / 60_000}m0s`;
  if (ms >= 1000) return `${+(ms / 1000).toFixed(3)}s`;
  return `${ms}ms`;
}

/** requests.cpu -> CPU shares, limits.cpu -> CFS quota, limits.memory -> memory limit (as the kubelet maps them). */
export function linuxResources(c: ContainerSpec): { cpuPeriod?: number; cpuQuota?: number; cpuShares?: number; memoryLimitInBytes?: number } {
  const q = (v: string | number | undefined) => (v === undefined ? undefined : parseQuantity(String(v)));
  const reqCpu = q(c.resources?.requests?.cpu);
  const limCpu = q(c.resources?.limits?.cpu);
  const limMem = q(c.resources?.limits?.memory);
  const out: { cpuPeriod?: number; cpuQuota?: number; cpuShares?: number; memoryLimitInBytes?: number } = {};
  const shareCpu = reqCpu ?? limCpu;
  out.cpuShares = shareCpu !== undefined ? Math.max(2, Math.round(shareCpu * 1024)) : 2;
  if (limCpu !== undefined) {
    out.cpuPeriod = 100_000;
    out.cpuQuota = Math.max(1000, Math.round(limCpu * 100_000));
  }
  if (limMem !== undefined) out.memoryLimitInBytes = Math.round(limMem);
  return out;
}

