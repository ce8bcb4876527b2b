// Custom resources checked against their CRD's openAPIV3Schema the way kube-apiserver does:
// unknown fields pruned (kept where x-kubernetes-preserve-unknown-fields says so, refused under
// fieldValidation=Strict), defaults applied, and violations refused with 422 Invalid naming
// each field path (spec.properties[0].name), which kubectl prints as they are.
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import type { ResourceType } from './resources.ts';
import { ApiError, invalid, type StatusCause } from './status.ts';

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;
type Json = any;

const ajv = addFormats(new Ajv({
  allErrors: true, strict: false, useDefaults: true, logger: false,
  // Kubernetes' own formats: their range is the type's job here; unknown ones must not throw.
  formats: { int32: true, int64: true, float: true, double: true, byte: true, password: true, quantity: true },
}));
const compiled = new WeakMap<object, ValidateFunction>();

function validatorFor(schema: Record<string, unknown>): ValidateFunction {
  let v = compiled.get(schema);
  if (!v) {
    const { properties, ...rest } = schema as { properties?: Record<string, unknown> };
    // metadata is ObjectMeta, checked by the server itself, never by the CRD's schema.
    const { metadata: _metadata, ...others } = properties ?? {};
    v = ajv.compile({ ...rest, ...(properties ? { properties: others } : {}) });
    compiled.set(schema, v);
  }
  return v;
}

/** ajv's /spec/properties/0/name as Kubernetes writes it: spec.properties[0].name. */
export function fieldPath(pointer: string): string {
  return pointer.split('/').slice(1).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce((acc, p) => (/^\d+$/.test(p) ? `${acc}[${p}]` : acc ? `${acc}.${p}` : p), '');
}

const typeName = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'array' : Number.isInteger(v) ? 'integer' : typeof v === 'number' ? 'number' : typeof v);

function atPointer(doc: Json, pointer: string): Json {
  let cur = doc;
  for (const p of pointer.split('/').slice(1)) cur = cur?.[p.replace(/~1/g, '/').replace(/~0/g, '~')];
  return cur;
}

function cause(e: ErrorObject, doc: Json): StatusCause {
  const field = fieldPath(e.instancePath);
  const value = atPointer(doc, e.instancePath);
  switch (e.keyword) {
    case 'required': {
      const missing = (e.params as { missingProperty: string }).missingProperty;
      return { reason: 'FieldValueRequired', field: field ? `${field}.${missing}` : missing, message: 'Required value' };
    }
    case 'type':
      return { reason: 'FieldValueTypeInvalid', field, message: `Invalid value: "${typeName(value)}": ${field} in body must be of type ${(e.params as { type: string }).type}: "${typeName(value)}"` };
    case 'enum':
      return { reason: 'FieldValueNotSupported', field, message: `Unsupported value: ${JSON.stringify(value)}: supported values: ${((e.params as { allowedValues: unknown[] }).allowedValues).map((x) => JSON.stringify(x)).join(', ')}` };
    default:
      return { reason: 'FieldValueInvalid', field, message: `Invalid value: ${JSON.stringify(value)}: ${field || 'body'} in body ${e.message ?? 'is invalid'}` };
  }
}

/** Drops what the schema does not declare; returns the paths it dropped. */
function prune(value: Json, schema: Json, path: string, dropped: string[]): void {
  if (!schema || typeof schema !== 'object' || value === null || typeof value !== 'object') return;
  if (Array.isArray(value)) {
    value.forEach((item, i) => prune(item, schema.items, `${path}[${i}]`, dropped));
    return;
  }
  const preserve = schema['x-kubernetes-preserve-unknown-fields'] === true;
  const props: Record<string, Json> | undefined = schema.properties;
  const additional = schema.additionalProperties;
  for (const key of Object.keys(value)) {
    const child = path ? `${path}.${key}` : key;
    if (props && key in props) prune(value[key], props[key], child, dropped);
    else if (additional && typeof additional === 'object') prune(value[key], additional, child, dropped);
    else if (!preserve && additional !== true) {
      dropped.push(child);
      delete value[key];
    }
  }
}

/** Why a CRD version's schema cannot validate anything, or undefined when it can. */
export function schemaProblem(t: ResourceType): string | undefined {
  if (!t.openAPIV3Schema) return undefined;
  try {
    validatorFor(t.openAPIV3Schema);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

export type FieldValidation = 'Strict' | 'Warn' | 'Ignore';

/** Prunes, defaults and validates a custom resource in place; returns warnings for pruned fields. */
export function admitCustomResource(t: ResourceType, obj: Json, mode: FieldValidation): string[] {
  const schema = t.openAPIV3Schema;
  if (!schema) return [];
  const { metadata, ...body } = obj;
  const dropped: string[] = [];
  const props = (schema as { properties?: Record<string, unknown> }).properties ?? {};
  prune(body, { ...schema, properties: { ...props, apiVersion: {}, kind: {} } }, '', dropped);
  if (dropped.length > 0 && mode === 'Strict') {
    throw new ApiError(400, 'BadRequest', `${t.kind} in version "${t.version}" cannot be handled as a ${t.kind}: strict decoding error: ${dropped.map((d) => `unknown field "${d}"`).join(', ')}`);
  }
  const validate = validatorFor(schema);
  if (!validate(body)) {
    throw invalid(t.group, t.kind, metadata?.name ?? '', (validate.errors ?? []).map((e) => cause(e, body)));
  }
  for (const key of Object.keys(obj)) if (key !== 'metadata') delete obj[key];
  Object.assign(obj, body);
  return mode === 'Ignore' ? [] : dropped.map((d) => `unknown field "${d}"`);
}
