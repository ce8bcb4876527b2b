// kube-controller-manager's node lifecycle, the part edge nodes meet: a node whose Lease in
// kube-node-lease (or its own Ready heartbeat) is older than the grace period gets its
// conditions set to Unknown ("Kubelet stopped posting node status."), which kubectl shows as
// NotReady. Bringing it back to Ready is the node's own job, as it is a kubelet's.
import type { Registry } from './registry.ts';

type Obj = Record<string, any>;

const LEASE_KEY = 'coordination.k8s.io/leases';
const CONDITIONS = ['Ready', 'MemoryPressure', 'DiskPressure', 'PIDPressure'];

function lastHeartbeat(node: Obj, lease: Obj | undefined): number {
  const times = [
    lease?.spec?.renewTime,
    (node.status?.conditions ?? []).find((c: Obj) => c.type === 'Ready')?.lastHeartbeatTime,
    node.metadata?.creationTimestamp,
  ].map((t) => (t ? Date.parse(t) : NaN)).filter((t) => !Number.isNaN(t));
  return Math.max(...times);
}

export function startNodeLifecycle(registry: Registry, graceMs: number): () => void {
  const nodes = registry.catalog.find('', 'v1', 'nodes')!;
  const check = () => {
    const now = Date.now();
    for (const node of registry.list(nodes)) {
      const lease = registry.store.get(LEASE_KEY, 'kube-node-lease', node.metadata.name);
      if (now - lastHeartbeat(node, lease) <= graceMs) continue;
      const conditions: Obj[] = node.status?.conditions ?? [];
      const ready = conditions.find((c) => c.type === 'Ready');
      if (ready?.status === 'Unknown') continue;
      const at = new Date(now).toISOString().replace(/\.\d{3}Z$/, 'Z');
      const unknown = (type: string): Obj => ({
        ...(conditions.find((c) => c.type === type) ?? { type, lastHeartbeatTime: at }),
        status: 'Unknown', reason: 'NodeStatusUnknown', message: 'Kubelet stopped posting node status.', lastTransitionTime: at,
      });
      node.status = {
        ...node.status,
        conditions: [...conditions.filter((c) => !CONDITIONS.includes(c.type)), ...CONDITIONS.filter((t) => t === 'Ready' || conditions.some((c) => c.type === t)).map(unknown)],
      };
      registry.putInternal(nodes, node);
    }
  };
  const timer = setInterval(check, Math.max(50, Math.min(5_000, Math.floor(graceMs / 4))));
  timer.unref();
  return () => clearInterval(timer);
}
