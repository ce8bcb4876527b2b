// What the stand-in serves: the built-in resource types it knows and the ones CRDs add. One
// ResourceType per group/version/plural; objects are stored per group/plural, so every served
// version of a CRD sees the same objects (conversion strategy None, as most CRDs use).
import { ApiError, invalid, type StatusCause } from './status.ts';

export interface PrinterColumn {
  name: string;
  type: string;
  format?: string;
  description?: string;
  priority?: number;
  jsonPath: string;
}

export interface ResourceType {
  group: string;
  version: string;
  kind: string;
  listKind: string;
  plural: string;
  singular: string;
  namespaced: boolean;
  shortNames: string[];
  categories: string[];
  statusSubresource: boolean;
  /** Served from a CustomResourceDefinition: no strategic merge patch, schema from the CRD. */
  custom: boolean;
  /** Field selector labels besides metadata.name and metadata.namespace. */
  fieldLabels: string[];
  /** What a create does with status on the main endpoint. */
  statusOnCreate: 'keep' | 'drop';
  /** metadata.generation is kept and bumped on spec changes. */
  generation: boolean;
  printerColumns?: PrinterColumn[];
  openAPIV3Schema?: Record<string, unknown>;
}

export const storageKey = (t: { group: string; plural: string }) => `${t.group}/${t.plural}`;
export const apiVersionOf = (t: { group: string; version: string }) => (t.group ? `${t.group}/${t.version}` : t.version);

function builtin(group: string, kind: string, plural: string, namespaced: boolean, more: Partial<ResourceType> = {}): ResourceType {
  return {
    group, version: 'v1', kind, listKind: `${kind}List`, plural, singular: kind.toLowerCase(), namespaced,
    shortNames: [], categories: [], statusSubresource: false, custom: false, fieldLabels: [],
    statusOnCreate: 'keep', generation: false, ...more,
  };
}

export function builtinTypes(): ResourceType[] {
  return [
    builtin('', 'Namespace', 'namespaces', false, { shortNames: ['ns'], statusSubresource: true, fieldLabels: ['status.phase'] }),
    builtin('', 'Node', 'nodes', false, { shortNames: ['no'], statusSubresource: true, fieldLabels: ['spec.unschedulable'] }),
    builtin('', 'Pod', 'pods', true, {
      shortNames: ['po'], categories: ['all'], statusSubresource: true, statusOnCreate: 'drop',
      fieldLabels: ['spec.nodeName', 'spec.restartPolicy', 'spec.schedulerName', 'spec.serviceAccountName', 'status.phase', 'status.podIP', 'status.nominatedNodeName'],
    }),
    builtin('', 'ConfigMap', 'configmaps', true, { shortNames: ['cm'] }),
    builtin('', 'Secret', 'secrets', true, { fieldLabels: ['type'] }),
    builtin('', 'Event', 'events', true, {
      shortNames: ['ev'],
      fieldLabels: ['involvedObject.kind', 'involvedObject.namespace', 'involvedObject.name', 'involvedObject.uid', 'involvedObject.apiVersion', 'involvedObject.resourceVersion', 'involvedObject.fieldPath', 'reason', 'reportingComponent', 'source', 'type'],
    }),
    builtin('', 'ServiceAccount', 'serviceaccounts', true, { shortNames: ['sa'] }),
    builtin('', 'Service', 'services', true, { shortNames: ['svc'], categories: ['all'], statusSubresource: true }),
    builtin('coordination.k8s.io', 'Lease', 'leases', true),
    builtin('apiextensions.k8s.io', 'CustomResourceDefinition', 'customresourcedefinitions', false, {
      shortNames: ['crd', 'crds'], statusSubresource: true, statusOnCreate: 'drop', generation: true,
    }),
    builtin('rbac.authorization.k8s.io', 'Role', 'roles', true),
    builtin('rbac.authorization.k8s.io', 'RoleBinding', 'rolebindings', true),
    builtin('rbac.authorization.k8s.io', 'ClusterRole', 'clusterroles', false),
    builtin('rbac.authorization.k8s.io', 'ClusterRoleBinding', 'clusterrolebindings', false),
    builtin('apps', 'Deployment', 'deployments', true, {
      shortNames: ['deploy'], categories: ['all'], statusSubresource: true, statusOnCreate: 'drop', generation: true,
    }),
  ];
}

/** The ResourceTypes a CRD serves, or a 422 naming the field that makes it unservable. */
export function typesFromCrd(crd: Record<string, any>): ResourceType[] {
  const name = crd.metadata?.name ?? '';
  const spec = crd.spec ?? {};
  const names = spec.names ?? {};
  const causes: StatusCause[] = [];
  const need = (ok: boolean, field: string, message: string) => { if (!ok) causes.push({ reason: 'FieldValueRequired', field, message }); };
  need(typeof spec.group === 'string' && spec.group.includes('.'), 'spec.group', `Invalid value: ${JSON.stringify(spec.group)}: should be a domain with at least one dot`);
  need(typeof names.plural === 'string' && names.plural !== '', 'spec.names.plural', 'Required value');
  need(typeof names.kind === 'string' && names.kind !== '', 'spec.names.kind', 'Required value');
  need(spec.scope === 'Namespaced' || spec.scope === 'Cluster', 'spec.scope', `Unsupported value: ${JSON.stringify(spec.scope)}: supported values: "Cluster", "Namespaced"`);
  const versions: any[] = Array.isArray(spec.versions) ? spec.versions : [];
  need(versions.length > 0, 'spec.versions', 'Invalid value: must have exactly one version marked as storage version');
  need(versions.filter((v) => v?.storage === true).length === 1, 'spec.versions', 'Invalid value: must have exactly one version marked as storage version');
  if (causes.length === 0 && name !== `${names.plural}.${spec.group}`) {
    causes.push({ reason: 'FieldValueInvalid', field: 'metadata.name', message: `Invalid value: "${name}": must be spec.names.plural+"."+spec.group` });
  }
  versions.forEach((v, i) => {
    const schema = v?.schema?.openAPIV3Schema;
    if (schema !== undefined && (typeof schema !== 'object' || schema === null)) {
      causes.push({ reason: 'FieldValueInvalid', field: `spec.versions[${i}].schema.openAPIV3Schema`, message: 'Invalid value: must be an object' });
    }
  });
  if (causes.length > 0) throw invalid('apiextensions.k8s.io', 'CustomResourceDefinition', name, causes);
  return versions.filter((v) => v.served !== false).map((v) => ({
    group: spec.group,
    version: v.name,
    kind: names.kind,
    listKind: names.listKind ?? `${names.kind}List`,
    plural: names.plural,
    singular: names.singular ?? String(names.kind).toLowerCase(),
    namespaced: spec.scope === 'Namespaced',
    shortNames: names.shortNames ?? [],
    categories: names.categories ?? [],
    statusSubresource: v.subresources?.status !== undefined,
    custom: true,
    fieldLabels: (v.selectableFields ?? []).map((f: { jsonPath: string }) => f.jsonPath.replace(/^\./, '')),
    statusOnCreate: v.subresources?.status !== undefined ? 'drop' : 'keep',
    generation: true,
    printerColumns: v.additionalPrinterColumns ?? [],
    openAPIV3Schema: v.schema?.openAPIV3Schema ?? { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
  }));
}

/** Every type the server currently serves, looked up the ways URLs and discovery need. */
export class Catalog {
  private byGvr = new Map<string, ResourceType>();
  /** CRD name -> the types it added, so a CRD update or delete replaces exactly those. */
  private fromCrd = new Map<string, ResourceType[]>();

  constructor() {
    for (const t of builtinTypes()) this.byGvr.set(`${t.group}/${t.version}/${t.plural}`, t);
  }

  find(group: string, version: string, plural: string): ResourceType | undefined {
    return this.byGvr.get(`${group}/${version}/${plural}`);
  }

  /** Any served version of group/plural (for storage-level work such as GC). */
  anyVersion(group: string, plural: string): ResourceType | undefined {
    for (const t of this.byGvr.values()) if (t.group === group && t.plural === plural) return t;
    return undefined;
  }

  byKind(apiVersion: string, kind: string): ResourceType | undefined {
    for (const t of this.byGvr.values()) if (apiVersionOf(t) === apiVersion && t.kind === kind) return t;
    return undefined;
  }

  all(): ResourceType[] {
    return [...this.byGvr.values()];
  }

  groupVersions(): Map<string, ResourceType[]> {
    const out = new Map<string, ResourceType[]>();
    for (const t of this.byGvr.values()) {
      const gv = apiVersionOf(t);
      out.set(gv, [...(out.get(gv) ?? []), t]);
    }
    return out;
  }

  /** Refuses names another CRD or a built-in already serves. */
  checkServable(crdName: string, types: ResourceType[]): void {
    for (const t of types) {
      const existing = this.byGvr.get(`${t.group}/${t.version}/${t.plural}`);
      if (existing && !(this.fromCrd.get(crdName) ?? []).includes(existing)) {
        throw new ApiError(409, 'Conflict', `${t.plural}.${t.group} is already served`);
      }
    }
  }

  /** Serves what a CRD declares (checked with checkServable first), replacing what it served before. */
  serveCrd(crdName: string, types: ResourceType[]): void {
    this.checkServable(crdName, types);
    this.unserveCrd(crdName);
    for (const t of types) this.byGvr.set(`${t.group}/${t.version}/${t.plural}`, t);
    this.fromCrd.set(crdName, types);
  }

  unserveCrd(crdName: string): ResourceType[] {
    const types = this.fromCrd.get(crdName) ?? [];
    for (const t of types) this.byGvr.delete(`${t.group}/${t.version}/${t.plural}`);
    this.fromCrd.delete(crdName);
    return types;
  }
}
