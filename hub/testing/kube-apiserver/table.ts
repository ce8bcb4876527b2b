// Table output (Accept: application/json;as=Table;g=meta.k8s.io;v=v1): the rows kubectl prints.
// Custom resources get their CRD's additionalPrinterColumns; built-ins get the columns
// kube-apiserver's printers give them, so `kubectl get nodes` reads like it does on a cluster.
import { evaluate } from './jsonpath.ts';
import type { PrinterColumn, ResourceType } from './resources.ts';

type Obj = Record<string, any>;
type Cell = string | number | boolean | null;

interface Column {
  def: PrinterColumn;
  cell: (o: Obj) => Cell;
}

/** Kubernetes' duration.HumanDuration, the AGE column's format. */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < -1) return '<invalid>';
  if (seconds < 0) return '0s';
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 10) return seconds % 60 === 0 ? `${minutes}m` : `${minutes}m${seconds % 60}s`;
  if (minutes < 180) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 8) return minutes % 60 === 0 ? `${hours}h` : `${hours}h${minutes % 60}m`;
  if (hours < 48) return `${hours}h`;
  if (hours < 24 * 8) return hours % 24 === 0 ? `${Math.floor(hours / 24)}d` : `${Math.floor(hours / 24)}d${hours % 24}h`;
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24)}d`;
  if (hours < 24 * 365 * 8) { const d = Math.floor(hours / 24) % 365; return d === 0 ? `${Math.floor(hours / 24 / 365)}y` : `${Math.floor(hours / 24 / 365)}y${d}d`; }
  return `${Math.floor(hours / 24 / 365)}y`;
}

const since = (ts: string | undefined): string => (ts ? humanDuration(Date.now() - Date.parse(ts)) : '<unknown>');

const col = (name: string, cell: (o: Obj) => Cell, more: Partial<PrinterColumn> = {}): Column => ({
  def: { name, type: 'string', description: '', priority: 0, jsonPath: '', ...more }, cell,
});
const nameCol = col('Name', (o) => o.metadata?.name ?? '', { format: 'name', description: 'Name must be unique within a namespace.' });
const ageCol = col('Age', (o) => since(o.metadata?.creationTimestamp), { description: 'CreationTimestamp is a timestamp representing the server time when this object was created.' });
const wide = { priority: 1 };

function nodeStatus(o: Obj): string {
  const ready = (o.status?.conditions ?? []).find((c: Obj) => c.type === 'Ready');
  // As kubectl's node printer: any Ready status but True (False or Unknown) prints NotReady.
  const state = ready === undefined ? 'Unknown' : ready.status === 'True' ? 'Ready' : 'NotReady';
  return o.spec?.unschedulable ? `${state},SchedulingDisabled` : state;
}

function nodeRoles(o: Obj): string {
  const roles = Object.keys(o.metadata?.labels ?? {})
    .filter((k) => k.startsWith('node-role.kubernetes.io/'))
    .map((k) => k.slice('node-role.kubernetes.io/'.length)).filter((r) => r !== '').sort();
  return roles.length > 0 ? roles.join(',') : '<none>';
}

const address = (o: Obj, type: string) => (o.status?.addresses ?? []).find((a: Obj) => a.type === type)?.address ?? '<none>';

function podReady(o: Obj): string {
  const total = (o.spec?.containers ?? []).length;
  const ready = (o.status?.containerStatuses ?? []).filter((c: Obj) => c.ready).length;
  return `${ready}/${total}`;
}

function podStatus(o: Obj): string {
  if (o.metadata?.deletionTimestamp) return 'Terminating';
  const waiting = (o.status?.containerStatuses ?? []).map((c: Obj) => c.state?.waiting?.reason ?? c.state?.terminated?.reason).find(Boolean);
  return waiting ?? o.status?.reason ?? o.status?.phase ?? 'Unknown';
}

const restarts = (o: Obj) => (o.status?.containerStatuses ?? []).reduce((n: number, c: Obj) => n + (c.restartCount ?? 0), 0);
const count = (v: unknown) => (v && typeof v === 'object' ? Object.keys(v).length : 0);

const BUILTIN: Record<string, Column[]> = {
  '/namespaces': [nameCol, col('Status', (o) => o.status?.phase ?? 'Active'), ageCol],
  '/nodes': [
    nameCol, col('Status', nodeStatus), col('Roles', nodeRoles), ageCol,
    col('Version', (o) => o.status?.nodeInfo?.kubeletVersion ?? ''),
    col('Internal-IP', (o) => address(o, 'InternalIP'), wide), col('External-IP', (o) => address(o, 'ExternalIP'), wide),
    col('OS-Image', (o) => o.status?.nodeInfo?.osImage ?? '<unknown>', wide), col('Kernel-Version', (o) => o.status?.nodeInfo?.kernelVersion ?? '<unknown>', wide),
    col('Container-Runtime', (o) => o.status?.nodeInfo?.containerRuntimeVersion ?? '<unknown>', wide),
  ],
  '/pods': [
    nameCol, col('Ready', podReady), col('Status', podStatus), col('Restarts', restarts, { type: 'string' }), ageCol,
    col('IP', (o) => o.status?.podIP ?? '<none>', wide), col('Node', (o) => o.spec?.nodeName ?? '<none>', wide),
    col('Nominated Node', (o) => o.status?.nominatedNodeName ?? '<none>', wide), col('Readiness Gates', (o) => (o.spec?.readinessGates ? String(o.spec.readinessGates.length) : '<none>'), wide),
  ],
  '/configmaps': [nameCol, col('Data', (o) => count(o.data) + count(o.binaryData), { type: 'integer' }), ageCol],
  '/secrets': [nameCol, col('Type', (o) => o.type ?? 'Opaque'), col('Data', (o) => count(o.data), { type: 'integer' }), ageCol],
  '/events': [
    col('Last Seen', (o) => since(o.lastTimestamp ?? o.eventTime ?? o.metadata?.creationTimestamp)), col('Type', (o) => o.type ?? ''),
    col('Reason', (o) => o.reason ?? ''), col('Object', (o) => `${String(o.involvedObject?.kind ?? '').toLowerCase()}/${o.involvedObject?.name ?? ''}`),
    col('Message', (o) => o.message ?? ''),
  ],
  '/serviceaccounts': [nameCol, col('Secrets', (o) => (o.secrets ?? []).length, { type: 'integer' }), ageCol],
  '/services': [
    nameCol, col('Type', (o) => o.spec?.type ?? 'ClusterIP'), col('Cluster-IP', (o) => o.spec?.clusterIP ?? '<none>'),
    col('External-IP', (o) => (o.spec?.externalIPs ?? []).join(',') || '<none>'),
    col('Port(s)', (o) => (o.spec?.ports ?? []).map((p: Obj) => `${p.port}/${p.protocol ?? 'TCP'}`).join(',') || '<none>'), ageCol,
  ],
  'coordination.k8s.io/leases': [nameCol, col('Holder', (o) => o.spec?.holderIdentity ?? ''), ageCol],
  'apiextensions.k8s.io/customresourcedefinitions': [nameCol, col('Created At', (o) => o.metadata?.creationTimestamp ?? '', { type: 'date' })],
  'apps/deployments': [
    nameCol, col('Ready', (o) => `${o.status?.readyReplicas ?? 0}/${o.spec?.replicas ?? 1}`),
    col('Up-to-date', (o) => o.status?.updatedReplicas ?? 0, { type: 'integer' }), col('Available', (o) => o.status?.availableReplicas ?? 0, { type: 'integer' }), ageCol,
  ],
  'rbac.authorization.k8s.io/roles': [nameCol, col('Created At', (o) => o.metadata?.creationTimestamp ?? '', { type: 'date' })],
  'rbac.authorization.k8s.io/clusterroles': [nameCol, col('Created At', (o) => o.metadata?.creationTimestamp ?? '', { type: 'date' })],
  'rbac.authorization.k8s.io/rolebindings': [nameCol, col('Role', (o) => `${o.roleRef?.kind ?? ''}/${o.roleRef?.name ?? ''}`), ageCol],
  'rbac.authorization.k8s.io/clusterrolebindings': [nameCol, col('Role', (o) => `${o.roleRef?.kind ?? ''}/${o.roleRef?.name ?? ''}`), ageCol],
};

/** A CRD printer column: JSONPath, then the column type's conversion (dates become ages). */
function customColumn(def: PrinterColumn): Column {
  return {
    def: { description: '', priority: 0, ...def },
    cell: (o) => {
      let values: unknown[];
      try { values = evaluate(def.jsonPath, o); } catch { return null; }
      if (values.length === 0) return null;
      const v = values.length === 1 ? values[0] : values.map((x) => (typeof x === 'object' ? JSON.stringify(x) : String(x))).join(' ');
      switch (def.type) {
        case 'date': return typeof v === 'string' && !Number.isNaN(Date.parse(v)) ? since(v) : null;
        case 'integer': return typeof v === 'number' && Number.isInteger(v) ? v : null;
        case 'number': return typeof v === 'number' ? v : null;
        case 'boolean': return typeof v === 'boolean' ? v : null;
        default: return typeof v === 'object' ? JSON.stringify(v) : String(v);
      }
    },
  };
}

function columnsOf(t: ResourceType): Column[] {
  if (t.custom) {
    const declared = t.printerColumns ?? [];
    return declared.length > 0 ? [nameCol, ...declared.map(customColumn)] : [nameCol, ageCol];
  }
  return BUILTIN[`${t.group}/${t.plural}`] ?? [nameCol, ageCol];
}

export type IncludeObject = 'None' | 'Metadata' | 'Object';

function rowObject(o: Obj, include: IncludeObject): Obj | undefined {
  if (include === 'None') return undefined;
  if (include === 'Object') return o;
  return { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: o.metadata };
}

export function toTable(t: ResourceType, objects: Obj[], listMeta: Obj, include: IncludeObject, withColumns = true): Obj {
  const cols = columnsOf(t);
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: listMeta,
    ...(withColumns ? { columnDefinitions: cols.map((c) => ({ name: c.def.name, type: c.def.type, format: c.def.format ?? '', description: c.def.description ?? '', priority: c.def.priority ?? 0 })) } : {}),
    rows: objects.map((o) => {
      const object = rowObject(o, include);
      return { cells: cols.map((c) => c.cell(o)), ...(object ? { object } : {}) };
    }),
  };
}
