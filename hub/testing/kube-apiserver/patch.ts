// The three patch formats a Kubernetes API server takes: JSON merge patch (RFC 7386), JSON
// patch (RFC 6902), and strategic merge patch for built-in types (lists of objects merged by
// their merge key, the $patch / $setElementOrder / $retainKeys / $deleteFromPrimitiveList
// directives kubectl sends). Strategic merge knows the merge keys of the fields of the built-in
// types the stand-in serves; everything else is replaced, as for a field without a strategy.
import { ApiError } from './status.ts';

type Json = any;
const isObject = (v: unknown): v is Record<string, Json> => typeof v === 'object' && v !== null && !Array.isArray(v);

export function mergePatch(target: Json, patch: Json): Json {
  if (!isObject(patch)) return structuredClone(patch);
  const out: Record<string, Json> = isObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

function invalidPatch(message: string): ApiError {
  return new ApiError(422, 'Invalid', message);
}

function pointer(path: string): string[] {
  if (path === '') return [];
  if (!path.startsWith('/')) throw invalidPatch(`the JSON patch path ${JSON.stringify(path)} must start with "/"`);
  return path.slice(1).split('/').map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function parentOf(doc: Json, parts: string[], path: string): { parent: Json; key: string } {
  let cur = doc;
  for (const p of parts.slice(0, -1)) {
    cur = Array.isArray(cur) ? cur[Number(p)] : cur?.[p];
    if (cur === undefined || cur === null || typeof cur !== 'object') throw invalidPatch(`jsonpatch: the path ${JSON.stringify(path)} does not exist in the object`);
  }
  return { parent: cur, key: parts[parts.length - 1] };
}

function getAt(doc: Json, path: string): Json {
  let cur = doc;
  for (const p of pointer(path)) {
    if (cur === null || typeof cur !== 'object' || !(p in cur)) throw invalidPatch(`jsonpatch: the path ${JSON.stringify(path)} does not exist in the object`);
    cur = Array.isArray(cur) ? cur[Number(p)] : cur[p];
  }
  return cur;
}

function arrayIndex(arr: Json[], key: string, path: string, forAdd: boolean): number {
  if (forAdd && key === '-') return arr.length;
  const i = Number(key);
  if (!/^\d+$/.test(key) || i > arr.length || (!forAdd && i === arr.length)) throw invalidPatch(`jsonpatch: index ${key} out of bounds at ${JSON.stringify(path)}`);
  return i;
}

function addAt(doc: Json, path: string, value: Json): Json {
  const parts = pointer(path);
  if (parts.length === 0) return structuredClone(value);
  const { parent, key } = parentOf(doc, parts, path);
  if (Array.isArray(parent)) parent.splice(arrayIndex(parent, key, path, true), 0, structuredClone(value));
  else parent[key] = structuredClone(value);
  return doc;
}

function removeAt(doc: Json, path: string): Json {
  const parts = pointer(path);
  const { parent, key } = parentOf(doc, parts, path);
  if (Array.isArray(parent)) parent.splice(arrayIndex(parent, key, path, false), 1);
  else {
    if (!(key in parent)) throw invalidPatch(`jsonpatch remove operation does not apply: doc is missing path: ${JSON.stringify(path)}`);
    delete parent[key];
  }
  return doc;
}

export function jsonPatch(target: Json, ops: Json): Json {
  if (!Array.isArray(ops)) throw invalidPatch('a JSON patch must be an array of operations');
  let doc = structuredClone(target);
  for (const op of ops) {
    const path = String(op?.path ?? '');
    switch (op?.op) {
      case 'add': doc = addAt(doc, path, op.value); break;
      case 'remove': doc = removeAt(doc, path); break;
      case 'replace': getAt(doc, path); doc = addAt(removeAt(doc, path), path, op.value); break;
      case 'move': { const v = getAt(doc, op.from); doc = addAt(removeAt(doc, op.from), path, v); break; }
      case 'copy': doc = addAt(doc, path, getAt(doc, op.from)); break;
      case 'test':
        if (JSON.stringify(getAt(doc, path)) !== JSON.stringify(op.value)) throw invalidPatch(`testing value ${path} failed`);
        break;
      default: throw invalidPatch(`Unexpected kind: ${JSON.stringify(op?.op)}`);
    }
  }
  return doc;
}

/** Merge keys of the built-in types' list fields, by field name (as in their Go struct tags). */
const MERGE_KEYS: Record<string, string> = {
  containers: 'name', initContainers: 'name', ephemeralContainers: 'name', volumes: 'name', env: 'name',
  volumeMounts: 'mountPath', volumeDevices: 'devicePath', imagePullSecrets: 'name', ports: 'containerPort',
  conditions: 'type', addresses: 'type', ownerReferences: 'uid', hostAliases: 'ip', subjects: 'name',
  containerStatuses: 'name', initContainerStatuses: 'name', taints: 'key', topologySpreadConstraints: 'topologyKey',
};
/** Lists of scalars whose strategy is merge (a set), not replace. */
const MERGED_SCALAR_LISTS = new Set(['finalizers']);

function mergeKeyFor(field: string, list: Json[]): string | undefined {
  if (field === 'ports' && list.some((p) => isObject(p) && 'port' in p && !('containerPort' in p))) return 'port';
  return MERGE_KEYS[field];
}

export function strategicMergePatch(target: Json, patch: Json): Json {
  if (!isObject(patch)) return structuredClone(patch);
  if (patch.$patch === 'replace') {
    const { $patch: _drop, ...rest } = patch;
    return stripDirectives(rest);
  }
  if (patch.$patch === 'delete') return undefined;
  const out: Record<string, Json> = isObject(target) ? { ...target } : {};
  const retain: string[] | undefined = Array.isArray(patch.$retainKeys) ? patch.$retainKeys : undefined;
  for (const [k, v] of Object.entries(patch)) {
    if (k === '$retainKeys' || k === '$patch' || k.startsWith('$setElementOrder/')) continue;
    if (k.startsWith('$deleteFromPrimitiveList/')) {
      const field = k.slice('$deleteFromPrimitiveList/'.length);
      if (Array.isArray(out[field]) && Array.isArray(v)) out[field] = out[field].filter((x: Json) => !v.includes(x));
      continue;
    }
    if (v === null) { delete out[k]; continue; }
    if (Array.isArray(v)) { out[k] = mergeList(k, out[k], v); continue; }
    const merged = strategicMergePatch(out[k], v);
    if (merged === undefined) delete out[k];
    else out[k] = merged;
  }
  if (retain) for (const k of Object.keys(out)) if (!retain.includes(k)) delete out[k];
  return out;
}

function mergeList(field: string, current: Json, patch: Json[]): Json[] {
  const cur: Json[] = Array.isArray(current) ? current : [];
  if (patch.some((p) => isObject(p) && p.$patch === 'replace')) return stripDirectives(patch.filter((p) => !(isObject(p) && p.$patch === 'replace')));
  if (MERGED_SCALAR_LISTS.has(field)) return [...cur, ...patch.filter((p) => !cur.includes(p))];
  const key = mergeKeyFor(field, patch.length > 0 ? patch : cur);
  if (!key || !patch.every(isObject)) return stripDirectives(patch);
  const out = cur.map((x) => structuredClone(x));
  for (const item of patch) {
    const at = out.findIndex((x) => isObject(x) && x[key] === item[key]);
    if (item.$patch === 'delete') { if (at >= 0) out.splice(at, 1); continue; }
    if (at >= 0) out[at] = strategicMergePatch(out[at], item);
    else out.push(stripDirectives(item));
  }
  return out;
}

function stripDirectives(v: Json): Json {
  if (Array.isArray(v)) return v.map(stripDirectives);
  if (!isObject(v)) return v;
  const out: Record<string, Json> = {};
  for (const [k, x] of Object.entries(v)) if (!k.startsWith('$')) out[k] = stripDirectives(x);
  return out;
}
