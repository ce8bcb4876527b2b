// EdgeController: the pods of edge nodes, the ConfigMaps and Secrets those pods reference, and the
// edge nodes themselves go down to their gateway (KubeEdge's resources and operations, reliable:
// CloudHub keeps each until the node ACKs it and records what it acknowledged); what the gateway
// sends up (node register, node status patch, pod status patch, the kubelet's final pod delete,
// lease, events) is applied to the API server. A node can only write its own Node and Lease and
// the pods bound to it: the node name comes from CloudHub's session (the certificate), and each
// write is checked against it.

import type { CoreV1Event, V1ConfigMap, V1Node, V1Pod, V1Secret } from '@kubernetes/client-node';
import type { Logger } from '../../core/log.ts';
import { cloudResource, Groups, newMessage, Operations, Sources, type Message } from '../message/index.ts';
import type { Controller, ControllerContext } from './index.ts';
import { DEFAULT_BACKOFF, Informer } from './informer.ts';
import { isConflict, isNotFound, KubeApiError, type KubeClient } from './kube.ts';

/** The label KubeEdge gives edge nodes (common/constants/default.go). */
export const EDGE_NODE_LABEL = 'node-role.kubernetes.io/edge';
const STRATEGIC = 'application/strategic-merge-patch+json';
const MERGE = 'application/merge-patch+json';
const LEASE_NAMESPACE = 'kube-node-lease';

export interface EdgeControllerSettings {
  /** How often every cached pod, ConfigMap and Secret is offered to its node again (a node that lacks one gets it). */
  resyncMs: number;
}

export const EDGE_CONTROLLER_DEFAULTS: EdgeControllerSettings = { resyncMs: 60_000 };

type Ref = `${string}/${'configmap' | 'secret'}/${string}`;

/** The ConfigMaps and Secrets a pod needs on its node: volumes, env and envFrom. */
export function podReferences(pod: V1Pod): Ref[] {
  const ns = pod.metadata?.namespace ?? 'default';
  const out = new Set<Ref>();
  for (const v of pod.spec?.volumes ?? []) {
    if (v.configMap?.name) out.add(`${ns}/configmap/${v.configMap.name}`);
    if (v.secret?.secretName) out.add(`${ns}/secret/${v.secret.secretName}`);
  }
  for (const c of [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? [])]) {
    for (const e of c.env ?? []) {
      if (e.valueFrom?.configMapKeyRef?.name) out.add(`${ns}/configmap/${e.valueFrom.configMapKeyRef.name}`);
      if (e.valueFrom?.secretKeyRef?.name) out.add(`${ns}/secret/${e.valueFrom.secretKeyRef.name}`);
    }
    for (const f of c.envFrom ?? []) {
      if (f.configMapRef?.name) out.add(`${ns}/configmap/${f.configMapRef.name}`);
      if (f.secretRef?.name) out.add(`${ns}/secret/${f.secretRef.name}`);
    }
  }
  return [...out];
}

/** Upstream types this controller handles (KubeEdge routes these to its edgecontroller). */
const UPSTREAM_TYPES = new Set(['node', 'nodepatch', 'lease', 'podpatch', 'pod', 'event']);

export class EdgeController implements Controller {
  readonly name = 'edgecontroller';
  private readonly kube: KubeClient;
  private readonly log: Logger;
  private readonly nodes: Informer<V1Node>;
  private readonly pods: Informer<V1Pod>;
  private readonly configMaps: Informer<V1ConfigMap>;
  private readonly secrets: Informer<V1Secret>;
  /** Per pod UID: its node and the ConfigMaps and Secrets it references (KubeEdge's LocationCache). */
  private readonly placed = new Map<string, { node: string; refs: Ref[] }>();

  constructor(private readonly ctx: ControllerContext, settings: EdgeControllerSettings = EDGE_CONTROLLER_DEFAULTS) {
    this.kube = ctx.kube;
    this.log = ctx.log.child({ controller: 'edgecontroller' });
    const base = { resyncMs: settings.resyncMs, backoff: DEFAULT_BACKOFF, log: this.log };
    this.nodes = new Informer<V1Node>(ctx.kube, { ...base, path: '/api/v1/nodes', labelSelector: EDGE_NODE_LABEL, resyncMs: 0 });
    // Every bound pod; those of nodes that are not edge nodes are left to their kubelet.
    this.pods = new Informer<V1Pod>(ctx.kube, { ...base, path: '/api/v1/pods', fieldSelector: 'spec.nodeName!=' });
    this.configMaps = new Informer<V1ConfigMap>(ctx.kube, { ...base, path: '/api/v1/configmaps', resyncMs: 0 });
    this.secrets = new Informer<V1Secret>(ctx.kube, { ...base, path: '/api/v1/secrets', resyncMs: 0 });

    this.nodes.on({
      add: (n) => this.nodeChanged(n, true),
      update: (n) => this.nodeChanged(n, false),
      delete: (n) => this.sendToNode(n.metadata!.name!, Operations.DELETE, 'null', 'node', n.metadata!.name!, undefined),
    });
    this.pods.on({
      add: (p) => this.podChanged(p, Operations.INSERT),
      update: (p) => this.podChanged(p, Operations.UPDATE),
      delete: (p) => this.podDeleted(p),
      resync: (all) => all.forEach((p) => this.podChanged(p, Operations.UPDATE)),
    });
    this.configMaps.on({
      add: (c) => this.referencedChanged('configmap', c, Operations.INSERT),
      update: (c) => this.referencedChanged('configmap', c, Operations.UPDATE),
      delete: (c) => this.referencedChanged('configmap', c, Operations.DELETE),
    });
    // KubeEdge sends Secrets as `update` for adds too (downstream.go).
    this.secrets.on({
      add: (s) => this.referencedChanged('secret', s, Operations.UPDATE),
      update: (s) => this.referencedChanged('secret', s, Operations.UPDATE),
      delete: (s) => this.referencedChanged('secret', s, Operations.DELETE),
    });

    ctx.dispatch.register({
      controller: this.name,
      matches: (resource) => {
        const parts = resource.split('/');
        return parts.length === 3 && UPSTREAM_TYPES.has(parts[1]!);
      },
      handle: (node, msg, resource) => this.upstream(node, msg, resource),
    });
  }

  async start(): Promise<void> {
    // Nodes first: a pod is sent only once its node is known to be an edge node; ConfigMaps and
    // Secrets before pods, so a pod arrives after what it references.
    await this.nodes.start();
    await this.configMaps.start();
    await this.secrets.start();
    await this.pods.start();
  }

  async stop(): Promise<void> {
    await Promise.all([this.pods.stop(), this.configMaps.stop(), this.secrets.stop(), this.nodes.stop()]);
  }

  private isEdgeNode(name: string | undefined): name is string {
    return Boolean(name && this.nodes.get(undefined, name));
  }

  private nodeChanged(n: V1Node, added: boolean): void {
    const name = n.metadata!.name!;
    this.sendToNode(name, Operations.UPDATE, 'null', 'node', name, n);
    // A node that just became an edge node gets the pods already bound to it.
    if (added) for (const p of this.pods.list()) if (p.spec?.nodeName === name) this.podChanged(p, Operations.INSERT);
  }

  private podChanged(pod: V1Pod, op: string): void {
    const node = pod.spec?.nodeName;
    if (!this.isEdgeNode(node)) return;
    const refs = podReferences(pod);
    this.placed.set(pod.metadata!.uid!, { node, refs });
    for (const ref of refs) {
      const [ns, type, name] = ref.split('/') as [string, 'configmap' | 'secret', string];
      const obj = type === 'configmap' ? this.configMaps.get(ns, name) : this.secrets.get(ns, name);
      // A missing one is the pod's problem on the gateway (CreateContainerConfigError names it).
      if (obj) this.sendToNode(node, type === 'secret' ? Operations.UPDATE : Operations.INSERT, ns, type, name, obj);
    }
    this.sendToNode(node, op, pod.metadata!.namespace!, 'pod', pod.metadata!.name!, pod);
  }

  private podDeleted(pod: V1Pod): void {
    this.placed.delete(pod.metadata!.uid!);
    const node = pod.spec?.nodeName;
    if (!this.isEdgeNode(node)) return;
    this.sendToNode(node, Operations.DELETE, pod.metadata!.namespace!, 'pod', pod.metadata!.name!, pod);
  }

  private referencedChanged(type: 'configmap' | 'secret', obj: V1ConfigMap | V1Secret, op: string): void {
    const ns = obj.metadata!.namespace!;
    const name = obj.metadata!.name!;
    const ref: Ref = `${ns}/${type}/${name}`;
    const nodes = new Set<string>();
    for (const p of this.placed.values()) if (p.refs.includes(ref)) nodes.add(p.node);
    for (const node of nodes) this.sendToNode(node, op, ns, type, name, obj);
  }

  private sendToNode(node: string, op: string, ns: string, type: string, name: string, obj: { metadata?: { resourceVersion?: string } } | undefined): void {
    const rv = obj?.metadata?.resourceVersion;
    const msg = newMessage(
      { source: Sources.EDGECONTROLLER, group: Groups.RESOURCE, operation: op, resource: cloudResource(node, ns, type, name) },
      obj ?? null,
      rv ? { resourceVersion: rv } : {},
    );
    this.ctx.link.send(node, msg).catch((err: Error) => this.log.error({ node, resource: msg.route.resource, err: err.message }, 'cannot queue a message for the node'));
  }

  /** An edge message of this controller: applied to the API server before the edge is answered. */
  private async upstream(node: string, msg: Message, resource: string): Promise<void> {
    const [ns, type, name] = resource.split('/') as [string, string, string];
    const op = msg.route.operation;
    try {
      await withRetries(() => this.apply(node, ns, type, name, op, msg.content));
    } catch (err) {
      if (err instanceof Refused) {
        // The node asked for something it may not do, or that no longer makes sense: answering an
        // error makes the edge drop it, which is what it should do.
        this.log.warn({ node, resource, operation: op, reason: err.message }, 'edge message refused');
      }
      throw err;
    }
  }

  private async apply(node: string, ns: string, type: string, name: string, op: string, content: unknown): Promise<void> {
    switch (type) {
      case 'node':
        if (name !== node) throw new Refused(`node ${node} may register only itself, not ${name}`);
        if (op !== Operations.INSERT && op !== Operations.UPDATE) throw new Refused(`operation ${op} on a node is not supported`);
        return this.registerNode(node, content as V1Node);
      case 'nodepatch':
        if (name !== node) throw new Refused(`node ${node} may patch only its own status, not ${name}`);
        await this.ignoreNotFound(this.kube.request('PATCH', `/api/v1/nodes/${encodeURIComponent(node)}/status`, { body: patchBody(content), contentType: STRATEGIC }));
        return;
      case 'lease':
        if (name !== node || ns !== LEASE_NAMESPACE) throw new Refused(`node ${node} may renew only its own lease, not ${ns}/${name}`);
        return this.renewLease(node, content as { spec?: Record<string, unknown> });
      case 'podpatch': {
        const pod = this.ownPod(node, ns, name);
        const patch = patchBody(content) as { metadata?: { uid?: string } };
        if (patch.metadata?.uid && patch.metadata.uid !== pod.metadata?.uid) throw new Refused(`the status is for pod ${ns}/${name} with uid ${patch.metadata.uid}, which is gone`);
        const { body, contentType } = podStatusPatch(content, patch);
        await this.ignoreNotFound(this.kube.request('PATCH', `/api/v1/namespaces/${encodeURIComponent(ns)}/pods/${encodeURIComponent(name)}/status`, { body, contentType }));
        return;
      }
      case 'pod': {
        if (op !== Operations.DELETE) throw new Refused(`pods made on the gateway (${op}) are not supported`);
        // Gone already (force-deleted, or this is a resend): what the node asked for is done.
        if (!this.pods.get(ns, name)) return;
        const pod = this.ownPod(node, ns, name);
        const uid = (content as { metadata?: { uid?: string } } | null)?.metadata?.uid;
        if (uid && uid !== pod.metadata?.uid) return; // that pod is gone already; a new one of the same name stays
        // The kubelet's final delete: its containers are gone, the API server may drop the object.
        await this.ignoreNotFound(this.kube.request('DELETE', `/api/v1/namespaces/${encodeURIComponent(ns)}/pods/${encodeURIComponent(name)}`, {
          body: { apiVersion: 'v1', kind: 'DeleteOptions', gracePeriodSeconds: 0, preconditions: { uid: pod.metadata!.uid } },
        }));
        return;
      }
      case 'event': {
        const ev = content as CoreV1Event;
        if (!ev || typeof ev !== 'object') throw new Refused('an event without content');
        ev.metadata = { ...ev.metadata, namespace: ns, name };
        ev.source = { component: 'edgetwin', host: node };
        try {
          await this.kube.request('POST', `/api/v1/namespaces/${encodeURIComponent(ns)}/events`, { body: ev });
        } catch (err) {
          if (!isConflict(err)) throw err;
        }
        return;
      }
      default:
        throw new Refused(`type ${type} is not handled`);
    }
  }

  /** The pod from the cache, if it is bound to `node`; the node may touch no other. */
  private ownPod(node: string, ns: string, name: string): V1Pod {
    const pod = this.pods.get(ns, name);
    if (!pod) throw new Refused(`pod ${ns}/${name} does not exist (any more)`);
    if (pod.spec?.nodeName !== node) throw new Refused(`pod ${ns}/${name} is bound to ${pod.spec?.nodeName}, not to ${node}`);
    return pod;
  }

  private async registerNode(node: string, body: V1Node): Promise<void> {
    const labels = { ...body.metadata?.labels, [EDGE_NODE_LABEL]: '' };
    const path = `/api/v1/nodes/${encodeURIComponent(node)}`;
    try {
      await this.kube.request('POST', '/api/v1/nodes', { body: { apiVersion: 'v1', kind: 'Node', metadata: { name: node, labels }, spec: body.spec ?? {} } });
      this.log.info({ node }, 'node registered');
    } catch (err) {
      if (!isConflict(err)) throw err;
      // Registered before: make sure it still carries the edge role (KubeEdge patches its labels after create).
      await this.kube.request('PATCH', path, { body: { metadata: { labels } }, contentType: MERGE });
    }
    if (body.status) await this.kube.request('PATCH', `${path}/status`, { body: { status: body.status }, contentType: STRATEGIC });
  }

  private async renewLease(node: string, lease: { spec?: Record<string, unknown> }): Promise<void> {
    const spec = { holderIdentity: node, leaseDurationSeconds: 40, ...lease.spec };
    const path = `/apis/coordination.k8s.io/v1/namespaces/${LEASE_NAMESPACE}/leases/${encodeURIComponent(node)}`;
    try {
      await this.kube.request('PATCH', path, { body: { spec }, contentType: MERGE });
    } catch (err) {
      if (!isNotFound(err)) throw err;
      const nodeObj = await this.kube.request<V1Node>('GET', `/api/v1/nodes/${encodeURIComponent(node)}`).catch(() => undefined);
      const owner = nodeObj?.metadata?.uid ? [{ apiVersion: 'v1', kind: 'Node', name: node, uid: nodeObj.metadata.uid }] : undefined;
      try {
        await this.kube.request('POST', `/apis/coordination.k8s.io/v1/namespaces/${LEASE_NAMESPACE}/leases`, {
          body: { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: node, namespace: LEASE_NAMESPACE, ...(owner ? { ownerReferences: owner } : {}) }, spec },
        });
      } catch (e) {
        if (!isNotFound(e)) throw e;
        // A cluster without the lease namespace (a bare API server): make it, then the lease.
        await this.kube.request('POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: LEASE_NAMESPACE } } }).catch((x) => {
          if (!isConflict(x)) throw x;
        });
        await this.kube.request('POST', `/apis/coordination.k8s.io/v1/namespaces/${LEASE_NAMESPACE}/leases`, {
          body: { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: node, namespace: LEASE_NAMESPACE }, spec },
        });
      }
    }
  }

  private async ignoreNotFound(p: Promise<unknown>): Promise<void> {
    try {
      await p;
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }
}

/**
 * The fields of v1.PodStatus the kubelet owns: one an edge's full status leaves out is removed.
 * Those other writers own (qosClass, set once by the API server; nominatedNodeName, resize,
 * resourceClaimStatuses) are never touched.
 */
const POD_STATUS_FIELDS = ['phase', 'conditions', 'message', 'reason', 'hostIP', 'hostIPs', 'podIP', 'podIPs', 'startTime',
  'initContainerStatuses', 'containerStatuses', 'ephemeralContainerStatuses'];

/**
 * How a pod status from the edge is applied. KubeEdge's edged sends the kubelet status manager's
 * strategic-merge patch (with `$setElementOrder` and nulls for what went away): applied as it is.
 * edgetwin's edged sends the whole status; as a strategic merge it would keep what is gone (a
 * container state's old `waiting` beside its new `running`, a condition's old reason), so it goes
 * as a merge patch, which replaces the lists, with a null for each status field it leaves out.
 */
export function podStatusPatch(text: unknown, parsed: unknown): { body: unknown; contentType: string } {
  if (typeof text === 'string' && text.includes('"$')) return { body: parsed, contentType: STRATEGIC };
  const p = parsed as { metadata?: unknown; status?: Record<string, unknown> };
  const status: Record<string, unknown> = { ...p.status };
  for (const f of POD_STATUS_FIELDS) if (!(f in status)) status[f] = null;
  return { body: { status }, contentType: MERGE };
}

/** Not worth sending again: a refusal by us or a 4xx from the API server. */
class Refused extends Error {}

/** KubeEdge's edge sends status patches as JSON text; a JSON object is accepted too. */
function patchBody(content: unknown): unknown {
  if (typeof content !== 'string') return content;
  try {
    return JSON.parse(content) as unknown;
  } catch {
    throw new Refused('the patch is not JSON');
  }
}

/** The API server down or overloaded is retried here (3 tries over ~3.5 s) before the edge is told to send again. */
async function withRetries(fn: () => Promise<void>): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      const permanent = err instanceof Refused || (err instanceof KubeApiError && err.status < 500 && err.status !== 429);
      if (permanent || attempt >= 2) throw err;
      await new Promise((r) => setTimeout(r, 500 * 2 ** attempt));
    }
  }
}

export const edgeControllerFactory = (ctx: ControllerContext): Controller =>
  new EdgeController(ctx, { ...EDGE_CONTROLLER_DEFAULTS, ...(ctx.config.edge as Partial<EdgeControllerSettings> | undefined) });
