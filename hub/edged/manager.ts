// The pod manager: keeps what runs in containerd equal to the desired pods. One sync per pod at a
// time, re-run on every change and on a short interval; every decision is taken again from what
// the runtime reports (sandboxes and containers carry the pod UID and a spec hash as labels), so a
// restarted gateway adopts what still runs and rebuilds only what is gone.
// The parts of a sync live beside it: sandbox.ts (sandboxes, teardown), containers.ts (start,
// restart, CrashLoopBackOff, probes), images.ts (pulls), pod-status.ts (the status reported),
// runtime-health.ts (containerd's reachability).

import { join } from 'node:path';
import type { Logger } from '../../core/log.ts';
import { GrpcCallError } from '../grpc-unix.ts';
import type { Cri } from './cri/client.ts';
import { ContainerSync } from './containers.ts';
import type { PodCredentials } from './credentials.ts';
import { ImagePuller } from './images.ts';
import { edgedMetrics } from './metrics.ts';
import { podKey, podUid, unsupported, type Pod, type PodStatus } from './pod.ts';
import { buildPodStatus } from './pod-status.ts';
import { GRACE_ANNOTATION, LABEL, type ContainerView, type Snapshot, type Worker } from './pod-worker.ts';
import { RuntimeHealth } from './runtime-health.ts';
import { ensureSandbox, teardown, type SandboxDeps } from './sandbox.ts';
import type { Registry } from 'prom-client';
import type { PodSource, SourceEvent, StatusSink } from './source.ts';
import { removePodDir, syncVolumes, VolumeError } from './volumes.ts';

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

export class PodManager {
  private readonly workers = new Map<string, Worker>();
  private timer?: NodeJS.Timeout;
  private ticking = false;
  /** kick() came while a tick was running. */
  private rerun = false;
  private unsubscribe?: () => void;
  private closed = false;
  private orphansCleaned = false;
  private readonly syncMs: number;
  private readonly log: Logger;
  private readonly health: RuntimeHealth;
  private readonly images: ImagePuller;
  private readonly containers: ContainerSync;
  private readonly sandboxes: SandboxDeps;

  constructor(private readonly o: PodManagerOptions) {
    const metrics = edgedMetrics(o.registry, {
      phases: () => {
        const n: Record<string, number> = { Pending: 0, Running: 0, Succeeded: 0, Failed: 0 };
        for (const w of this.workers.values()) if (w.status) n[w.status.phase] = (n[w.status.phase] ?? 0) + 1;
        return n;
      },
      runtimeUp: () => this.health.reachable === true,
    });
    this.syncMs = o.syncIntervalMs ?? 1000;
    const backoff = { baseMs: o.backoffBaseMs ?? 10_000, maxMs: o.backoffMaxMs ?? 300_000 };
    this.log = o.log;
    this.health = new RuntimeHealth(o.cri, o.sink, o.log, o.runtimeRetryMs ?? 5000);
    this.images = new ImagePuller(o.cri.images, o.log, metrics, backoff);
    this.containers = new ContainerSync({
      runtime: o.cri.runtime,
      images: this.images,
      source: o.source,
      log: o.log,
      metrics,
      backoff,
      nodeName: o.nodeName,
      hostIP: o.hostIP,
      extraEnv: o.extraEnv,
      podEnv: o.podEnv,
      credentials: o.credentials,
      caFile: o.caFile,
      kick: () => this.kick(),
    });
    this.sandboxes = { runtime: o.cri.runtime, log: o.log, nodeName: o.nodeName, hostIP: o.hostIP, logDirectory: (ns, name, uid) => this.logDirectory(ns, name, uid) };
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
      if (await this.health.ready()) {
        if (!this.orphansCleaned) {
          await this.adoptOrClean();
          this.orphansCleaned = true;
        }
        const rt = this.o.cri.runtime;
        const [sandboxes, containers] = await Promise.all([rt.listPodSandbox({ labelSelector: { [LABEL.managed]: 'true', [LABEL.node]: this.o.nodeName } }), rt.listContainers({ labelSelector: { [LABEL.managed]: 'true' } })]);
        this.containers.newTick(containers);
        this.images.newTick();
        // The images of new pods are looked up now, beside their sandboxes, not after them.
        for (const w of this.workers.values()) if (!w.sandboxId && !w.deleting) for (const c of w.pod.spec.containers) void this.images.lookup(c.image).catch(() => undefined);
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
      this.health.error(err);
    } finally {
      this.ticking = false;
      if (!this.closed) {
        clearTimeout(this.timer);
        this.timer = setTimeout(() => void this.tick(), this.rerun ? 0 : this.health.reachable === false ? this.health.retryMs : this.syncMs);
      }
    }
  }

  /** Sandboxes of ours whose pod is no longer desired were deleted while the gateway was down. */
  private async adoptOrClean(): Promise<void> {
    const desired = new Set(this.o.source.pods().map((p) => podUid(p)));
    const ours = await this.o.cri.runtime.listPodSandbox({ labelSelector: { [LABEL.managed]: 'true', [LABEL.node]: this.o.nodeName } });
    for (const sb of ours) {
      const uid = sb.labels[LABEL.uid] ?? '';
      if (desired.has(uid)) continue;
      this.log.info({ pod: `${sb.metadata.namespace}/${sb.metadata.name}`, uid }, 'removing the containers of a pod that is no longer assigned to this gateway');
      await teardown(this.o.cri.runtime, this.log, uid, Number(sb.annotations[GRACE_ANNOTATION] ?? 30), sb.id === '' ? [] : [sb]);
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
      if (err instanceof GrpcCallError && err.unavailable) this.health.error(err);
      else this.log.error({ pod: w.key, err }, 'pod sync failed; trying again');
    } finally {
      w.syncing = false;
    }
  }

  private async deletePod(w: Worker): Promise<void> {
    for (const c of w.containers.values()) c.prober?.stop();
    const grace = w.pod.spec.terminationGracePeriodSeconds ?? 30;
    const sandboxes = await this.o.cri.runtime.listPodSandbox({ labelSelector: { [LABEL.uid]: w.uid } });
    await teardown(this.o.cri.runtime, this.log, w.uid, grace, sandboxes);
    this.o.credentials?.remove(w.uid);
    removePodDir(this.o.dataDir, w.uid);
    this.workers.delete(w.uid);
    const [namespace, name] = w.key.split('/') as [string, string];
    this.log.info({ pod: w.key }, 'pod stopped and removed');
    this.o.sink.podRemoved({ namespace, name, uid: w.uid });
  }

  private async syncPod(w: Worker, snap: Snapshot | undefined): Promise<void> {
    const pod = w.pod;
    const problems = unsupported(pod);
    if (problems.length > 0) {
      // A pod edited into something edged cannot run stops running its old form.
      const sandboxes = snap ? snap.sandboxes.filter((x) => x.labels[LABEL.uid] === w.uid) : await this.o.cri.runtime.listPodSandbox({ labelSelector: { [LABEL.uid]: w.uid } });
      if (sandboxes.length > 0) await teardown(this.o.cri.runtime, this.log, w.uid, pod.spec.terminationGracePeriodSeconds ?? 30, sandboxes);
      w.sandboxId = undefined;
      this.emit(w, { phase: 'Failed', reason: 'Unsupported', message: problems.join('; '), conditions: [], containerStatuses: [] });
      return;
    }
    // Say Pending at once: pulling and starting can take a while, and the cloud should know the pod arrived.
    if (!w.status) this.emit(w, this.buildStatus(w, [], false));
    if (!(await ensureSandbox(this.sandboxes, w, snap))) {
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

    const views = await this.containers.sync(w, all, volumePaths, volumeError);
    this.emit(w, this.buildStatus(w, views, true));
  }

  private buildStatus(w: Worker, views: ContainerView[], sandboxReady: boolean): PodStatus {
    return buildPodStatus(w, views, sandboxReady, this.o.hostIP);
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
