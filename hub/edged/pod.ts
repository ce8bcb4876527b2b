// The part of the Kubernetes Pod, ConfigMap and Secret objects edged acts on, and the checks that
// turn a field edged does not support into a reason in the pod's status instead of a silent
// difference (docs/edged.md lists what is supported).

import { createHash } from 'node:crypto';

export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  deletionTimestamp?: string;
  creationTimestamp?: string;
}

export interface KeyRef { name: string; key: string; optional?: boolean }

export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: {
    configMapKeyRef?: KeyRef;
    secretKeyRef?: KeyRef;
    fieldRef?: { fieldPath: string };
  };
}

export interface EnvFromSource {
  prefix?: string;
  configMapRef?: { name: string; optional?: boolean };
  secretRef?: { name: string; optional?: boolean };
}

export interface Probe {
  exec?: { command: string[] };
  httpGet?: { path?: string; port: number | string; host?: string; scheme?: string; httpHeaders?: { name: string; value: string }[] };
  tcpSocket?: { port: number | string; host?: string };
  initialDelaySeconds?: number;
  periodSeconds?: number;
  timeoutSeconds?: number;
  successThreshold?: number;
  failureThreshold?: number;
}

export interface ContainerSpec {
  name: string;
  image: string;
  imagePullPolicy?: 'Always' | 'IfNotPresent' | 'Never';
  command?: string[];
  args?: string[];
  workingDir?: string;
  env?: EnvVar[];
  envFrom?: EnvFromSource[];
  ports?: { containerPort: number; hostPort?: number; protocol?: 'TCP' | 'UDP' | 'SCTP'; hostIP?: string; name?: string }[];
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean; subPath?: string }[];
  resources?: { requests?: Record<string, string | number>; limits?: Record<string, string | number> };
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  startupProbe?: Probe;
  securityContext?: { privileged?: boolean; readOnlyRootFilesystem?: boolean; runAsUser?: number };
  stdin?: boolean;
  tty?: boolean;
}

export interface KeyToPath { key: string; path: string; mode?: number }

export interface Volume {
  name: string;
  configMap?: { name: string; items?: KeyToPath[]; defaultMode?: number; optional?: boolean };
  secret?: { secretName: string; items?: KeyToPath[]; defaultMode?: number; optional?: boolean };
  emptyDir?: { medium?: string; sizeLimit?: string };
  hostPath?: { path: string; type?: string };
}

export interface PodSpec {
  nodeName?: string;
  containers: ContainerSpec[];
  initContainers?: unknown[];
  volumes?: Volume[];
  restartPolicy?: 'Always' | 'OnFailure' | 'Never';
  hostNetwork?: boolean;
  terminationGracePeriodSeconds?: number;
  hostname?: string;
  dnsPolicy?: string;
  [other: string]: unknown;
}

export interface Pod {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  spec: PodSpec;
  status?: PodStatus;
}

export interface ConfigMap { metadata: ObjectMeta; data?: Record<string, string>; binaryData?: Record<string, string> }
export interface Secret { metadata: ObjectMeta; data?: Record<string, string>; stringData?: Record<string, string>; type?: string }

export interface ContainerStateView {
  waiting?: { reason: string; message?: string };
  running?: { startedAt: string };
  terminated?: { exitCode: number; reason: string; message?: string; startedAt?: string; finishedAt?: string; containerID?: string };
}

export interface ContainerStatusView {
  name: string;
  image: string;
  imageID: string;
  containerID?: string;
  ready: boolean;
  started: boolean;
  restartCount: number;
  state: ContainerStateView;
  lastState: ContainerStateView;
}

export interface PodCondition { type: string; status: 'True' | 'False' | 'Unknown'; reason?: string; message?: string; lastTransitionTime?: string }

export interface PodStatus {
  phase: 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Unknown';
  conditions: PodCondition[];
  containerStatuses: ContainerStatusView[];
  podIP?: string;
  podIPs?: { ip: string }[];
  hostIP?: string;
  startTime?: string;
  reason?: string;
  message?: string;
}

export const podKey = (p: { metadata: ObjectMeta }) => `${p.metadata.namespace ?? 'default'}/${p.metadata.name}`;

/**
 * A pod's UID. Pods from the cloud carry one; a standalone Pod YAML usually does not, so one is
 * derived from namespace/name: stable across restarts, which is what lets a restarted gateway
 * adopt the containers it left running.
 */
export function podUid(p: Pod): string {
  if (p.metadata.uid) return p.metadata.uid;
  const h = createHash('sha256').update(`edgetwin-standalone/${podKey(p)}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/** Stable JSON (sorted keys) so equal specs hash equal whatever order their YAML had. */
function stable(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(stable);
  if (v && typeof v === 'object') return Object.fromEntries(Object.keys(v).sort().map((k) => [k, stable((v as Record<string, unknown>)[k])]));
  return v;
}

export const specHash = (v: unknown) => createHash('sha256').update(JSON.stringify(stable(v))).digest('hex').slice(0, 16);

/** What decides the sandbox: a change here means a new sandbox (and so new containers). */
export function sandboxHash(p: Pod): string {
  const ports = p.spec.containers.flatMap((c) => (c.ports ?? []).filter((x) => x.hostPort));
  return specHash({ hostNetwork: Boolean(p.spec.hostNetwork), hostname: p.spec.hostname ?? '', ports });
}

/** A container's hash covers its spec and the volumes it mounts (a changed source means a restart). */
export function containerHash(p: Pod, c: ContainerSpec): string {
  const mounted = new Set((c.volumeMounts ?? []).map((m) => m.name));
  return specHash({ c, volumes: (p.spec.volumes ?? []).filter((v) => mounted.has(v.name)) });
}

const SUPPORTED_FIELD_REFS = new Set(['metadata.name', 'metadata.namespace', 'metadata.uid', 'spec.nodeName', 'spec.serviceAccountName', 'status.podIP', 'status.hostIP']);

/** Problems that keep the pod from running on this gateway, each naming the field. Empty when fine. */
export function unsupported(p: Pod): string[] {
  const out: string[] = [];
  if (!p.metadata?.name) out.push('metadata.name is required');
  if (!Array.isArray(p.spec?.containers) || p.spec.containers.length === 0) out.push('spec.containers needs at least one container');
  if (p.spec?.initContainers && p.spec.initContainers.length > 0) out.push('spec.initContainers is not supported by edgetwin\'s edged');
  const vols = new Set<string>();
  for (const [i, v] of (p.spec?.volumes ?? []).entries()) {
    vols.add(v.name);
    const kinds = ['configMap', 'secret', 'emptyDir', 'hostPath'].filter((k) => (v as unknown as Record<string, unknown>)[k] !== undefined);
    if (kinds.length !== 1) out.push(`spec.volumes[${i}] (${v.name}): only configMap, secret, emptyDir and hostPath volumes are supported`);
  }
  for (const [i, c] of (p.spec?.containers ?? []).entries()) {
    const at = `spec.containers[${i}] (${c.name})`;
    if (!c.name) out.push(`spec.containers[${i}].name is required`);
    if (!c.image) out.push(`${at}.image is required`);
    for (const m of c.volumeMounts ?? []) if (!vols.has(m.name)) out.push(`${at}.volumeMounts: no volume named "${m.name}"`);
    for (const e of c.env ?? []) {
      const f = e.valueFrom?.fieldRef?.fieldPath;
      if (f && !SUPPORTED_FIELD_REFS.has(f)) out.push(`${at}.env ${e.name}: fieldRef ${f} is not supported (use one of ${[...SUPPORTED_FIELD_REFS].join(', ')})`);
      if (e.valueFrom && !e.valueFrom.configMapKeyRef && !e.valueFrom.secretKeyRef && !e.valueFrom.fieldRef) out.push(`${at}.env ${e.name}: only configMapKeyRef, secretKeyRef and fieldRef are supported in valueFrom`);
    }
    for (const [k, probe] of [['livenessProbe', c.livenessProbe], ['readinessProbe', c.readinessProbe], ['startupProbe', c.startupProbe]] as const) {
      if (probe && !probe.exec && !probe.httpGet && !probe.tcpSocket) out.push(`${at}.${k}: only exec, httpGet and tcpSocket probes are supported`);
    }
    for (const [kind, q] of Object.entries({ ...c.resources?.requests, ...c.resources?.limits })) {
      if ((kind === 'cpu' || kind === 'memory') && parseQuantity(String(q)) === undefined) out.push(`${at}.resources ${kind}: "${q}" is not a Kubernetes quantity`);
    }
  }
  return out;
}

const SUFFIX: Record<string, number> = {
  '': 1, m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18,
  Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4, Pi: 1024 ** 5, Ei: 1024 ** 6,
};

/** A Kubernetes resource quantity ("250m", "0.5", "128Mi", "1G", "1e3") as a number, or undefined. */
export function parseQuantity(q: string): number | undefined {
  const m = /^([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/.exec(q.trim());
  if (!m) return undefined;
  return Number(m[1]) * SUFFIX[m[2] ?? '']!;
}
