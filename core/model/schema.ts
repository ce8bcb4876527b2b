// JSON Schemas of devices.kubeedge.io/v1beta1 Device, DeviceModel and DeviceStatus, and the
// translation of ajv's findings into errors a person can act on. Unknown fields are warnings,
// not errors: a Kubernetes API server would prune them, and a typo should not stop a gateway.

import { EdgetwinError, ErrorCodes } from '../errors.ts';
import { compileSchema, describe, type SchemaProblem, type Validator } from '../schema.ts';
import { deviceId } from '../device.ts';
import { API_VERSION } from './types.ts';
import { whereIn, type ParsedDoc, type PathSegment } from './parse.ts';

export const KINDS = ['Device', 'DeviceModel', 'DeviceStatus'] as const;
export type Kind = (typeof KINDS)[number];

const NAME = { type: 'string', minLength: 1, maxLength: 253, pattern: '^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$' };
const CYCLE = { type: 'integer', minimum: 0 };
const CONFIG_DATA = { type: 'object' };
const LIMIT = { type: ['string', 'number'] };

const metadata = {
  type: 'object',
  required: ['name'],
  properties: {
    name: NAME,
    namespace: NAME,
    labels: { type: 'object', additionalProperties: { type: 'string' } },
    annotations: { type: 'object', additionalProperties: { type: 'string' } },
  },
};

function resource(spec: object, required: string[], status: object = { type: 'object' }): object {
  return {
    type: 'object',
    // apiVersion and kind are checked before the schema, with messages of their own.
    required: ['metadata', ...required],
    additionalProperties: false,
    properties: { apiVersion: {}, kind: {}, metadata, spec, status },
  };
}

const strict = (properties: Record<string, object>, required: string[] = []) =>
  ({ type: 'object', additionalProperties: false, required, properties });

const pushMethod = strict({
  mqtt: strict({ address: { type: 'string' }, topic: { type: 'string' }, qos: { type: 'integer', minimum: 0, maximum: 2 },
    retained: { type: 'boolean' } }, ['address', 'topic']),
  http: strict({ hostName: { type: 'string' }, port: { type: 'integer', minimum: 1, maximum: 65535 },
    requestPath: { type: 'string' }, timeout: { type: 'integer', minimum: 0 } }, ['hostName', 'port', 'requestPath']),
  otel: strict({ endpointURL: { type: 'string' } }),
  dbMethod: { type: 'object' },
});

const deviceProperty = strict({
  name: { type: 'string', minLength: 1, maxLength: 128 },
  desired: strict({ value: { type: ['string', 'number', 'boolean'] }, metadata: { type: 'object' } }),
  visitors: strict({ protocolName: { type: 'string' }, configData: CONFIG_DATA }),
  collectCycle: CYCLE,
  reportCycle: CYCLE,
  reportToCloud: { type: 'boolean' },
  pushMethod,
}, ['name']);

const deviceSpec = strict({
  deviceModelRef: strict({ name: NAME }, ['name']),
  nodeName: { type: 'string' },
  protocol: strict({ protocolName: { type: 'string', minLength: 1 }, configData: CONFIG_DATA }, ['protocolName']),
  properties: { type: 'array', items: deviceProperty },
  methods: { type: 'array', items: strict({ name: { type: 'string', minLength: 1 }, description: { type: 'string' },
    propertyNames: { type: 'array', items: { type: 'string' } } }, ['name', 'propertyNames']) },
  stateReport: strict({ reportToCloud: { type: 'boolean' }, reportCycle: CYCLE }),
}, ['deviceModelRef', 'protocol']);

const modelSpec = strict({
  protocol: { type: 'string' },
  protocolConfigData: CONFIG_DATA,
  visitors: { type: 'array', items: strict({ propertyName: { type: 'string', minLength: 1 }, protocolName: { type: 'string' },
    configData: CONFIG_DATA }, ['propertyName']) },
  properties: { type: 'array', items: strict({
    name: { type: 'string', minLength: 1, maxLength: 128 },
    description: { type: 'string' },
    type: { enum: ['INT', 'FLOAT', 'DOUBLE', 'STRING', 'BOOLEAN', 'BYTES', 'STREAM'] },
    accessMode: { enum: ['ReadWrite', 'ReadOnly'] },
    minimum: LIMIT,
    maximum: LIMIT,
    unit: { type: 'string' },
  }, ['name', 'type']) },
});

export const schemas: Record<Kind, object> = {
  Device: resource(deviceSpec, ['spec']),
  DeviceModel: resource(modelSpec, ['spec']),
  DeviceStatus: resource({ type: 'object' }, []),
};

const validators = Object.fromEntries(KINDS.map((k) => [k, compileSchema(schemas[k])])) as Record<Kind, Validator<unknown>>;

export interface SchemaResult {
  kind?: Kind;
  errors: EdgetwinError[];
  warnings: EdgetwinError[];
}

/** Checks kind, apiVersion and shape of one document. A document with errors must not be used. */
export function checkDocument(doc: ParsedDoc): SchemaResult {
  const v = doc.value;
  const at = (path: PathSegment[]) => whereIn(doc, path);
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    return { errors: [new EdgetwinError(ErrorCodes.MODEL_KIND, `expected a Kubernetes object (apiVersion, kind, metadata, spec), got ${describe(v)}`,
      at([]), `write a ${API_VERSION} Device or DeviceModel`)], warnings: [] };
  }
  const obj = v as Record<string, unknown>;
  const kind = obj.kind;
  if (!KINDS.includes(kind as Kind)) {
    const got = typeof kind === 'string' ? `unknown kind "${kind}"` : kind === undefined ? 'missing kind' : `kind ${describe(kind)}`;
    return { errors: [new EdgetwinError(ErrorCodes.MODEL_KIND, `${got}: edgetwin loads Device, DeviceModel and DeviceStatus`,
      at(['kind']), `set kind to Device, DeviceModel or DeviceStatus with apiVersion ${API_VERSION}`)], warnings: [] };
  }
  const errors: EdgetwinError[] = [];
  const warnings: EdgetwinError[] = [];
  const device = kind !== 'DeviceModel' ? idOf(obj) : undefined;
  if (obj.apiVersion !== API_VERSION) {
    const got = obj.apiVersion === undefined ? 'missing apiVersion' : `apiVersion ${describe(obj.apiVersion)} is not supported`;
    errors.push(new EdgetwinError(ErrorCodes.MODEL_KIND, `${got}: edgetwin accepts ${API_VERSION}`, { ...at(['apiVersion']), device },
      `set apiVersion: ${API_VERSION}${String(obj.apiVersion).includes('v1alpha') ? ' and move the fields to their v1beta1 places' : ''}`));
  }
  const checked = validators[kind as Kind].check(v);
  if (!checked.ok) {
    for (const problem of checked.problems) {
      const where = { ...at(problem.path), device, property: propertyName(obj, problem.path) };
      const err = new EdgetwinError(ErrorCodes.MODEL_SCHEMA, message(problem), where, hint(problem));
      (problem.unknownKey !== undefined ? warnings : errors).push(err);
    }
  }
  return { kind: kind as Kind, errors, warnings };
}

function idOf(obj: Record<string, unknown>): string | undefined {
  const meta = obj.metadata as Record<string, unknown> | undefined;
  if (typeof meta?.name !== 'string') return undefined;
  return deviceId(typeof meta.namespace === 'string' ? meta.namespace : undefined, meta.name);
}

function propertyName(obj: Record<string, unknown>, path: PathSegment[]): string | undefined {
  if (path[0] !== 'spec' || (path[1] !== 'properties' && path[1] !== 'visitors') || typeof path[2] !== 'number') return undefined;
  const items = (obj.spec as Record<string, unknown> | undefined)?.[path[1]];
  const item = Array.isArray(items) ? (items[path[2]] as Record<string, unknown> | undefined) : undefined;
  const name = path[1] === 'visitors' ? item?.propertyName : item?.name;
  return typeof name === 'string' ? name : undefined;
}

export { describe };

const FIELD_HINTS: Record<string, string> = {
  collectCycle: 'milliseconds between reads, a whole number such as 1000',
  reportCycle: 'milliseconds between reports, a whole number such as 1000',
  properties: 'write a YAML list: each item starts with "- name: ..."',
  methods: 'write a YAML list: each item starts with "- name: ..."',
  visitors: 'write a YAML list: each item starts with "- propertyName: ..."',
  propertyNames: 'write a YAML list of property names',
  configData: 'a map of key: value settings for the protocol',
  protocolConfigData: 'a map of key: value settings for the protocol',
  protocolName: 'set spec.protocol.protocolName to modbus, opcua, bluetooth, serial, virtual or a plugin\'s name',
  deviceModelRef: 'name the DeviceModel this device uses: deviceModelRef: { name: my-model }',
  type: 'KubeEdge property types are upper-case: INT, FLOAT, DOUBLE, STRING, BOOLEAN, BYTES, STREAM',
  accessMode: 'use ReadWrite or ReadOnly',
};

/** The shared translation, in the words of Device YAML: unknown keys are ignored, names are Kubernetes names. */
function message(problem: SchemaProblem): string {
  if (problem.unknownKey !== undefined) return `unknown field "${problem.unknownKey}" is ignored`;
  if (problem.keyword === 'pattern') return `${problem.message.replace(/ does not match the pattern .*$/, '')} is not a valid name`;
  return problem.message;
}

function hint(problem: SchemaProblem): string | undefined {
  if (problem.unknownKey !== undefined) return 'check its spelling; edgetwin extensions go inside configData';
  if (problem.keyword === 'pattern') return 'Kubernetes names use lower-case letters, digits, "-" and ".", and start and end with a letter or digit';
  const field = [...problem.path].reverse().find((s): s is string => typeof s === 'string') ?? '';
  return FIELD_HINTS[field];
}
