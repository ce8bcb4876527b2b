// Loads Device, DeviceModel and DeviceStatus documents from files, folders or memory, and
// resolves every device that passes. One bad document never stops the others: each finding is
// an EdgetwinError with file, line and field path, and only what it touches is rejected.

import { readdir, readFile, realpath, stat } from 'node:fs/promises';
import { join, resolve as resolvePath } from 'node:path';
import { EdgetwinError, ErrorCodes } from '../errors.ts';
import { deviceId, type DeviceSpecResolved } from '../device.ts';
import type { Device, DeviceModel } from './types.ts';
import { parseText, whereIn, type ParsedDoc } from './parse.ts';
import { checkDocument } from './schema.ts';
import { checkModel, resolveDevice } from './resolve.ts';

export interface ModelLoad {
  /** Every device that passed, model merged in, in load order. */
  devices: DeviceSpecResolved[];
  /** Every model that passed, by `${namespace}/${name}`. */
  models: Map<string, DeviceModel>;
  errors: EdgetwinError[];
  /** Loaded but noteworthy: unknown or unsupported fields, nanosecond cycles. */
  warnings: EdgetwinError[];
  /** Every file read, for the reload watcher. */
  files: string[];
}

export interface Source {
  file: string;
  text: string;
}

const DOCUMENT_FILE = /\.(ya?ml|json)$/i;

/** Files or folders (recursive: .yaml, .yml and .json files; anything else is ignored). */
export async function loadDevices(paths: string[]): Promise<ModelLoad> {
  const errors: EdgetwinError[] = [];
  const sources: Source[] = [];
  const folders: { folder: string; files: string[] }[] = [];
  const read = new Set<string>();
  const addFile = async (file: string): Promise<boolean> => {
    const key = resolvePath(file);
    if (read.has(key)) return false;
    read.add(key);
    try {
      sources.push({ file, text: await readFile(file, 'utf8') });
      return true;
    } catch (e) {
      errors.push(new EdgetwinError(ErrorCodes.MODEL_PARSE, `cannot read file: ${(e as Error).message}`, { file }, 'check the permissions'));
      return false;
    }
  };
  for (const path of paths) {
    let isFolder: boolean;
    try {
      isFolder = (await stat(path)).isDirectory();
    } catch (e) {
      const missing = (e as NodeJS.ErrnoException).code === 'ENOENT';
      errors.push(new EdgetwinError(ErrorCodes.CONFIG, missing ? 'no such file or folder' : `cannot read: ${(e as Error).message}`,
        { file: path }, 'pass a Device YAML/JSON file or a folder of them'));
      continue;
    }
    if (!isFolder) {
      await addFile(path);
      continue;
    }
    const files: string[] = [];
    for (const file of await documentFiles(path, new Set())) if (await addFile(file)) files.push(file);
    folders.push({ folder: path, files });
  }
  const { load, documentsIn } = loadSources(sources);
  for (const { folder, files } of folders) {
    if (files.some((f) => (documentsIn.get(f) ?? 0) > 0)) continue;
    errors.push(new EdgetwinError(ErrorCodes.CONFIG, 'folder holds no Device or DeviceModel document', { file: folder },
      'edgetwin reads .yaml, .yml and .json files in a folder and its subfolders; check the path'));
  }
  return { ...load, errors: [...errors, ...load.errors] };
}

/** The same as loadDevices, from texts already in memory (tests, the hub). */
export function loadFromTexts(sources: Source[]): ModelLoad {
  return loadSources(sources).load;
}

/** Devices bound to this node: what a gateway runs of what the cloud sends. */
export function filterForNode(devices: DeviceSpecResolved[], nodeName: string): DeviceSpecResolved[] {
  return devices.filter((d) => d.nodeName === nodeName);
}

// Sorted, so "the first of two duplicates" means the same file on every machine.
async function documentFiles(folder: string, visited: Set<string>): Promise<string[]> {
  const real = await realpath(folder);
  if (visited.has(real)) return [];
  visited.add(real);
  const out: string[] = [];
  const entries = (await readdir(folder, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const entry of entries) {
    if (entry.name.startsWith('.') || entry.name === 'node_modules') continue;
    const path = join(folder, entry.name);
    const isFolder = entry.isDirectory() || (entry.isSymbolicLink() && (await stat(path).then((s) => s.isDirectory(), () => false)));
    if (isFolder) out.push(...(await documentFiles(path, visited)));
    else if (DOCUMENT_FILE.test(entry.name)) out.push(path);
  }
  return out;
}

interface Entry<T> {
  obj: T;
  doc: ParsedDoc;
}

function loadSources(sources: Source[]): { load: ModelLoad; documentsIn: Map<string, number> } {
  const errors: EdgetwinError[] = [];
  const warnings: EdgetwinError[] = [];
  const documentsIn = new Map<string, number>();
  const models = new Map<string, Entry<DeviceModel>>();
  const badModels = new Map<string, EdgetwinError>();
  const devices: Entry<Device>[] = [];
  const firstSeen = new Map<string, ParsedDoc>();

  // First of two objects of the same kind and name wins; the second is an error naming both places.
  const claim = (kind: string, key: string, doc: ParsedDoc): boolean => {
    const first = firstSeen.get(`${kind} ${key}`);
    if (!first) {
      firstSeen.set(`${kind} ${key}`, doc);
      return true;
    }
    errors.push(new EdgetwinError(ErrorCodes.MODEL_DUPLICATE, `duplicate ${kind} ${key}: already defined at ${first.file}:${first.lineAt([])}; this one is ignored`,
      whereIn(doc, ['metadata', 'name'], kind === 'DeviceModel' ? {} : { device: key }), 'rename one of them or remove the copy'));
    return false;
  };

  for (const { file, text } of sources) {
    const parsed = parseText(file, text);
    documentsIn.set(file, parsed.docs.length + parsed.errors.length);
    errors.push(...parsed.errors);
    for (const doc of parsed.docs) {
      const checked = checkDocument(doc);
      warnings.push(...checked.warnings);
      const key = nameKey(doc.value);
      if (!checked.kind || !key) {
        errors.push(...checked.errors);
        continue;
      }
      if (!claim(checked.kind, key, doc)) continue;
      errors.push(...checked.errors);
      if (checked.kind === 'DeviceModel') {
        const model = doc.value as DeviceModel;
        const findings = checked.errors.length ? { errors: checked.errors, warnings: [] } : checkModel(model, doc);
        if (findings.errors.length) {
          badModels.set(key, findings.errors[0]);
          if (!checked.errors.length) errors.push(...findings.errors);
        } else models.set(key, { obj: model, doc });
        warnings.push(...findings.warnings);
      } else if (checked.kind === 'Device' && !checked.errors.length) {
        devices.push({ obj: doc.value as Device, doc });
      }
    }
  }

  const resolved: DeviceSpecResolved[] = [];
  for (const { obj, doc } of devices) {
    const id = deviceId(obj.metadata.namespace, obj.metadata.name);
    const namespace = obj.metadata.namespace || 'default';
    const ref = obj.spec.deviceModelRef.name;
    const key = `${namespace}/${ref}`;
    const where = whereIn(doc, ['spec', 'deviceModelRef', 'name'], { device: id });
    const bad = badModels.get(key);
    const model = models.get(key);
    if (bad) {
      errors.push(new EdgetwinError(ErrorCodes.MODEL_MISSING, `its DeviceModel ${key} did not load (${bad.format()})`, where,
        'fix the model; the device loads with it'));
    } else if (!model) {
      errors.push(new EdgetwinError(ErrorCodes.MODEL_MISSING, `DeviceModel "${ref}" not found in namespace ${namespace}`, where,
        missingModelHint(ref, namespace, [...models.keys(), ...badModels.keys()])));
    } else {
      const out = resolveDevice(obj, doc, model.obj, model.doc);
      errors.push(...out.errors);
      warnings.push(...out.warnings);
      if (out.device) resolved.push(out.device);
    }
  }
  const load: ModelLoad = {
    devices: resolved,
    models: new Map([...models].map(([k, e]) => [k, e.obj])),
    errors,
    warnings,
    files: sources.map((s) => s.file),
  };
  return { load, documentsIn };
}

function nameKey(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const meta = (value as { metadata?: { name?: unknown; namespace?: unknown } }).metadata;
  if (typeof meta?.name !== 'string' || !meta.name) return undefined;
  return deviceId(typeof meta.namespace === 'string' ? meta.namespace : undefined, meta.name);
}

function missingModelHint(ref: string, namespace: string, known: string[]): string {
  const elsewhere = known.filter((k) => k.endsWith(`/${ref}`));
  if (elsewhere.length) return `a model is looked up in its device's namespace; found ${elsewhere.join(', ')}: move the device or the model`;
  return `define a DeviceModel named ${ref} in namespace ${namespace} in any loaded file or folder${known.length ? `; loaded models: ${known.join(', ')}` : ''}`;
}
