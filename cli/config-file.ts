// Reading a config file: YAML with line numbers, validated against the schema, unknown keys
// answered with the nearest known one, and relative paths resolved from the file's folder.

import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { compileSchema, dottedPath } from '../core/schema.ts';
import { DOCS, fileSchema, MQTT_SCHEMES, type FileConfig } from './config-schema.ts';
import { configError } from './failure.ts';

const fileValidator = compileSchema<FileConfig>(fileSchema);

export interface ParsedFile {
  data: FileConfig;
  /** The line of a key in the file, e.g. ['mqtt', 'url']; undefined when absent. */
  lineOf(path: string[]): number | undefined;
}

/** Read and validate a config file; paths inside it are relative to the file. */
export function readConfigFile(file: string): FileConfig & { file: string } {
  return { ...parseConfigFile(file).data, file: resolve(file) };
}

export function parseConfigFile(file: string): ParsedFile {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const what = e.code === 'ENOENT' ? 'the config file does not exist' : `cannot read config file: ${e.message}`;
    throw configError(what, { file, flag: '--config' }, 'check the --config path (relative paths start from the current directory)');
  }
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    throw configError(`invalid YAML: ${e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')}`, { file, line: e.linePos?.[0]?.line },
      'fix the YAML at that line: indentation, a missing colon, or an unclosed quote or bracket');
  }
  const lineOf = (path: string[]): number | undefined => {
    const node = path.length ? doc.getIn(path, true) : doc.contents;
    const range = (node as { range?: [number] } | null | undefined)?.range;
    return range ? lines.linePos(range[0]).line : undefined;
  };
  const keyLine = (parent: string[], key: string): number | undefined => {
    const map = parent.length ? doc.getIn(parent, true) : doc.contents;
    const items = (map as { items?: { key?: { value?: unknown; range?: [number] } }[] } | null)?.items ?? [];
    const range = items.find((i) => i.key?.value === key)?.key?.range;
    return range ? lines.linePos(range[0]).line : lineOf(parent);
  };
  const raw: unknown = doc.toJS() ?? {};
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw configError('the config file is not a map of keys', { file, line: 1 }, `write keys such as "api:" and "mqtt:" at the top level; see ${DOCS}`);
  }
  const checked = fileValidator.check(raw);
  if (!checked.ok) {
    const problem = checked.problems[0]!;
    if (problem.unknownKey !== undefined) {
      const parent = problem.path.slice(0, -1).map(String);
      const full = [...parent, problem.unknownKey].join('.');
      const near = closest(full, KNOWN_KEYS);
      throw configError(`unknown config key "${full}"`, { file, line: keyLine(parent, problem.unknownKey) },
        `${near ? `did you mean "${near}"? ` : ''}the keys are listed in ${DOCS}`);
    }
    const path = dottedPath(problem.path) || '(top level)';
    throw configError(`${path}: ${problem.message}`, { file, line: lineOf(problem.path.map(String)) }, `see ${path.replace(/\[\d+\]/g, '')} in ${DOCS}`);
  }
  const data = checked.value;
  if (data.mqtt?.url !== undefined) {
    const problem = mqttUrlProblem(data.mqtt.url);
    if (problem) throw configError(`mqtt.url ${problem.what}`, { file, line: lineOf(['mqtt', 'url']) }, problem.hint);
  }
  const base = dirname(resolve(file));
  const rel = (p: string | undefined) => (p === undefined ? undefined : resolve(base, p));
  if (data.devices) data.devices = data.devices.map((d) => rel(d)!);
  if (data.dataDir) data.dataDir = rel(data.dataDir);
  if (data.mqtt?.passwordFile) data.mqtt.passwordFile = rel(data.mqtt.passwordFile);
  if (data.mqtt?.tls) {
    for (const k of ['ca', 'cert', 'key'] as const) if (data.mqtt.tls[k]) data.mqtt.tls[k] = rel(data.mqtt.tls[k]);
  }
  if (data.api?.tokenFile) data.api.tokenFile = rel(data.api.tokenFile);
  if (data.edged?.pods) data.edged.pods = data.edged.pods.map((d) => rel(d)!);
  if (data.dmi?.socket) data.dmi.socket = rel(data.dmi.socket);
  if (data.api?.tls) {
    for (const k of ['cert', 'key', 'clientCa'] as const) if (data.api.tls[k]) data.api.tls[k] = rel(data.api.tls[k]);
  }
  if (data.broker) {
    for (const k of ['passwordFile', 'aclFile'] as const) if (data.broker[k]) data.broker[k] = rel(data.broker[k]);
    const tls = data.broker.tls;
    if (tls) for (const k of ['ca', 'cert', 'key'] as const) if (tls[k]) tls[k] = rel(tls[k]);
  }
  return { data, lineOf };
}

/** Every key the file accepts, dotted (mqtt.tls.ca), for "did you mean". */
const KNOWN_KEYS: string[] = (function keysOf(schema: { properties?: Record<string, unknown> }, prefix: string): string[] {
  return Object.entries(schema.properties ?? {}).flatMap(([k, v]) => [prefix + k, ...keysOf(v as { properties?: Record<string, unknown> }, `${prefix}${k}.`)]);
})(fileSchema, '');

/** The known key nearest by edit distance, when near enough to be a typo. */
export function closest(word: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const k of known) {
    const d = editDistance(word.toLowerCase(), k.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [k, d];
  }
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[b.length]!;
}

/** Why an MQTT URL cannot work, or undefined when it can. */
export function mqttUrlProblem(url: string): { what: string; hint: string } | undefined {
  const schemes = MQTT_SCHEMES.map((s) => `${s}://`).join(', ');
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return { what: 'is not a URL', hint: `write it as mqtt://host:port; accepted schemes: ${schemes}` };
  }
  const scheme = parsed.protocol.replace(/:$/, '');
  if (!(MQTT_SCHEMES as readonly string[]).includes(scheme)) {
    return { what: `has the unknown scheme "${scheme}://"`, hint: `accepted schemes: ${schemes}` };
  }
  if (!parsed.hostname) return { what: 'names no host', hint: 'write it as mqtt://host:port' };
  return undefined;
}
