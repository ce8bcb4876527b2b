// The pod status Kubernetes shows, built from what the runtime reports and what the worker knows
// (backoffs, probes, why a container waits).

import type { ContainerStatus } from './cri/client.ts';
import type { ContainerStateView, ContainerStatusView, Pod, PodCondition, PodStatus } from './pod.ts';
import { nowIso, nsToIso, type ContainerView, type Worker } from './pod-worker.ts';

export function shouldRestart(pod: Pod, c: ContainerStatus): boolean {
  const policy = pod.spec.restartPolicy ?? 'Always';
  return policy === 'Always' || (policy === 'OnFailure' && c.exitCode !== 0);
}

export function buildPodStatus(w: Worker, views: ContainerView[], sandboxReady: boolean, hostIP: string): PodStatus {
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
      const restarting = shouldRestart(pod, latest) && (st.crash || st.waiting);
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
    hostIP,
    ...(w.podIP ? { podIP: w.podIP, podIPs: [{ ip: w.podIP }] } : {}),
    ...(w.startTime ? { startTime: w.startTime } : {}),
  };
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
