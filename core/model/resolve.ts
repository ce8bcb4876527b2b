// A Device plus its DeviceModel -> DeviceSpecResolved. The model gives each property its type,
// access mode, limits and unit, and default protocol and visitor configData; the device's own
// configData overrides the model's key by key.

import { EdgetwinError, ErrorCodes, type Where } from '../errors.ts';
import { deviceId, type DeviceSpecResolved, type PropertySpec, type ReconcilePolicy, type SourceRef } from '../device.ts';
import { parseValue, typeFromKubeEdge, ValueError, type PropertyType, type PropertyValue } from '../values.ts';
import type { ConfigData, Device, DeviceModel, DeviceProperty, ModelProperty, ModelVisitor, PushMethod } from './types.ts';
import { formatPath, whereIn, type ParsedDoc, type PathSegment } from './parse.ts';
import { describe } from './schema.ts';
import { fingerprint } from './fingerprint.ts';

export const DEFAULT_CYCLE_MS = 1000;
const NANOSECONDS_FROM = 1e9;
const PROTOCOL_ALIASES: Record<string, string> = { ble: 'bluetooth' };
const NUMERIC: PropertyType[] = ['int', 'float', 'double'];

export interface Findings {
  errors: EdgetwinError[];
  warnings: EdgetwinError[];
}

/** modbus, opcua, bluetooth (alias ble), serial, virtual; a plugin's name passes through lower-cased. */
export function canonicalProtocol(name: string): string {
  const lower = name.trim().toLowerCase();
  return PROTOCOL_ALIASES[lower] ?? lower;
}

export function modelKey(model: DeviceModel): string {
  return deviceId(model.metadata.namespace, model.metadata.name);
}

/** Checks a schema-valid model for what a schema cannot say. Errors make the model unusable. */
export function checkModel(model: DeviceModel, doc: ParsedDoc): Findings {
  const errors: EdgetwinError[] = [];
  const props = model.spec.properties ?? [];
  const firstAt = new Map<string, number>();
  props.forEach((p, i) => {
    const path = ['spec', 'properties', i];
    const first = firstAt.get(p.name);
    if (first !== undefined) {
      errors.push(new EdgetwinError(ErrorCodes.MODEL_DUPLICATE, `duplicate property "${p.name}" (first at line ${doc.lineAt(['spec', 'properties', first])})`,
        whereIn(doc, [...path, 'name'], { property: p.name }), 'give each property of a model its own name'));
      return;
    }
    firstAt.set(p.name, i);
    const limits: Partial<Record<'minimum' | 'maximum', number>> = {};
    for (const key of ['minimum', 'maximum'] as const) {
      // KubeEdge writes limits as strings; a bare YAML number is accepted and stored the same way.
      if (typeof p[key] === 'number') p[key] = String(p[key]);
      if (p[key] === undefined || p[key] === '' || !isNumeric(p)) continue;
      const n = Number(p[key]);
      if (!Number.isFinite(n)) {
        errors.push(new EdgetwinError(ErrorCodes.MODEL_VALUE, `${key} ${describe(p[key])} is not a number`,
          whereIn(doc, [...path, key], { property: p.name }), `write the ${key} of a ${p.type} property as a number, e.g. "100"`));
      } else limits[key] = n;
    }
    if (limits.minimum !== undefined && limits.maximum !== undefined && limits.minimum > limits.maximum) {
      errors.push(new EdgetwinError(ErrorCodes.MODEL_VALUE, `minimum ${limits.minimum} is above maximum ${limits.maximum}`,
        whereIn(doc, [...path, 'minimum'], { property: p.name }), 'swap them or correct one'));
    }
  });
  const visited = new Set<string>();
  (model.spec.visitors ?? []).forEach((v, i) => {
    const path = ['spec', 'visitors', i];
    if (!firstAt.has(v.propertyName)) {
      errors.push(new EdgetwinError(ErrorCodes.MODEL_PROPERTY, `visitor for "${v.propertyName}", which is not a property of this model`,
        whereIn(doc, [...path, 'propertyName'], { property: v.propertyName }), knownNames(props.map((p) => p.name))));
    } else if (visited.has(v.propertyName)) {
      errors.push(new EdgetwinError(ErrorCodes.MODEL_DUPLICATE, `second visitor for "${v.propertyName}"`,
        whereIn(doc, [...path, 'propertyName'], { property: v.propertyName }), 'keep one visitor per property'));
    }
    visited.add(v.propertyName);
    errors.push(...checkExtensions(v.configData, (key) => whereIn(doc, [...path, 'configData', key], { property: v.propertyName })));
  });
  return { errors, warnings: [] };
}

/** Resolves a schema-valid device with a checked model. Any error means the device must not run. */
export function resolveDevice(device: Device, doc: ParsedDoc, model: DeviceModel, modelDoc: ParsedDoc): Findings & { device?: DeviceSpecResolved } {
  const errors: EdgetwinError[] = [];
  const warnings: EdgetwinError[] = [];
  const id = deviceId(device.metadata.namespace, device.metadata.name);
  const spec = device.spec;
  const protocol = canonicalProtocol(spec.protocol.protocolName);
  if (model.spec.protocol && canonicalProtocol(model.spec.protocol) !== protocol) {
    warnings.push(new EdgetwinError(ErrorCodes.PROTOCOL_CONFIG,
      `protocol "${spec.protocol.protocolName}" differs from its model's protocol "${model.spec.protocol}"; the device's is used`,
      whereIn(doc, ['spec', 'protocol', 'protocolName'], { device: id }), 'make the two agree'));
  }
  const modelProps = new Map((model.spec.properties ?? []).map((p, i) => [p.name, { p, i }] as const));
  const modelVisitors = new Map((model.spec.visitors ?? []).map((v) => [v.propertyName, v] as const));
  const modelVisitorAt = new Map((model.spec.visitors ?? []).map((v, i) => [v.propertyName, i] as const));
  const modelOf = (name: string, i: number): ModelOrigin => ({ doc: modelDoc, path: ['spec', 'properties', i], visitorPath: modelVisitorAt.has(name) ? ['spec', 'visitors', modelVisitorAt.get(name)!] : undefined });
  const properties: PropertySpec[] = [];
  const listed = new Map<string, number>();
  (spec.properties ?? []).forEach((dp, i) => {
    const path = ['spec', 'properties', i];
    const first = listed.get(dp.name);
    if (first !== undefined) {
      errors.push(new EdgetwinError(ErrorCodes.MODEL_DUPLICATE, `duplicate property "${dp.name}" (first at line ${doc.lineAt(['spec', 'properties', first])})`,
        whereIn(doc, [...path, 'name'], { device: id, property: dp.name }), 'list each property of a device once'));
      return;
    }
    listed.set(dp.name, i);
    const mp = modelProps.get(dp.name);
    if (!mp) {
      errors.push(new EdgetwinError(ErrorCodes.MODEL_PROPERTY, `property "${dp.name}" is not in model ${modelKey(model)}`,
        whereIn(doc, [...path, 'name'], { device: id, property: dp.name }),
        `fix the name or add it to the model's spec.properties; ${knownNames([...modelProps.keys()])}`));
      return;
    }
    const ctx = { doc, path, id, errors, warnings };
    properties.push(resolveProperty(ctx, mp.p, modelVisitors.get(dp.name), dp, modelOf(dp.name, mp.i)));
  });
  // A model visitor fully describes how to read a property, so devices need not repeat it.
  for (const [name, { p, i }] of modelProps) {
    const mv = modelVisitors.get(name);
    if (listed.has(name) || !mv) continue;
    const ctx = { doc: modelDoc, path: ['spec', 'properties', i], id, errors, warnings };
    properties.push(resolveProperty(ctx, p, mv, undefined, modelOf(name, i)));
  }
  checkMethods(device, doc, id, new Set(properties.map((p) => p.name)), errors);
  if (errors.length > 0) return { errors, warnings };
  const resolved: Omit<DeviceSpecResolved, 'fingerprint'> = {
    id,
    namespace: device.metadata.namespace || 'default',
    name: device.metadata.name,
    model: model.metadata.name,
    ...(spec.nodeName ? { nodeName: spec.nodeName } : {}),
    protocol,
    protocolConfig: { ...model.spec.protocolConfigData, ...spec.protocol.configData },
    properties,
    methods: spec.methods ?? [],
    source: {
      file: doc.file,
      line: doc.lineAt([]),
      fields: {
        ...fieldSources(modelDoc, ['spec', 'protocolConfigData'], model.spec.protocolConfigData),
        ...fieldSources(doc, ['spec', 'protocol', 'configData'], spec.protocol.configData),
      },
    },
  };
  return { errors, warnings, device: { ...resolved, fingerprint: fingerprint(resolved) } };
}

/** Where a property's DeviceModel entry and its model-level visitor are. */
interface ModelOrigin {
  doc: ParsedDoc;
  path: PathSegment[];
  visitorPath?: PathSegment[];
}

/** file:line and path of each key of a configData (or of the named keys of an object) in `doc`. */
function fieldSources(doc: ParsedDoc, path: PathSegment[], data: object | undefined, keys = Object.keys(data ?? {})): Record<string, SourceRef> {
  const out: Record<string, SourceRef> = {};
  for (const key of keys) {
    if ((data as Record<string, unknown> | undefined)?.[key] === undefined) continue;
    const where = whereIn(doc, [...path, key]);
    out[key] = { file: where.file!, line: where.line!, path: where.path! };
  }
  return out;
}

// Every device of a model carries the model's field sources (where `type`, `accessMode` and the
// model visitor's keys were written); at 10,000 properties, one copy per device costs ~2 MB of heap.
// The entries are shared per model document and path; each property still gets its own `fields`.
const modelSources = new WeakMap<ParsedDoc, Map<string, Record<string, SourceRef>>>();

function sharedFieldSources(doc: ParsedDoc, path: PathSegment[], data: object | undefined, keys?: string[]): Record<string, SourceRef> {
  let byPath = modelSources.get(doc);
  if (!byPath) modelSources.set(doc, (byPath = new Map()));
  const key = `${formatPath(path)} ${keys?.join(',') ?? '*'}`;
  let out = byPath.get(key);
  if (!out) byPath.set(key, (out = fieldSources(doc, path, data, keys)));
  return out;
}

interface PropertyContext {
  doc: ParsedDoc;
  /** Path of the property item in `doc`: the device's when it lists it, else the model's. */
  path: PathSegment[];
  id: string;
  errors: EdgetwinError[];
  warnings: EdgetwinError[];
}

function resolveProperty(ctx: PropertyContext, mp: ModelProperty, mv: ModelVisitor | undefined, dp: DeviceProperty | undefined, model: ModelOrigin): PropertySpec {
  const at = (...rest: PathSegment[]): Where => whereIn(ctx.doc, [...ctx.path, ...rest], { device: ctx.id, property: mp.name });
  const type = typeFromKubeEdge(mp.type) ?? 'bytes';
  const visitor: ConfigData = { ...mv?.configData, ...dp?.visitors?.configData };
  if (dp) ctx.errors.push(...checkExtensions(dp.visitors?.configData, (key) => at('visitors', 'configData', key)));
  const spec: PropertySpec = {
    name: mp.name,
    type,
    accessMode: mp.accessMode ?? 'ReadWrite',
    ...limitsOf(mp, type),
    ...(mp.unit ? { unit: mp.unit } : {}),
    ...(mp.description ? { description: mp.description } : {}),
    collectCycle: cycle(dp?.collectCycle, 'collectCycle', ctx, at),
    reportCycle: cycle(dp?.reportCycle, 'reportCycle', ctx, at),
    reportToCloud: dp?.reportToCloud ?? false,
    ...(typeof visitor.deadband === 'number' ? { deadband: visitor.deadband } : {}),
    reconcile: (visitor.reconcile as ReconcilePolicy | undefined) ?? 'once',
    visitor,
    source: {
      file: ctx.doc.file,
      line: ctx.doc.lineAt(ctx.path),
      fields: {
        ...sharedFieldSources(model.doc, model.path, mp, ['type', 'accessMode', 'minimum', 'maximum', 'unit']),
        ...(model.visitorPath ? sharedFieldSources(model.doc, [...model.visitorPath, 'configData'], mv?.configData) : {}),
        ...(dp ? fieldSources(ctx.doc, [...ctx.path, 'visitors', 'configData'], dp.visitors?.configData) : {}),
      },
    },
  };
  if (mp.type === 'STREAM') {
    spec.unsupported = 'type STREAM is not supported yet: the property loads but is not polled';
    ctx.warnings.push(new EdgetwinError(ErrorCodes.MODEL_PROPERTY, spec.unsupported, at(), 'remove it or use BYTES'));
  }
  const push = dp?.pushMethod && supportedPush(dp.pushMethod, ctx, at);
  if (push) spec.pushMethod = push;
  const desired = dp?.desired?.value;
  // An empty value means none is set, so `desired: { value: "" }` templates load as they are.
  if (desired !== undefined && desired !== '') {
    const value = desiredValue(spec, desired, ctx, at('desired', 'value'));
    if (value !== undefined) spec.desired = value;
  }
  return spec;
}

// mqtt and http are honoured; the rest is dropped so no consumer mistakes it for working.
function supportedPush(pm: PushMethod, ctx: PropertyContext, at: (...rest: PathSegment[]) => Where): PushMethod | undefined {
  for (const key of ['dbMethod', 'otel'] as const) {
    if (pm[key] === undefined) continue;
    ctx.warnings.push(new EdgetwinError(ErrorCodes.MODEL_PROPERTY, `pushMethod.${key} is not supported yet and is ignored`,
      at('pushMethod', key), 'readings still reach the twin and MQTT; use pushMethod.mqtt or http to forward them'));
  }
  const out: PushMethod = {};
  if (pm.mqtt) out.mqtt = pm.mqtt;
  if (pm.http) out.http = pm.http;
  return out.mqtt || out.http ? out : undefined;
}

function desiredValue(spec: PropertySpec, raw: string | number | boolean, ctx: PropertyContext, where: Where): PropertyValue | undefined {
  if (spec.accessMode === 'ReadOnly') {
    ctx.errors.push(new EdgetwinError(ErrorCodes.READ_ONLY, `desired value ${describe(raw)} set on a ReadOnly property`, where,
      'remove desired, or make the property ReadWrite in its model'));
    return undefined;
  }
  let value: PropertyValue;
  try {
    value = parseValue(spec.type, raw);
  } catch (e) {
    if (!(e instanceof ValueError)) throw e;
    ctx.errors.push(new EdgetwinError(ErrorCodes.MODEL_VALUE, `${e.message} for a ${spec.type} property`, where,
      `write a ${spec.type} value, as a string: value: "..."`, { cause: e }));
    return undefined;
  }
  const n = typeof value === 'number' || typeof value === 'bigint' ? Number(value) : undefined;
  if (n !== undefined) {
    const { minimum: min, maximum: max } = spec;
    const range = min !== undefined && max !== undefined ? `within ${min}..${max}` : min !== undefined ? `of at least ${min}` : `of at most ${max}`;
    if (min !== undefined && n < min) {
      ctx.errors.push(new EdgetwinError(ErrorCodes.MODEL_VALUE, `${String(raw)} is below minimum ${min}`, where,
        `set a value ${range} or change the model's minimum`));
    } else if (max !== undefined && n > max) {
      ctx.errors.push(new EdgetwinError(ErrorCodes.MODEL_VALUE, `${String(raw)} is above maximum ${max}`, where,
        `set a value ${range} or change the model's maximum`));
    }
  }
  return value;
}

/** Below this a cycle is legal but likely a mistake (seconds written as ms, or a busy loop on the link). */
export const SHORT_CYCLE_MS = 10;

function cycle(value: number | undefined, field: string, ctx: PropertyContext, at: (...rest: PathSegment[]) => Where): number {
  if (value === undefined) return DEFAULT_CYCLE_MS;
  if (value === 0) {
    // KubeEdge's mappers read 0 as their default; keep that, but say so: 0 could be meant as "as fast as possible".
    ctx.warnings.push(new EdgetwinError(ErrorCodes.MODEL_VALUE, `${field} 0 means the default, ${DEFAULT_CYCLE_MS} ms`, at(field),
      `write ${field}: ${DEFAULT_CYCLE_MS} to say so, or remove the key`));
    return DEFAULT_CYCLE_MS;
  }
  if (value < SHORT_CYCLE_MS) {
    ctx.warnings.push(new EdgetwinError(ErrorCodes.MODEL_VALUE, `${field} ${value} ms is below ${SHORT_CYCLE_MS} ms: the device is asked ${Math.round(1000 / value)} times a second`, at(field),
      `edgetwin cycles are milliseconds; write ${field}: ${value * 1000} if you meant seconds`));
    return value;
  }
  if (value < NANOSECONDS_FROM) return value;
  const ms = Math.max(1, Math.round(value / 1e6));
  ctx.warnings.push(new EdgetwinError(ErrorCodes.MODEL_VALUE, `${field} ${value} read as nanoseconds: ${ms} ms`, at(field),
    `edgetwin cycles are milliseconds; write ${field}: ${ms}`));
  return ms;
}

// `deadband` and `reconcile` are edgetwin's; every other configData key belongs to the driver.
function checkExtensions(config: ConfigData | undefined, at: (key: string) => Where): EdgetwinError[] {
  const errors: EdgetwinError[] = [];
  if (!config) return errors;
  const { deadband, reconcile } = config;
  if (deadband !== undefined && (typeof deadband !== 'number' || !(deadband >= 0))) {
    errors.push(new EdgetwinError(ErrorCodes.VISITOR_CONFIG, `deadband ${describe(deadband)} is not a number >= 0`, at('deadband'),
      'deadband is the absolute change below which a reading is not reported, e.g. deadband: 0.5'));
  }
  if (reconcile !== undefined && reconcile !== 'once' && reconcile !== 'enforce') {
    errors.push(new EdgetwinError(ErrorCodes.VISITOR_CONFIG, `reconcile ${describe(reconcile)} is not once or enforce`, at('reconcile'),
      'once writes a new desired value and reports drift; enforce also rewrites a drifted value'));
  }
  return errors;
}

function checkMethods(device: Device, doc: ParsedDoc, id: string, properties: Set<string>, errors: EdgetwinError[]): void {
  const seen = new Set<string>();
  (device.spec.methods ?? []).forEach((m, i) => {
    const path = ['spec', 'methods', i];
    if (seen.has(m.name)) {
      errors.push(new EdgetwinError(ErrorCodes.MODEL_DUPLICATE, `duplicate method "${m.name}"`, whereIn(doc, [...path, 'name'], { device: id }),
        'give each method its own name'));
    }
    seen.add(m.name);
    m.propertyNames.forEach((p, j) => {
      if (properties.has(p)) return;
      errors.push(new EdgetwinError(ErrorCodes.MODEL_PROPERTY, `method "${m.name}" names property "${p}", which this device does not have`,
        whereIn(doc, [...path, 'propertyNames', j], { device: id, property: p }), knownNames([...properties])));
    });
  });
}

function isNumeric(p: ModelProperty): boolean {
  const t = typeFromKubeEdge(p.type);
  return t !== undefined && NUMERIC.includes(t);
}

function limitsOf(p: ModelProperty, type: PropertyType): { minimum?: number; maximum?: number } {
  if (!NUMERIC.includes(type)) return {};
  const out: { minimum?: number; maximum?: number } = {};
  if (p.minimum !== undefined && p.minimum !== '') out.minimum = Number(p.minimum);
  if (p.maximum !== undefined && p.maximum !== '') out.maximum = Number(p.maximum);
  return out;
}

function knownNames(names: string[]): string {
  return names.length ? `known: ${names.join(', ')}` : 'it has none';
}
