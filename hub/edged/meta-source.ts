// Edged on a cloud-linked gateway: the pods, ConfigMaps and Secrets come from MetaManager (the
// gateway's SQLite copy of what the cloud sent), so a gateway restarted with the cloud unreachable
// runs its pods again from that copy; what edged observes goes up through the link's outbox,
// the newest status per pod only, so an offline gateway sends each pod's last status when the
// cloud returns (KubeEdge: `{ns}/podpatch/{name}`, a strategic-merge patch as text).

import type { MetaChange, MetaManager } from '../metamanager/metamanager.ts';
import type { ConfigMap, Pod, PodStatus, Secret } from './pod.ts';
import type { PresenceUplink } from './node-presence.ts';
import type { PodSource, RuntimeView, SourceEvent, StatusSink } from './source.ts';

const KINDS = new Set<SourceEvent['kind']>(['pod', 'configmap', 'secret']);

export class MetaPodSource implements PodSource {
  private cache: Pod[] | undefined;

  constructor(private readonly meta: MetaManager, private readonly nodeName: string) {
    meta.on('change', () => (this.cache = undefined));
  }

  pods(): Pod[] {
    // The cloud sends only this node's pods; the filter guards against a copy from another name.
    this.cache ??= this.meta.list('pod').map((o) => o.value as Pod).filter((p) => p?.spec && p.spec.nodeName === this.nodeName);
    return this.cache;
  }

  configMap(namespace: string, name: string): ConfigMap | undefined {
    return this.meta.get(`${namespace}/configmap/${name}`)?.value as ConfigMap | undefined;
  }

  secret(namespace: string, name: string): Secret | undefined {
    return this.meta.get(`${namespace}/secret/${name}`)?.value as Secret | undefined;
  }

  onChange(listener: (event: SourceEvent) => void): () => void {
    const fn = (c: MetaChange) => {
      const key = c.op === 'delete' ? c.key : c.object.key;
      const [namespace, kind, name] = key.split('/') as [string, SourceEvent['kind'], string];
      if (KINDS.has(kind) && name !== undefined) listener({ kind, namespace, name });
    };
    this.meta.on('change', fn);
    return () => this.meta.off('change', fn);
  }
}

/** Pod statuses and removals up through the link; the runtime's view to whoever builds the node status. */
export class LinkStatusSink implements StatusSink {
  private readonly removed = new Set<string>();

  constructor(private readonly uplink: PresenceUplink, private readonly onRuntime?: (view: RuntimeView) => void) {}

  podStatus(pod: { namespace: string; name: string; uid: string }, _status: PodStatus, patch: string): void {
    this.uplink.latest(`podpatch/${pod.uid}`, {
      route: { source: 'edged', group: 'meta', operation: 'patch', resource: `${pod.namespace}/podpatch/${pod.name}` },
      content: patch,
    });
  }

  /**
   * The pod's containers are gone: the kubelet's final delete (grace period 0) that lets the API
   * server remove a pod it marked for deletion. The UID is the precondition, so a new pod of the
   * same name is never deleted by an old one's removal.
   */
  podRemoved(pod: { namespace: string; name: string; uid: string }): void {
    if (this.removed.has(pod.uid)) return;
    this.removed.add(pod.uid);
    this.uplink.latest(`poddelete/${pod.uid}`, {
      route: { source: 'edged', group: 'meta', operation: 'delete', resource: `${pod.namespace}/pod/${pod.name}` },
      content: { metadata: { namespace: pod.namespace, name: pod.name, uid: pod.uid } },
    });
  }

  runtime(view: RuntimeView): void {
    this.onRuntime?.(view);
  }
}
