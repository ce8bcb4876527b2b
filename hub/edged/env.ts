// A container's environment from its Pod spec: literal values, ConfigMap and Secret keys
// (env and envFrom), the downward API fields edged supports, and the variables that let an app
// in a pod find the gateway.

import type { ContainerSpec, Pod } from './pod.ts';
import type { VolumeLookup } from './volumes.ts';
import { VolumeError } from './volumes.ts';

export interface EnvContext {
  nodeName: string;
  podIP: string;
  hostIP: string;
  uid: string;
  /** Added to every container (EDGETWIN_MQTT_URL, EDGETWIN_API_URL); the spec's own values win. */
  extra: Record<string, string>;
}

const secretValue = (b64: string | undefined, plain: string | undefined) => (plain !== undefined ? plain : b64 !== undefined ? Buffer.from(b64, 'base64').toString('utf8') : undefined);

/** Throws VolumeError(CreateContainerConfigError) naming the missing ConfigMap, Secret or key. */
export function buildEnv(pod: Pod, c: ContainerSpec, lookup: VolumeLookup, ctx: EnvContext): { key: string; value: string }[] {
  const ns = pod.metadata.namespace ?? 'default';
  const env = new Map<string, string>(Object.entries(ctx.extra));
  const fail = (msg: string) => new VolumeError('CreateContainerConfigError', `container ${c.name}: ${msg}`);
  for (const from of c.envFrom ?? []) {
    const prefix = from.prefix ?? '';
    if (from.configMapRef) {
      const cm = lookup.configMap(ns, from.configMapRef.name);
      if (!cm && !from.configMapRef.optional) throw fail(`configmap "${from.configMapRef.name}" not found`);
      for (const [k, v] of Object.entries(cm?.data ?? {})) env.set(prefix + k, String(v));
    }
    if (from.secretRef) {
      const s = lookup.secret(ns, from.secretRef.name);
      if (!s && !from.secretRef.optional) throw fail(`secret "${from.secretRef.name}" not found`);
      const keys = new Set([...Object.keys(s?.data ?? {}), ...Object.keys(s?.stringData ?? {})]);
      for (const k of keys) env.set(prefix + k, secretValue(s?.data?.[k], s?.stringData?.[k])!);
    }
  }
  for (const e of c.env ?? []) {
    if (e.valueFrom?.configMapKeyRef) {
      const ref = e.valueFrom.configMapKeyRef;
      const cm = lookup.configMap(ns, ref.name);
      const v = cm?.data?.[ref.key];
      if (v === undefined) {
        if (ref.optional) continue;
        throw fail(cm ? `key "${ref.key}" not found in configmap "${ref.name}" (env ${e.name})` : `configmap "${ref.name}" not found (env ${e.name})`);
      }
      env.set(e.name, String(v));
    } else if (e.valueFrom?.secretKeyRef) {
      const ref = e.valueFrom.secretKeyRef;
      const s = lookup.secret(ns, ref.name);
      const v = secretValue(s?.data?.[ref.key], s?.stringData?.[ref.key]);
      if (v === undefined) {
        if (ref.optional) continue;
        throw fail(s ? `key "${ref.key}" not found in secret "${ref.name}" (env ${e.name})` : `secret "${ref.name}" not found (env ${e.name})`);
      }
      env.set(e.name, v);
    } else if (e.valueFrom?.fieldRef) {
      env.set(e.name, fieldValue(pod, e.valueFrom.fieldRef.fieldPath, ctx));
    } else {
      env.set(e.name, expand(e.value ?? '', env));
    }
  }
  return [...env].map(([key, value]) => ({ key, value }));
}

function fieldValue(pod: Pod, path: string, ctx: EnvContext): string {
  switch (path) {
    case 'metadata.name': return pod.metadata.name;
    case 'metadata.namespace': return pod.metadata.namespace ?? 'default';
    case 'metadata.uid': return ctx.uid;
    case 'spec.nodeName': return ctx.nodeName;
    case 'spec.serviceAccountName': return String(pod.spec.serviceAccountName ?? 'default');
    case 'status.podIP': return ctx.podIP;
    case 'status.hostIP': return ctx.hostIP;
    default: return '';
  }
}

/** `$(VAR)` references to earlier variables, as Kubernetes expands them; `$$` escapes. */
function expand(value: string, env: Map<string, string>): string {
  return value.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (m, name: string | undefined) => {
    if (m === '$$') return '$';
    return env.has(name!) ? env.get(name!)! : m;
  });
}
