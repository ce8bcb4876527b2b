// What the host accepts from a driver package, checked by shape: a package carries its own copy of
// the SDK (or of the gateway) often enough that `instanceof` would refuse a good driver, so
// nothing here compares classes. Also the SDK range check every driver passes at load.

import { SDK_VERSION, type Driver } from './driver.ts';

export interface DriverLoader {
  /** protocolName as Device YAML spells it. */
  name: string;
  aliases?: string[];
  /** Where it came from, for messages: `built-in`, a package name and version, or a path. Set by the gateway. */
  source?: string;
  /** Lazy: heavy protocol libraries load only when a device needs them. */
  load(): Promise<Driver<any, any>>;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;

/** Problems that keep a value from being a DriverLoader; empty when it is one. */
export function loaderProblems(value: unknown): string[] {
  if (!isObject(value)) return [`expected a driver loader object, got ${value === null ? 'null' : typeof value}`];
  const problems: string[] = [];
  if (typeof value.name !== 'string' || value.name.length === 0) problems.push('name must be a non-empty string (the protocolName)');
  if (typeof value.load !== 'function') problems.push('load must be a function returning the driver');
  if (value.aliases !== undefined && !(Array.isArray(value.aliases) && value.aliases.every((a) => typeof a === 'string'))) problems.push('aliases must be an array of strings');
  return problems;
}

/**
 * The driver loaders a package's default export holds: one loader or an array of them.
 * Returns the loaders and one message per entry that is not a loader.
 */
export function loadersOf(exported: unknown): { loaders: DriverLoader[]; problems: string[] } {
  if (exported === undefined) return { loaders: [], problems: ['it has no default export (export default a driver loader or an array of them)'] };
  const entries = Array.isArray(exported) ? exported : [exported];
  const loaders: DriverLoader[] = [];
  const problems: string[] = [];
  entries.forEach((entry, i) => {
    const found = loaderProblems(entry);
    if (found.length === 0) loaders.push(entry as DriverLoader);
    else problems.push(`${Array.isArray(exported) ? `default export [${i}]` : 'default export'}: ${found.join('; ')}`);
  });
  return { loaders, problems };
}

/** Problems that keep a loaded value from being a Driver; empty when it is one. */
export function driverProblems(value: unknown): string[] {
  if (!isObject(value)) return [`load() returned ${value === null ? 'null' : typeof value}, not a driver object`];
  const problems: string[] = [];
  if (typeof value.name !== 'string' || value.name.length === 0) problems.push('name must be a non-empty string');
  if (typeof value.sdkVersion !== 'string') problems.push('sdkVersion must be a semver range string such as "^1.0.0"');
  for (const key of ['protocolSchema', 'visitorSchema'] as const) if (!isObject(value[key])) problems.push(`${key} must be a JSON Schema object`);
  if (typeof value.connect !== 'function') problems.push('connect must be a function');
  for (const key of ['check', 'link', 'maxInFlight', 'timeout', 'serial', 'plan', 'pushes', 'codec', 'discover'] as const) {
    if (value[key] !== undefined && typeof value[key] !== 'function') problems.push(`${key} must be a function when present`);
  }
  return problems;
}

type Version = [number, number, number];

function parseVersion(text: string): Version | undefined {
  const m = /^v?(\d+|[xX*])(?:\.(\d+|[xX*]))?(?:\.(\d+|[xX*]))?(?:[-+].*)?$/.exec(text.trim());
  if (!m) return undefined;
  return [m[1], m[2], m[3]].map((p) => (p === undefined || /[xX*]/.test(p) ? -1 : Number(p))) as Version;
}

function compare(a: Version, b: Version): number {
  for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return 0;
}

/** One comparator (`^1.2.0`, `~1.2`, `>=1.0.0`, `1.x`, `*`) against a version. */
function satisfiesOne(version: Version, comparator: string): boolean {
  const m = /^(\^|~|>=|<=|>|<|=)?\s*(.+)$/.exec(comparator);
  if (!m) return false;
  if (m[2] === '*' || m[2] === 'x') return true;
  const want = parseVersion(m[2]!);
  if (!want) return false;
  const floor = want.map((p) => Math.max(p, 0)) as Version;
  const cmp = compare(version, floor);
  switch (m[1]) {
    case '^':
      if (cmp < 0) return false;
      if (floor[0] > 0) return version[0] === floor[0];
      if (floor[1] > 0) return version[0] === 0 && version[1] === floor[1];
      return version[0] === 0 && version[1] === 0 && (want[2] === -1 || version[2] === floor[2]);
    case '~': return cmp >= 0 && version[0] === floor[0] && (want[1] === -1 || version[1] === floor[1]);
    case '>=': return cmp >= 0;
    case '>': return cmp > 0;
    case '<=': return cmp <= 0;
    case '<': return cmp < 0;
    default:
      // A bare or `=` version: wildcards (1.x, 1) match anything below them.
      return want.every((p, i) => p === -1 || p === version[i]);
  }
}

/** Whether `version` satisfies a semver range (`||` alternatives of space-separated comparators). */
export function satisfies(version: string, range: string): boolean {
  const v = parseVersion(version);
  if (!v || v.includes(-1)) return false;
  return range.split('||').some((alt) => {
    const comparators = alt.trim().replace(/(\^|~|>=|<=|>|<|=)\s+/g, '$1').split(/\s+/).filter(Boolean);
    return comparators.length === 0 || comparators.every((c) => satisfiesOne(v, c));
  });
}

/** Whether a driver written for `range` runs on this SDK. */
export function sdkCompatible(range: string): boolean {
  return satisfies(SDK_VERSION, range);
}
