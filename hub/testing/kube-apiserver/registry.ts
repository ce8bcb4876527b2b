// The API semantics on top of the store: what create, update, patch and delete mean for an
// object (defaults, optimistic concurrency, the status subresource, generation, finalizers,
// graceful pod deletion), CRDs that start serving their resource, and the background work
// kube-controller-manager would do (garbage collection by ownerReferences, namespace cleanup).
import { randomBytes, randomUUID } from 'node:crypto';
import { jsonPatch, mergePatch, strategicMergePatch } from './patch.ts';
import { apiVersionOf, Catalog, storageKey, typesFromCrd, type ResourceType } from './resources.ts';
import { admitCustomResource, schemaProblem, type FieldValidation } from './schema.ts';
import { alreadyExists, ApiError, badRequest, conflict, invalid, notFound, unsupportedMediaType } from './status.ts';
import type { Store } from './store.ts';

type Obj = Record<string, any>;

export interface WriteOptions {
  dryRun?: boolean;
  fieldValidation?: FieldValidation;
}

export interface DeleteOptions {
  propagationPolicy?: 'Background' | 'Foreground' | 'Orphan';
  gracePeriodSeconds?: number;
  preconditions?: { uid?: string; resourceVersion?: string };
  dryRun?: boolean;
}

export interface Written {
  object: Obj;
  warnings: string[];
}

export const PATCH_TYPES = {
  json: 'application/json-patch+json',
  merge: 'application/merge-patch+json',
  strategic: 'application/strategic-merge-patch+json',
  apply: 'application/apply-patch+yaml',
} as const;

const now = () => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const CRD_KEY = 'apiextensions.k8s.io/customresourcedefinitions';
const NS_KEY = '/namespaces';

export class Registry {
  private sweepQueued = false;

  constructor(readonly store: Store, readonly catalog: Catalog) {
    for (const ns of ['default', 'kube-system', 'kube-public', 'kube-node-lease']) {
      this.store.put(NS_KEY, this.withMeta({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns }, spec: { finalizers: ['kubernetes'] }, status: { phase: 'Active' } }));
    }
  }

  /** The object as the requested version shows it. */
  private view(t: ResourceType, o: Obj): Obj {
    return { ...o, apiVersion: apiVersionOf(t), kind: t.kind };
  }

  get(t: ResourceType, namespace: string, name: string): Obj {
    const o = this.store.get(storageKey(t), namespace, name);
    if (!o) throw notFound(t.group, t.plural, name);
    return this.view(t, o);
  }

  list(t: ResourceType, namespace?: string): Obj[] {
    return this.store.list(storageKey(t), namespace).map((o) => this.view(t, o));
  }

  private withMeta(o: Obj): Obj {
    o.metadata = { ...o.metadata, uid: randomUUID(), creationTimestamp: now() };
    return o;
  }

  private requireNamespace(namespace: string): void {
    const ns = this.store.get(NS_KEY, '', namespace);
    if (!ns) throw notFound('', 'namespaces', namespace);
    if (ns.metadata.deletionTimestamp) {
      throw new ApiError(403, 'Forbidden', `unable to create new content in namespace ${namespace} because it is being terminated`);
    }
  }

  private checkBody(t: ResourceType, namespace: string, body: Obj): void {
    if (body === null || typeof body !== 'object' || Array.isArray(body)) throw badRequest('the request body must be a JSON or YAML object');
    if (body.kind !== undefined && body.kind !== t.kind) throw badRequest(`the kind of the body (${body.kind}) does not match the resource (${t.kind})`);
    if (body.apiVersion !== undefined && body.apiVersion !== apiVersionOf(t)) {
      throw badRequest(`the API version in the data (${body.apiVersion}) does not match the expected API version (${apiVersionOf(t)})`);
    }
    body.metadata ??= {};
    if (t.namespaced) {
      if (body.metadata.namespace !== undefined && body.metadata.namespace !== '' && body.metadata.namespace !== namespace) {
        throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
      }
      body.metadata.namespace = namespace;
    } else delete body.metadata.namespace;
  }

  private admit(t: ResourceType, o: Obj, opts: WriteOptions): string[] {
    const name = o.metadata.name;
    if (typeof name !== 'string' || name === '') {
      throw invalid(t.group, t.kind, '', [{ reason: 'FieldValueRequired', field: 'metadata.name', message: 'Required value: name or generateName is required' }]);
    }
    if (name.length > 253 || !DNS_SUBDOMAIN.test(name)) {
      throw invalid(t.group, t.kind, name, [{ reason: 'FieldValueInvalid', field: 'metadata.name', message: `Invalid value: "${name}": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character` }]);
    }
    if (t.custom) return admitCustomResource(t, o, opts.fieldValidation ?? 'Warn');
    if (storageKey(t) === '/secrets' && o.stringData) {
      o.data = { ...o.data };
      for (const [k, v] of Object.entries(o.stringData)) o.data[k] = Buffer.from(String(v)).toString('base64');
      delete o.stringData;
    }
    return [];
  }

  create(t: ResourceType, namespace: string, body: Obj, opts: WriteOptions = {}): Written {
    this.checkBody(t, namespace, body);
    const o = structuredClone(body);
    if (!o.metadata.name && o.metadata.generateName) o.metadata.name = `${o.metadata.generateName}${randomBytes(3).toString('hex').slice(0, 5)}`;
    for (const k of ['resourceVersion', 'uid', 'creationTimestamp', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'generation', 'managedFields']) delete o.metadata[k];
    if (t.statusSubresource && t.statusOnCreate === 'drop') delete o.status;
    o.apiVersion = apiVersionOf(t);
    o.kind = t.kind;
    const warnings = this.admit(t, o, opts);
    if (t.namespaced) this.requireNamespace(namespace);
    if (this.store.get(storageKey(t), t.namespaced ? namespace : '', o.metadata.name)) throw alreadyExists(t.group, t.plural, o.metadata.name);
    this.withMeta(o);
    if (t.generation) o.metadata.generation = 1;
    this.defaults(t, o);
    const served = storageKey(t) === CRD_KEY ? this.establish(o) : undefined;
    if (opts.dryRun) return { object: this.view(t, o), warnings };
    const stored = this.store.put(storageKey(t), o);
    if (served) this.catalog.serveCrd(o.metadata.name, served);
    if (o.metadata.ownerReferences) this.queueSweep({ dependent: [storageKey(t), stored.metadata.namespace ?? '', stored.metadata.name] });
    return { object: this.view(t, stored), warnings };
  }

  private defaults(t: ResourceType, o: Obj): void {
    switch (storageKey(t)) {
      case NS_KEY: o.spec = { finalizers: ['kubernetes'], ...o.spec }; o.status = { phase: 'Active' }; break;
      case '/pods': o.status = { phase: 'Pending', qosClass: 'BestEffort', ...o.status }; break;
      case '/secrets': o.type ??= 'Opaque'; break;
      case '/services': o.spec = { type: 'ClusterIP', ...o.spec }; break;
    }
  }

  /**
   * What a CRD will serve, checked (names free, schemas compile), with its status set as the CRD
   * controllers would: it is served as soon as it is stored.
   */
  private establish(crd: Obj): ResourceType[] {
    const types = typesFromCrd(crd);
    types.forEach((t) => {
      const problem = schemaProblem(t);
      if (problem) {
        const i = (crd.spec.versions as Obj[]).findIndex((v) => v.name === t.version);
        throw invalid('apiextensions.k8s.io', 'CustomResourceDefinition', crd.metadata.name, [
          { reason: 'FieldValueInvalid', field: `spec.versions[${i}].schema.openAPIV3Schema`, message: `Invalid value: the schema does not compile: ${problem}` },
        ]);
      }
    });
    this.catalog.checkServable(crd.metadata.name, types);
    const at = now();
    const storage = (crd.spec.versions ?? []).find((v: Obj) => v.storage)?.name;
    crd.status = {
      acceptedNames: { ...crd.spec.names, singular: types[0]?.singular ?? crd.spec.names.singular, listKind: types[0]?.listKind ?? crd.spec.names.listKind },
      conditions: [
        { type: 'NamesAccepted', status: 'True', reason: 'NoConflicts', message: 'no conflicts found', lastTransitionTime: at },
        { type: 'Established', status: 'True', reason: 'InitialNamesAccepted', message: 'the initial names have been accepted', lastTransitionTime: at },
      ],
      storedVersions: [...new Set([...(crd.status?.storedVersions ?? []), storage].filter(Boolean))],
    };
    return types;
  }

  update(t: ResourceType, namespace: string, name: string, body: Obj, opts: WriteOptions = {}, subresource?: string): Written {
    this.checkBody(t, namespace, body);
    if (body.metadata.name !== undefined && body.metadata.name !== name) {
      throw badRequest(`the name of the object (${body.metadata.name}) does not match the name on the URL (${name})`);
    }
    const ns = t.namespaced ? namespace : '';
    const current = this.store.get(storageKey(t), ns, name);
    if (!current) throw notFound(t.group, t.plural, name);
    const wanted = body.metadata.resourceVersion;
    if (wanted !== undefined && wanted !== '' && wanted !== current.metadata.resourceVersion) throw conflict(t.group, t.plural, name);

    let o: Obj;
    if (subresource === 'status') {
      o = structuredClone(current);
      if (body.status === undefined) delete o.status;
      else o.status = structuredClone(body.status);
    } else {
      o = structuredClone(body);
      o.metadata = { ...body.metadata, name };
      if (t.statusSubresource) {
        if (current.status === undefined) delete o.status;
        else o.status = current.status;
      }
    }
    o.apiVersion = apiVersionOf(t);
    o.kind = t.kind;
    for (const k of ['uid', 'creationTimestamp', 'deletionTimestamp', 'deletionGracePeriodSeconds']) {
      if (current.metadata[k] === undefined) delete o.metadata[k];
      else o.metadata[k] = current.metadata[k];
    }
    delete o.metadata.managedFields;
    const warnings = this.admit(t, o, opts);
    if (current.metadata.deletionTimestamp) {
      const added = (o.metadata.finalizers ?? []).filter((f: string) => !(current.metadata.finalizers ?? []).includes(f));
      if (added.length > 0) {
        throw invalid(t.group, t.kind, name, [{ reason: 'FieldValueForbidden', field: 'metadata.finalizers', message: `Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers ${JSON.stringify(added)}` }]);
      }
    }
    if (t.generation) {
      const specOf = (x: Obj) => { const { metadata: _m, status: _s, ...rest } = x; return JSON.stringify(rest); };
      o.metadata.generation = (current.metadata.generation ?? 1) + (specOf(o) !== specOf(current) ? 1 : 0);
    }
    const served = storageKey(t) === CRD_KEY && subresource !== 'status' ? this.establish(o) : undefined;
    if (opts.dryRun) return { object: this.view(t, o), warnings };
    if (o.metadata.deletionTimestamp && (o.metadata.finalizers ?? []).length === 0 && !this.gracefulPending(t, o)) {
      return { object: this.view(t, this.removeNow(t, o)), warnings };
    }
    const stored = this.store.put(storageKey(t), o);
    if (served) this.catalog.serveCrd(o.metadata.name, served);
    if (JSON.stringify(o.metadata.ownerReferences) !== JSON.stringify(current.metadata.ownerReferences)) {
      this.queueSweep({ dependent: [storageKey(t), stored.metadata.namespace ?? '', stored.metadata.name] });
    }
    return { object: this.view(t, stored), warnings };
  }

  patch(t: ResourceType, namespace: string, name: string, contentType: string, patch: Obj, opts: WriteOptions & { fieldManager?: string } = {}, subresource?: string): Written {
    const accepted = t.custom ? [PATCH_TYPES.json, PATCH_TYPES.merge, PATCH_TYPES.apply] : Object.values(PATCH_TYPES);
    if (!(accepted as string[]).includes(contentType)) throw unsupportedMediaType(contentType, accepted);
    const ns = t.namespaced ? namespace : '';
    const current = this.store.get(storageKey(t), ns, name);
    if (contentType === PATCH_TYPES.apply) {
      if (!opts.fieldManager) throw badRequest('PATCH, application/apply-patch+yaml requires fieldManager to be set');
      if (!current) return this.create(t, namespace, { ...patch, metadata: { ...patch.metadata, name } }, opts);
    }
    if (!current) throw notFound(t.group, t.plural, name);
    const base = this.view(t, current);
    let patched: Obj;
    switch (contentType) {
      case PATCH_TYPES.json: patched = jsonPatch(base, patch); break;
      case PATCH_TYPES.merge: patched = mergePatch(base, patch); break;
      case PATCH_TYPES.strategic: patched = strategicMergePatch(base, patch); break;
      // Server-side apply without field ownership: the configuration merged into the live object.
      default: patched = t.custom ? mergePatch(base, patch) : strategicMergePatch(base, patch); break;
    }
    if (patched === null || typeof patched !== 'object' || Array.isArray(patched)) throw badRequest('the patch did not leave an object');
    patched.metadata ??= {};
    const precondition = contentType === PATCH_TYPES.json ? undefined : patch.metadata?.resourceVersion;
    patched.metadata.resourceVersion = precondition ?? current.metadata.resourceVersion;
    return this.update(t, namespace, name, patched, opts, subresource);
  }

  /** Pods bound to an existing node wait for their kubelet (edged) to confirm with grace 0. */
  private gracefulPending(t: ResourceType, o: Obj): boolean {
    return storageKey(t) === '/pods' && (o.metadata.deletionGracePeriodSeconds ?? 0) > 0;
  }

  delete(t: ResourceType, namespace: string, name: string, opts: DeleteOptions = {}): Obj {
    const ns = t.namespaced ? namespace : '';
    const current = this.store.get(storageKey(t), ns, name);
    if (!current) throw notFound(t.group, t.plural, name);
    const pre = opts.preconditions ?? {};
    if (pre.uid && pre.uid !== current.metadata.uid) throw conflict(t.group, t.plural, name, `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${current.metadata.uid}`);
    if (pre.resourceVersion && pre.resourceVersion !== current.metadata.resourceVersion) {
      throw conflict(t.group, t.plural, name, `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${current.metadata.resourceVersion}`);
    }
    if (opts.dryRun) return this.view(t, current);
    const policy = opts.propagationPolicy ?? 'Background';
    if (policy === 'Orphan') this.orphanDependents(current);
    if (policy === 'Foreground') this.deleteDependents(current);

    const o = structuredClone(current);
    if (storageKey(t) === NS_KEY) {
      o.metadata.deletionTimestamp ??= now();
      o.status = { ...o.status, phase: 'Terminating' };
      const stored = this.store.put(NS_KEY, o);
      this.queueSweep({ namespace: o.metadata.name });
      return this.view(t, stored);
    }
    if (storageKey(t) === '/pods' && o.spec?.nodeName && this.store.get('/nodes', '', o.spec.nodeName)) {
      const grace = opts.gracePeriodSeconds ?? o.spec.terminationGracePeriodSeconds ?? 30;
      if (grace > 0 && (o.metadata.deletionGracePeriodSeconds === undefined || grace < o.metadata.deletionGracePeriodSeconds)) {
        o.metadata.deletionTimestamp = new Date(Date.now() + grace * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
        o.metadata.deletionGracePeriodSeconds = grace;
        return this.view(t, this.store.put(storageKey(t), o));
      }
      if (grace === 0) o.metadata.deletionGracePeriodSeconds = 0;
      if (grace > 0) return this.view(t, current);
    }
    if ((o.metadata.finalizers ?? []).length > 0) {
      if (!o.metadata.deletionTimestamp) {
        o.metadata.deletionTimestamp = now();
        o.metadata.deletionGracePeriodSeconds ??= 0;
        if (t.generation) o.metadata.generation = (o.metadata.generation ?? 1) + 1;
      } else if (o.metadata.deletionGracePeriodSeconds === current.metadata.deletionGracePeriodSeconds) {
        return this.view(t, current);
      }
      return this.view(t, this.store.put(storageKey(t), o));
    }
    return this.view(t, this.removeNow(t, o));
  }

  private removeNow(t: ResourceType, o: Obj): Obj {
    const key = storageKey(t);
    const ns = t.namespaced ? o.metadata.namespace : '';
    if (key === CRD_KEY) {
      for (const served of this.catalog.unserveCrd(o.metadata.name).slice(0, 1)) {
        for (const cr of this.store.list(storageKey(served))) this.store.remove(storageKey(served), cr.metadata.namespace ?? '', cr.metadata.name);
        this.store.endWatches(storageKey(served));
      }
    }
    const gone = this.store.remove(key, ns, o.metadata.name, o) ?? o;
    this.queueSweep({ owner: gone.metadata.uid, ...(ns ? { namespace: ns } : {}) });
    return gone;
  }

  private dependentsOf(owner: Obj): Array<{ type: ResourceType; obj: Obj }> {
    const out: Array<{ type: ResourceType; obj: Obj }> = [];
    for (const key of this.store.keys()) {
      const [group, plural] = key.split('/');
      const type = this.catalog.anyVersion(group, plural);
      if (!type) continue;
      for (const obj of this.store.list(key)) {
        if ((obj.metadata.ownerReferences ?? []).some((r: Obj) => r.uid === owner.metadata.uid)) out.push({ type, obj });
      }
    }
    return out;
  }

  private orphanDependents(owner: Obj): void {
    for (const { type, obj } of this.dependentsOf(owner)) {
      obj.metadata.ownerReferences = obj.metadata.ownerReferences.filter((r: Obj) => r.uid !== owner.metadata.uid);
      if (obj.metadata.ownerReferences.length === 0) delete obj.metadata.ownerReferences;
      this.store.put(storageKey(type), obj);
    }
  }

  private deleteDependents(owner: Obj): void {
    for (const { type, obj } of this.dependentsOf(owner)) {
      try {
        this.delete(type, obj.metadata.namespace ?? '', obj.metadata.name, { propagationPolicy: 'Foreground' });
      } catch (err) {
        if (!(err instanceof ApiError && err.code === 404)) throw err;
      }
    }
  }

  private ownerExists(dependent: Obj, ref: Obj): boolean {
    const type = this.catalog.byKind(ref.apiVersion, ref.kind);
    if (!type) return false;
    const owner = this.store.get(storageKey(type), type.namespaced ? dependent.metadata.namespace ?? '' : '', ref.name);
    return owner !== undefined && owner.metadata.uid === ref.uid;
  }

  /**
   * Work for the background controllers, gathered between sweeps so a burst of writes costs one
   * pass: owners that went away, dependents written with ownerReferences, namespaces that may
   * have finished terminating.
   */
  private pending = { owners: new Set<string>(), dependents: [] as Array<[string, string, string]>, namespaces: new Set<string>() };

  private queueSweep(work: { owner?: string; dependent?: [string, string, string]; namespace?: string }): void {
    if (work.owner) this.pending.owners.add(work.owner);
    if (work.dependent) this.pending.dependents.push(work.dependent);
    if (work.namespace) this.pending.namespaces.add(work.namespace);
    if (this.sweepQueued) return;
    this.sweepQueued = true;
    setImmediate(() => {
      this.sweepQueued = false;
      this.sweep();
    });
  }

  /**
   * kube-controller-manager's share: the garbage collector deletes (in the background) objects
   * none of whose owners exist any more, and the namespace controller empties a terminating
   * namespace, then removes it.
   */
  private sweep(): void {
    const { owners, dependents, namespaces } = this.pending;
    this.pending = { owners: new Set(), dependents: [], namespaces: new Set() };
    const orphans: Array<{ type: ResourceType; obj: Obj }> = [];
    const collectIfOrphan = (key: string, obj: Obj) => {
      const refs: Obj[] = obj.metadata.ownerReferences ?? [];
      if (refs.length === 0 || refs.some((r) => this.ownerExists(obj, r))) return;
      const [group, plural] = key.split('/');
      const type = this.catalog.anyVersion(group, plural);
      if (type) orphans.push({ type, obj });
    };
    if (owners.size > 0) {
      for (const key of this.store.keys()) {
        this.store.scan(key, (obj) => {
          if ((obj.metadata.ownerReferences ?? []).some((r: Obj) => owners.has(r.uid))) collectIfOrphan(key, obj);
        });
      }
    }
    for (const [key, ns, name] of dependents) {
      const obj = this.store.get(key, ns, name);
      if (obj) collectIfOrphan(key, obj);
    }
    for (const { type, obj } of orphans) this.tryDelete(type, obj);
    for (const name of namespaces) {
      const ns = this.store.get(NS_KEY, '', name);
      if (!ns?.metadata.deletionTimestamp) continue;
      let remaining = 0;
      for (const key of this.store.keys()) {
        const [group, plural] = key.split('/');
        const type = this.catalog.anyVersion(group, plural);
        if (!type?.namespaced) continue;
        for (const obj of this.store.list(key, name)) {
          remaining++;
          if (!obj.metadata.deletionTimestamp) this.tryDelete(type, obj);
        }
      }
      if (remaining === 0) this.store.remove(NS_KEY, '', name);
    }
  }

  private tryDelete(type: ResourceType, obj: Obj): void {
    try {
      this.delete(type, obj.metadata.namespace ?? '', obj.metadata.name, { propagationPolicy: 'Background' });
    } catch (err) {
      if (!(err instanceof ApiError && err.code === 404)) throw err;
    }
  }

  /** A write by the stand-in's own controllers (node lifecycle): no admission, straight to the store. */
  putInternal(t: ResourceType, o: Obj): Obj {
    return this.store.put(storageKey(t), o);
  }
}
