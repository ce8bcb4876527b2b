// What the pod manager remembers of each pod between syncs, and the labels that let it find the
// pod's sandboxes and containers in the runtime again (also after a gateway restart).

import type { Container, ContainerStatus, PodSandbox, PodSandboxConfig } from './cri/client.ts';
import type { ContainerSpec, Pod, PodStatus } from './pod.ts';
import type { Prober } from './probes.ts';

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
export const GRACE_ANNOTATION = 'edgetwin.io/termination-grace-seconds';

export interface Backoff { until: number; delayMs: number; message: string }

export interface ContainerState {
  crash?: Backoff;
  image?: Backoff;
  /** After a failed create: the runtime refused the config; asking again every sync only floods the log. */
  create?: Backoff;
  /** Why the container cannot be created now (ErrImagePull, CreateContainerConfigError...). */
  waiting?: { reason: string; message: string };
  prober?: Prober;
  proberFor?: string;
}

export interface Worker {
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
export interface Snapshot {
  sandboxes: PodSandbox[];
  containers: Container[];
}

/** A container of the spec with its newest attempt and the one before (the source of lastState). */
export interface ContainerView { spec: ContainerSpec; latest?: ContainerStatus; previous?: ContainerStatus }

/** The backoffs pods share: first delay, doubling up to max. */
export interface BackoffLimits { baseMs: number; maxMs: number }

export const nowIso = () => new Date().toISOString();
export const nsToIso = (ns: number) => (ns > 0 ? new Date(Math.floor(ns / 1e6)).toISOString() : undefined);

export function containerState(w: Worker, name: string): ContainerState {
  let s = w.containers.get(name);
  if (!s) w.containers.set(name, (s = {}));
  return s;
}
