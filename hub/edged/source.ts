// Where edged learns which pods to run, and where it tells what became of them. Two small
// interfaces so the same pod runtime serves a standalone gateway (Pod YAML in a folder) now and
// MetaManager (the cloud's copy, kept in SQLite) later.

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join, resolve } from 'node:path';
import { LineCounter, parseAllDocuments } from 'yaml';
import type { ConfigMap, Pod, PodStatus, Secret } from './pod.ts';

export type SourceEvent = { kind: 'pod' | 'configmap' | 'secret'; namespace: string; name: string };

/** The desired pods and the ConfigMaps and Secrets they reference. */
export interface PodSource {
  pods(): Pod[];
  configMap(namespace: string, name: string): ConfigMap | undefined;
  secret(namespace: string, name: string): Secret | undefined;
  /** Called after any pod, ConfigMap or Secret was added, changed or removed. */
  onChange(listener: (event: SourceEvent) => void): () => void;
}

export interface RuntimeView {
  reachable: boolean;
  endpoint: string;
  runtimeName?: string;
  runtimeVersion?: string;
  /** Why the runtime is not usable, for a node condition and the log. */
  message?: string;
}

/** Receives what edged observes: pod status patches and the runtime's state (for node status). */
export interface StatusSink {
  /** `patch` is the status as a Kubernetes merge patch body (JSON text) with the pod's UID as precondition. */
  podStatus(pod: { namespace: string; name: string; uid: string }, status: PodStatus, patch: string): void;
  /** The pod is gone from this gateway (deleted and its containers removed). */
  podRemoved(pod: { namespace: string; name: string; uid: string }): void;
  runtime(view: RuntimeView): void;
}

export interface SourceProblem {
  file: string;
  line?: number;
  message: string;
}

const FILE = /\.(ya?ml|json)$/i;

/**
 * Pods, ConfigMaps and Secrets from YAML or JSON files (one or many documents per file), a file
 * or a folder: the standalone gateway's `--pods <dir>`. reload() re-reads; listeners hear of
 * every object that changed, appeared or disappeared.
 */
export class DirPodSource implements PodSource {
  private podMap = new Map<string, Pod>();
  private cms = new Map<string, ConfigMap>();
  private secrets = new Map<string, Secret>();
  private listeners = new Set<(e: SourceEvent) => void>();

  constructor(private readonly paths: string[]) {}

  pods(): Pod[] {
    return [...this.podMap.values()];
  }

  configMap(namespace: string, name: string): ConfigMap | undefined {
    return this.cms.get(`${namespace}/${name}`);
  }

  secret(namespace: string, name: string): Secret | undefined {
    return this.secrets.get(`${namespace}/${name}`);
  }

  onChange(listener: (e: SourceEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Reads every file again; returns the documents that could not be used, with file and line. */
  reload(): SourceProblem[] {
    const problems: SourceProblem[] = [];
    const pods = new Map<string, Pod>();
    const cms = new Map<string, ConfigMap>();
    const secrets = new Map<string, Secret>();
    for (const file of this.files(problems)) {
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch (err) {
        problems.push({ file, message: `cannot read: ${(err as Error).message}` });
        continue;
      }
      const lines = new LineCounter();
      // YAML 1.1, as kubectl reads it: `defaultMode: 0400` is octal there.
      for (const doc of parseAllDocuments(text, { lineCounter: lines, version: '1.1' })) {
        const line = doc.range ? lines.linePos(doc.range[0]).line : undefined;
        if (doc.errors.length > 0) {
          problems.push({ file, line: doc.errors[0]!.linePos?.[0]?.line ?? line, message: `invalid YAML: ${doc.errors[0]!.message.split('\n')[0]}` });
          continue;
        }
        const obj = doc.toJS() as { kind?: string; metadata?: { name?: string; namespace?: string } } | null;
        if (!obj) continue;
        const name = obj.metadata?.name;
        if (!name) {
          problems.push({ file, line, message: `${obj.kind ?? 'document'} without metadata.name` });
          continue;
        }
        const ns = obj.metadata!.namespace ?? 'default';
        obj.metadata!.namespace = ns;
        const key = `${ns}/${name}`;
        const into = obj.kind === 'Pod' ? pods : obj.kind === 'ConfigMap' ? cms : obj.kind === 'Secret' ? secrets : undefined;
        if (!into) {
          problems.push({ file, line, message: `kind ${obj.kind ?? '(none)'} is not used by --pods (Pod, ConfigMap and Secret are); skipped` });
          continue;
        }
        if (into.has(key)) {
          problems.push({ file, line, message: `${obj.kind} ${key} is defined twice; the first one is kept` });
          continue;
        }
        if (obj.kind === 'Pod' && typeof (obj as Pod).spec !== 'object') {
          problems.push({ file, line, message: `Pod ${key} has no spec` });
          continue;
        }
        (into as Map<string, unknown>).set(key, obj);
      }
    }
    const changed: SourceEvent[] = [];
    diff(this.podMap, pods, 'pod', changed);
    diff(this.cms, cms, 'configmap', changed);
    diff(this.secrets, secrets, 'secret', changed);
    this.podMap = pods;
    this.cms = cms;
    this.secrets = secrets;
    for (const e of changed) for (const l of this.listeners) l(e);
    return problems;
  }

  private files(problems: SourceProblem[]): string[] {
    const out: string[] = [];
    for (const p of this.paths) {
      const abs = resolve(p);
      try {
        if (statSync(abs).isDirectory()) {
          for (const f of readdirSync(abs).sort()) if (FILE.test(extname(f) ? f : '')) out.push(join(abs, f));
        } else {
          out.push(abs);
        }
      } catch (err) {
        problems.push({ file: abs, message: `cannot read: ${(err as Error).message}` });
      }
    }
    return out;
  }
}

function diff<T>(before: Map<string, T>, after: Map<string, T>, kind: SourceEvent['kind'], out: SourceEvent[]): void {
  const ev = (key: string): SourceEvent => {
    const [namespace, name] = key.split('/') as [string, string];
    return { kind, namespace, name };
  };
  for (const [k, v] of after) if (!before.has(k) || JSON.stringify(before.get(k)) !== JSON.stringify(v)) out.push(ev(k));
  for (const k of before.keys()) if (!after.has(k)) out.push(ev(k));
}
