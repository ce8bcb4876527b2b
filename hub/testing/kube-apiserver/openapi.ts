// /openapi/v3: the index and one document per group-version. kubectl 1.32 reads them to learn
// that the server validates fields itself (the fieldValidation parameter on each PATCH), so
// `kubectl apply` validates without --validate=false, and which patch types a kind takes. A CRD's
// openAPIV3Schema is published under its kind, so `kubectl explain` finds it too.
import { createHash } from 'node:crypto';
import { PATCH_TYPES } from './registry.ts';
import { apiVersionOf, type Catalog, type ResourceType } from './resources.ts';

type Obj = Record<string, any>;

const OBJECT_META = 'io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta';

/** Kubernetes' schema names: devices.kubeedge.io/v1beta1 Device -> io.kubeedge.devices.v1beta1.Device. */
export function schemaName(t: ResourceType): string {
  if (!t.group) return `io.k8s.api.core.${t.version}.${t.kind}`;
  const parts = t.group.split('.');
  if (t.group.endsWith('.k8s.io')) return `io.k8s.api.${parts[0]}.${t.version}.${t.kind}`;
  if (!t.group.includes('.')) return `io.k8s.api.${t.group}.${t.version}.${t.kind}`;
  return `${parts.reverse().join('.')}.${t.version}.${t.kind}`;
}

const queryParam = (name: string) => ({ name, in: 'query', schema: { type: 'string', uniqueItems: true } });
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });

function operations(t: ResourceType): Obj {
  const gvk = { group: t.group, version: t.version, kind: t.kind };
  const me = ref(schemaName(t));
  const ok = { 200: { description: 'OK', content: { 'application/json': { schema: me } } } };
  const bodyOf = (types: string[], schema: Obj) => ({ content: Object.fromEntries(types.map((m) => [m, { schema }])), required: true });
  const writeParams = ['dryRun', 'fieldManager', 'fieldValidation'].map(queryParam);
  // Strategic merge is taken for built-in kinds but not advertised: kubectl would then build its
  // patch from the published schemas, which the stand-in does not have for built-ins; unadvertised,
  // kubectl uses its compiled-in types, as it does against servers without OpenAPI v3.
  const patchTypes = [PATCH_TYPES.json, PATCH_TYPES.merge, PATCH_TYPES.apply];
  const prefix = t.group ? `/apis/${t.group}/${t.version}` : `/api/${t.version}`;
  const collection = t.namespaced ? `${prefix}/namespaces/{namespace}/${t.plural}` : `${prefix}/${t.plural}`;
  const item = `${collection}/{name}`;
  const op = (action: string, extra: Obj = {}) => ({ operationId: `${action}${t.kind}`, responses: ok, 'x-kubernetes-action': action, 'x-kubernetes-group-version-kind': gvk, ...extra });
  const paths: Obj = {
    [collection]: {
      get: op('list', { parameters: ['labelSelector', 'fieldSelector', 'limit', 'continue', 'resourceVersion', 'watch', 'allowWatchBookmarks', 'timeoutSeconds'].map(queryParam) }),
      post: op('post', { parameters: writeParams, requestBody: bodyOf(['application/json', 'application/yaml'], me) }),
      delete: op('deletecollection'),
    },
    [item]: {
      get: op('get'),
      put: op('put', { parameters: writeParams, requestBody: bodyOf(['application/json', 'application/yaml'], me) }),
      patch: op('patch', { parameters: [...writeParams, queryParam('force')], requestBody: bodyOf(patchTypes, { type: 'object' }) }),
      delete: op('delete', { parameters: ['gracePeriodSeconds', 'propagationPolicy', 'dryRun'].map(queryParam) }),
    },
  };
  if (t.statusSubresource) {
    paths[`${item}/status`] = {
      get: op('get'),
      put: op('put', { parameters: writeParams, requestBody: bodyOf(['application/json'], me) }),
      patch: op('patch', { parameters: [...writeParams, queryParam('force')], requestBody: bodyOf(patchTypes, { type: 'object' }) }),
    };
  }
  return paths;
}

function schemaOf(t: ResourceType): Obj {
  const gvk = [{ group: t.group, version: t.version, kind: t.kind }];
  if (!t.custom) {
    return { type: 'object', description: `${t.kind} (the stand-in publishes no field schema for built-in kinds)`, 'x-kubernetes-preserve-unknown-fields': true, 'x-kubernetes-group-version-kind': gvk };
  }
  const s = structuredClone(t.openAPIV3Schema ?? { type: 'object' }) as Obj;
  s.properties = { ...s.properties, apiVersion: { type: 'string' }, kind: { type: 'string' }, metadata: { allOf: [ref(OBJECT_META)], default: {} } };
  s['x-kubernetes-group-version-kind'] = gvk;
  return s;
}

export function groupVersionDocument(catalog: Catalog, groupVersion: string): Obj | undefined {
  const types = catalog.all().filter((t) => apiVersionOf(t) === groupVersion);
  if (types.length === 0) return undefined;
  return {
    openapi: '3.0.0',
    info: { title: 'Kubernetes (edgetwin kube-apiserver stand-in)', version: 'v1.32.0' },
    paths: Object.assign({}, ...types.map(operations)),
    components: {
      schemas: {
        [OBJECT_META]: { type: 'object', description: 'ObjectMeta', 'x-kubernetes-preserve-unknown-fields': true },
        ...Object.fromEntries(types.map((t) => [schemaName(t), schemaOf(t)])),
      },
    },
  };
}

const urlPathOf = (gv: string) => (gv.includes('/') ? `apis/${gv}` : `api/${gv}`);

/** The index; each entry's hash changes with its document, so clients' caches refresh. */
export function openApiIndex(catalog: Catalog): Obj {
  const paths: Obj = {};
  for (const gv of catalog.groupVersions().keys()) {
    const hash = createHash('sha512').update(JSON.stringify(groupVersionDocument(catalog, gv))).digest('hex').toUpperCase();
    paths[urlPathOf(gv)] = { serverRelativeURL: `/openapi/v3/${urlPathOf(gv)}?hash=${hash}` };
  }
  return { paths };
}
