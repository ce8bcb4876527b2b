// The one JSON Schema setup (ajv) and the one translator of its findings into words a person can
// act on. Devices and DeviceModels (core/model), the gateway's config file (cli/config.ts) and every
// driver's protocol and visitor schemas (mappers/sdk/prepare.ts) are checked here, so one mistake
// reads the same wherever it is made. Each caller adds where (file:line, device, flag) and its code.
//
// Types come from the schemas, not beside them: a schema written `as const` gives its TypeScript
// type through FromSchema (json-schema-to-ts, types only, nothing at run time), so the two cannot
// drift apart. See docs/architecture.md for why this over TypeBox or a generator.

import { Ajv, type ErrorObject, type Options } from 'ajv';
import addFormatsModule from 'ajv-formats';
import type { FromSchema, JSONSchema } from 'json-schema-to-ts';

export type { FromSchema, JSONSchema };

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

const OPTIONS: Options = { allErrors: true, verbose: true, allowUnionTypes: true, useDefaults: true };
// Our own schemas compile strictly: a misspelt keyword in them fails at startup, in a test. A
// driver package's schemas compile tolerantly: keywords of other drafts or tools are ignored.
const strictAjv = addFormats(new Ajv({ ...OPTIONS, strict: true }));
const tolerantAjv = addFormats(new Ajv({ ...OPTIONS, strict: false }));

export type PathSegment = string | number;

/** One finding of a schema, translated. */
export interface SchemaProblem {
  /** Where in the value: the failing field's path, with a missing or unknown key appended. */
  path: PathSegment[];
  /** The ajv keyword that failed (required, type, enum, additionalProperties, ...). */
  keyword: string;
  /** What is wrong, in words: `expected a whole number, got "abc"`. */
  message: string;
  /** Set for a key the schema does not know (callers may make it a warning). */
  unknownKey?: string;
}

/** A compiled schema: the typed value, or the problems. `useDefaults` fills in defaults in place. */
export interface Validator<T> {
  check(value: unknown): { ok: true; value: T } | { ok: false; problems: SchemaProblem[] };
}

/**
 * Compile a schema once (at startup or when a driver loads). `strict` for edgetwin's own schemas;
 * off for a driver package's, which may use keywords of other drafts.
 */
export function compileSchema<T = unknown>(schema: object, opts: { strict?: boolean } = {}): Validator<T> {
  const validate = (opts.strict === false ? tolerantAjv : strictAjv).compile(schema);
  return {
    check(value) {
      if (validate(value)) return { ok: true, value: value as T };
      return { ok: false, problems: (validate.errors ?? []).map(translate) };
    },
  };
}

/** ajv's /spec/properties/0/name as segments: ['spec', 'properties', 0, 'name']. */
export function pointerPath(pointer: string): PathSegment[] {
  if (!pointer) return [];
  return pointer.slice(1).split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~')).map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

/** Segments as people write them: spec.properties[0].name. */
export function dottedPath(path: readonly PathSegment[]): string {
  return path.reduce<string>((out, s) => (typeof s === 'number' ? `${out}[${s}]` : out ? `${out}.${s}` : s), '');
}

/** A value as a message shows it. */
export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a map';
  if (typeof v === 'string') return JSON.stringify(v);
  return String(v);
}

const TYPE_WORDS: Record<string, string> = {
  integer: 'a whole number', number: 'a number', string: 'a string', boolean: 'true or false', object: 'a map (key: value)',
  array: 'a list', null: 'null', 'string,number,boolean': 'a string, number or boolean', 'string,number': 'a number or a numeric string',
};

/** One ajv finding in words. */
export function translate(e: ErrorObject): SchemaProblem {
  const base = pointerPath(e.instancePath);
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'required':
      return { path: [...base, String(p.missingProperty)], keyword: e.keyword, message: `missing required field "${String(p.missingProperty)}"` };
    case 'additionalProperties': {
      const key = String(p.additionalProperty);
      return { path: [...base, key], keyword: e.keyword, message: `unknown field "${key}"`, unknownKey: key };
    }
    case 'type': {
      const want = String(p.type);
      return { path: base, keyword: e.keyword, message: `expected ${TYPE_WORDS[want] ?? want}, got ${describe(e.data)}` };
    }
    case 'enum':
      return { path: base, keyword: e.keyword, message: `${describe(e.data)} is not one of ${(p.allowedValues as unknown[]).map((v) => (typeof v === 'string' ? v : JSON.stringify(v))).join(', ')}` };
    case 'const':
      return { path: base, keyword: e.keyword, message: `${describe(e.data)} is not ${JSON.stringify(p.allowedValue)}` };
    case 'pattern':
      return { path: base, keyword: e.keyword, message: `${describe(e.data)} does not match the pattern ${String(p.pattern)}` };
    case 'format':
      return { path: base, keyword: e.keyword, message: `${describe(e.data)} is not a valid ${String(p.format)}` };
    case 'minimum':
    case 'maximum':
      return { path: base, keyword: e.keyword, message: `${describe(e.data)} is ${e.keyword === 'minimum' ? 'below' : 'above'} the ${e.keyword} ${String(p.limit)}` };
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
      return { path: base, keyword: e.keyword, message: `${describe(e.data)} must be ${e.keyword === 'exclusiveMinimum' ? 'above' : 'below'} ${String(p.limit)}` };
    case 'minLength':
      return { path: base, keyword: e.keyword, message: p.limit === 1 ? 'must not be empty' : `is shorter than ${String(p.limit)} characters` };
    case 'maxLength':
      return { path: base, keyword: e.keyword, message: `is longer than ${String(p.limit)} characters` };
    case 'minItems':
      return { path: base, keyword: e.keyword, message: p.limit === 1 ? 'must not be an empty list' : `has fewer than ${String(p.limit)} items` };
    case 'maxItems':
      return { path: base, keyword: e.keyword, message: `has more than ${String(p.limit)} items` };
    default:
      return { path: base, keyword: e.keyword, message: e.message ?? `fails the schema's ${e.keyword}` };
  }
}
