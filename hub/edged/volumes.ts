// Pod volumes on the gateway's disk, under <dataDir>/edged/pods/<uid>/volumes. ConfigMap and
// Secret volumes are updated atomically while a container has them mounted: the files are
// symlinks into a `..data` link that is swapped in one rename, so a reader never sees half an
// update (the scheme Kubernetes uses; a bind mount of the folder keeps seeing the new link).

import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, normalize, isAbsolute } from 'node:path';
import type { ConfigMap, KeyToPath, Pod, Secret, Volume } from './pod.ts';
import type { Mount } from './cri/types.ts';

export class VolumeError extends Error {
  constructor(readonly reason: string, message: string) {
    super(message);
  }
}

export interface VolumeLookup {
  configMap(namespace: string, name: string): ConfigMap | undefined;
  secret(namespace: string, name: string): Secret | undefined;
}

export function podDir(dataDir: string, uid: string): string {
  return join(dataDir, 'edged', 'pods', uid);
}

/** Key -> file content of a ConfigMap or Secret (Secret data is base64, stringData plain). */
function contents(src: ConfigMap | Secret | undefined, kind: 'configMap' | 'secret'): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  if (!src) return out;
  if (kind === 'configMap') {
    const cm = src as ConfigMap;
    for (const [k, v] of Object.entries(cm.data ?? {})) out.set(k, Buffer.from(String(v)));
    for (const [k, v] of Object.entries(cm.binaryData ?? {})) out.set(k, Buffer.from(String(v), 'base64'));
  } else {
    const s = src as Secret;
    for (const [k, v] of Object.entries(s.data ?? {})) out.set(k, Buffer.from(String(v), 'base64'));
    for (const [k, v] of Object.entries(s.stringData ?? {})) out.set(k, Buffer.from(String(v)));
  }
  return out;
}

function safeRelative(p: string): boolean {
  const n = normalize(p);
  return !isAbsolute(n) && !n.startsWith('..') && n !== '.';
}

/** Writes `files` (relative path -> content, mode) into `dir` with an atomic swap; false when unchanged. */
function atomicWrite(dir: string, files: Map<string, { data: Buffer; mode: number }>): boolean {
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const dataLink = join(dir, '..data');
  const signature = JSON.stringify([...files].sort(([a], [b]) => a.localeCompare(b)).map(([p, f]) => [p, f.mode, f.data.toString('base64')]));
  const sigFile = (d: string) => join(dir, d, '..signature');
  let current: string | undefined;
  try {
    current = readlinkSync(dataLink);
  } catch {
    current = undefined;
  }
  if (current && existsSync(sigFile(current)) && readFileSync(sigFile(current), 'utf8') === signature) return false;
  const stamp = `..${Date.now()}_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  const staged = join(dir, stamp);
  mkdirSync(staged, { mode: 0o755 });
  for (const [rel, f] of files) {
    const target = join(staged, rel);
    mkdirSync(dirname(target), { recursive: true, mode: 0o755 });
    writeFileSync(target, f.data, { mode: f.mode });
    chmodSync(target, f.mode);
  }
  writeFileSync(sigFile(stamp), signature, { mode: 0o600 });
  const tmpLink = join(dir, '..data_tmp');
  rmSync(tmpLink, { force: true });
  symlinkSync(stamp, tmpLink);
  renameSync(tmpLink, dataLink);
  // Top-level names point through ..data so they follow every later swap.
  const top = new Set([...files.keys()].map((rel) => rel.split('/')[0]!));
  for (const name of top) {
    const link = join(dir, name);
    let ok = false;
    try {
      ok = readlinkSync(link) === join('..data', name);
    } catch {
      ok = false;
    }
    if (!ok) {
      rmSync(link, { force: true, recursive: true });
      symlinkSync(join('..data', name), link);
    }
  }
  for (const entry of readdirSync(dir)) {
    if (entry === '..data' || entry === stamp) continue;
    if (entry.startsWith('..')) rmSync(join(dir, entry), { recursive: true, force: true });
    else if (!top.has(entry)) rmSync(join(dir, entry), { recursive: true, force: true });
  }
  return true;
}

function projected(all: Map<string, Buffer>, items: KeyToPath[] | undefined, defaultMode: number, where: string): Map<string, { data: Buffer; mode: number }> {
  const out = new Map<string, { data: Buffer; mode: number }>();
  if (!items || items.length === 0) {
    for (const [k, v] of all) out.set(k, { data: v, mode: defaultMode });
    return out;
  }
  for (const it of items) {
    const v = all.get(it.key);
    if (v === undefined) throw new VolumeError('CreateContainerConfigError', `${where}: key "${it.key}" not found`);
    if (!safeRelative(it.path)) throw new VolumeError('CreateContainerConfigError', `${where}: item path "${it.path}" must be relative and stay inside the volume`);
    out.set(normalize(it.path), { data: v, mode: it.mode ?? defaultMode });
  }
  return out;
}

/**
 * Brings every volume of the pod to its desired content and returns the host path of each by
 * name. Throws VolumeError (with a Kubernetes waiting reason) when a referenced ConfigMap or
 * Secret is missing and not optional. Returns `changed` when a ConfigMap/Secret file changed.
 */
export function syncVolumes(pod: Pod, uid: string, dataDir: string, lookup: VolumeLookup): { paths: Map<string, string>; changed: boolean } {
  const ns = pod.metadata.namespace ?? 'default';
  const base = join(podDir(dataDir, uid), 'volumes');
  // The pod folder is private to root: Secret files must not be readable by other host users.
  mkdirSync(podDir(dataDir, uid), { recursive: true, mode: 0o700 });
  chmodSync(podDir(dataDir, uid), 0o700);
  const paths = new Map<string, string>();
  let changed = false;
  for (const v of pod.spec.volumes ?? []) {
    paths.set(v.name, volumePath(v, base, ns, lookup, (c) => (changed ||= c)));
  }
  return { paths, changed };
}

function volumePath(v: Volume, base: string, ns: string, lookup: VolumeLookup, changed: (c: boolean) => void): string {
  if (v.configMap) {
    const cm = lookup.configMap(ns, v.configMap.name);
    if (!cm && !v.configMap.optional) throw new VolumeError('CreateContainerConfigError', `volume ${v.name}: configmap "${v.configMap.name}" not found in namespace ${ns}`);
    const dir = join(base, 'configmap', v.name);
    changed(atomicWrite(dir, projected(contents(cm, 'configMap'), v.configMap.items, v.configMap.defaultMode ?? 0o644, `volume ${v.name}: configmap ${v.configMap.name}`)));
    return dir;
  }
  if (v.secret) {
    const s = lookup.secret(ns, v.secret.secretName);
    if (!s && !v.secret.optional) throw new VolumeError('CreateContainerConfigError', `volume ${v.name}: secret "${v.secret.secretName}" not found in namespace ${ns}`);
    const dir = join(base, 'secret', v.name);
    changed(atomicWrite(dir, projected(contents(s, 'secret'), v.secret.items, v.secret.defaultMode ?? 0o644, `volume ${v.name}: secret ${v.secret.secretName}`)));
    return dir;
  }
  if (v.emptyDir) {
    const dir = join(base, 'empty-dir', v.name);
    if (!existsSync(dir)) {
      mkdirSync(dir, { recursive: true });
      chmodSync(dir, 0o777);
    }
    return dir;
  }
  if (v.hostPath) return hostPath(v);
  throw new VolumeError('CreateContainerConfigError', `volume ${v.name}: unsupported volume type`);
}

function hostPath(v: Volume): string {
  const { path, type = '' } = v.hostPath!;
  if (!isAbsolute(path)) throw new VolumeError('CreateContainerConfigError', `volume ${v.name}: hostPath "${path}" must be absolute`);
  const st = (() => {
    try {
      return statSync(path);
    } catch {
      return undefined;
    }
  })();
  switch (type) {
    case '':
      return path;
    case 'DirectoryOrCreate':
      if (!st) mkdirSync(path, { recursive: true, mode: 0o755 });
      else if (!st.isDirectory()) throw new VolumeError('CreateContainerConfigError', `volume ${v.name}: hostPath ${path} is not a directory`);
      return path;
    case 'Directory':
      if (!st?.isDirectory()) throw new VolumeError('CreateContainerConfigError', `volume ${v.name}: hostPath ${path} is not an existing directory (type Directory)`);
      return path;
    case 'FileOrCreate':
      if (!st) {
        mkdirSync(dirname(path), { recursive: true });
        writeFileSync(path, '', { mode: 0o644 });
      } else if (!st.isFile()) throw new VolumeError('CreateContainerConfigError', `volume ${v.name}: hostPath ${path} is not a file`);
      return path;
    case 'File':
      if (!st?.isFile()) throw new VolumeError('CreateContainerConfigError', `volume ${v.name}: hostPath ${path} is not an existing file (type File)`);
      return path;
    case 'Socket':
      if (!st?.isSocket()) throw new VolumeError('CreateContainerConfigError', `volume ${v.name}: hostPath ${path} is not a socket (type Socket)`);
      return path;
    default:
      throw new VolumeError('CreateContainerConfigError', `volume ${v.name}: hostPath type ${type} is not supported (use "", Directory, DirectoryOrCreate, File, FileOrCreate or Socket)`);
  }
}

/** The CRI mounts of one container from its volumeMounts. */
export function containerMounts(pod: Pod, containerIndex: number, paths: Map<string, string>): Mount[] {
  const c = pod.spec.containers[containerIndex]!;
  const byName = new Map((pod.spec.volumes ?? []).map((v) => [v.name, v]));
  return (c.volumeMounts ?? []).map((m) => {
    const v = byName.get(m.name)!;
    let host = paths.get(m.name)!;
    if (m.subPath) {
      if (!safeRelative(m.subPath)) throw new VolumeError('CreateContainerConfigError', `container ${c.name}: subPath "${m.subPath}" must be relative and stay inside the volume`);
      host = join(host, m.subPath);
    }
    // ConfigMap and Secret volumes are read-only inside a container, as in Kubernetes.
    const readonly = Boolean(m.readOnly) || Boolean(v.configMap) || Boolean(v.secret);
    return { containerPath: m.mountPath, hostPath: host, readonly };
  });
}

export function removePodDir(dataDir: string, uid: string): void {
  rmSync(podDir(dataDir, uid), { recursive: true, force: true });
}
