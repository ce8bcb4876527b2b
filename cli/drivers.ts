// Which drivers a gateway loads, and from where. Built-in drivers and driver packages take one
// path: a module whose default export is a driver loader or an array of them, checked by shape
// (mappers/sdk/plugin.ts). Each driver loads lazily, so a heavy protocol library is imported only
// when a device of that protocol exists.

import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { EdgetwinError, ErrorCodes } from '../core/errors.ts';
import { loadersOf, type DriverLoader } from '../mappers/sdk/plugin.ts';
import { packageRoot, runningBundle } from './package-root.ts';

/** A driver package or path the configuration names, and what its relative path is relative to. */
export interface DriverRef {
  spec: string;
  /** Directory a relative path or a package name resolves from. */
  base: string;
  /** Where the reference was written: `--driver` or the config file. */
  via: string;
}

/** A module that provides drivers, before it is imported. */
interface DriverModule {
  source: string;
  kind: 'built-in' | 'package' | 'path';
  /** The file it loads from, for `edgetwin drivers`. */
  location: string;
  import(): Promise<{ default?: unknown }>;
  ref?: DriverRef;
}

export interface ListedDriver {
  protocol: string;
  aliases: string[];
  kind: DriverModule['kind'];
  source: string;
  location: string;
}

const root = packageRoot;
const bundled = runningBundle;

const builtin = (folder: string, load: () => Promise<{ default?: unknown }>): DriverModule => ({
  source: 'built-in',
  kind: 'built-in',
  location: join(root, 'mappers', folder),
  import: load,
});

const BUILT_IN: DriverModule[] = [
  builtin('virtual', () => import('../mappers/virtual/index.ts')),
  builtin('modbus', () => import('../mappers/modbus/index.ts')),
  builtin('ble', () => import('../mappers/ble/index.ts')),
  builtin('opcua', () => import('../mappers/opcua/index.ts')),
  builtin('serial', () => import('../mappers/serial/index.ts')),
];

/** The module's entry file from package.json `exports` (import/node/default conditions) or `main`. */
function packageEntry(dir: string): { file: string; name?: string; version?: string } {
  const pkgFile = join(dir, 'package.json');
  if (!existsSync(pkgFile)) return { file: join(dir, 'index.js') };
  const pkg = JSON.parse(readFileSync(pkgFile, 'utf8')) as { name?: string; version?: string; main?: string; exports?: unknown };
  const pick = (target: unknown): string | undefined => {
    if (typeof target === 'string') return target;
    if (Array.isArray(target)) return target.map(pick).find(Boolean);
    if (target && typeof target === 'object') {
      const map = target as Record<string, unknown>;
      if ('.' in map) return pick(map['.']);
      for (const condition of ['import', 'node', 'default']) if (condition in map) return pick(map[condition]);
    }
    return undefined;
  };
  const entry = pick(pkg.exports) ?? pkg.main ?? 'index.js';
  return { file: resolve(dir, entry), name: pkg.name, version: pkg.version };
}

/** node_modules/<name> from `base` upwards, as Node looks a package up. */
function findPackage(name: string, base: string): string | undefined {
  for (let dir = resolve(base); ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return candidate;
    if (dirname(dir) === dir) return undefined;
  }
}

function resolveRef(ref: DriverRef): DriverModule | EdgetwinError {
  const where = { path: ref.via === '--driver' ? '--driver' : 'drivers', file: ref.via === '--driver' ? undefined : ref.via };
  const isPath = ref.spec.startsWith('.') || isAbsolute(ref.spec);
  let dir: string | undefined;
  let file: string | undefined;
  if (isPath) {
    const target = resolve(ref.base, ref.spec);
    if (!existsSync(target)) {
      return new EdgetwinError(ErrorCodes.CONFIG, `driver path ${ref.spec} does not exist (looked at ${target})`, where, 'give the folder of a driver package or its built JavaScript file');
    }
    if (statSync(target).isDirectory()) dir = target;
    else file = target;
  } else {
    dir = findPackage(ref.spec, ref.base);
    if (!dir) {
      return new EdgetwinError(ErrorCodes.CONFIG, `driver package ${ref.spec} is not installed (looked in node_modules from ${ref.base} upwards)`, where, `run \`npm install ${ref.spec}\` in ${ref.base}, or give the package's path`);
    }
  }
  const entry = dir ? packageEntry(dir) : { file: file! };
  if (!existsSync(entry.file)) {
    return new EdgetwinError(ErrorCodes.CONFIG, `driver ${ref.spec}: its entry ${entry.file} does not exist`, where, `build the package (\`npm install\` or \`npm run prepare\` in ${dir ?? dirname(entry.file)}) so its JavaScript exists`);
  }
  const name = 'name' in entry && entry.name ? `${entry.name}${entry.version ? `@${entry.version}` : ''}` : ref.spec;
  return {
    source: name,
    kind: isPath ? 'path' : 'package',
    location: entry.file,
    ref,
    import: () => import(pathToFileURL(entry.file).href) as Promise<{ default?: unknown }>,
  };
}

/**
 * Imports the built-in drivers and every referenced package, in that order. A package that is
 * missing, fails to import, exports no loader or claims a protocol already served is an error
 * naming it; the other drivers still load, so the devices they serve run.
 */
export async function loadDrivers(refs: readonly DriverRef[] = []): Promise<{ loaders: DriverLoader[]; listed: ListedDriver[]; errors: EdgetwinError[] }> {
  const loaders: DriverLoader[] = [];
  const listed: ListedDriver[] = [];
  const errors: EdgetwinError[] = [];
  const served = new Map<string, string>();
  const modules: DriverModule[] = [...BUILT_IN];
  for (const ref of refs) {
    const resolved = resolveRef(ref);
    if (resolved instanceof EdgetwinError) errors.push(resolved);
    else modules.push(resolved);
  }
  for (const mod of modules) {
    const where = mod.ref ? { path: mod.ref.via === '--driver' ? '--driver' : 'drivers', file: mod.ref.via === '--driver' ? undefined : mod.ref.via } : {};
    let exported: unknown;
    try {
      exported = (await mod.import()).default;
    } catch (err) {
      errors.push(new EdgetwinError(ErrorCodes.CONFIG, `driver ${mod.source} failed to import from ${mod.location}: ${(err as Error).message}`, where,
        'check that the package is built and its dependencies are installed (`npm ls` in its folder); a package that imports edgetwin/sdk needs edgetwin installed beside it'));
      continue;
    }
    const found = loadersOf(exported);
    for (const problem of found.problems) {
      errors.push(new EdgetwinError(ErrorCodes.CONFIG, `driver ${mod.source} (${mod.location}): ${problem}`, where, 'export default a driver loader { name, load } or an array of them'));
    }
    for (const loader of found.loaders) {
      const names = [loader.name, ...(loader.aliases ?? [])].map((n) => n.toLowerCase());
      const taken = names.find((n) => served.has(n));
      if (taken) {
        errors.push(new EdgetwinError(ErrorCodes.CONFIG, `driver ${mod.source} serves protocol "${taken}", which ${served.get(taken)} already serves; it is not loaded`, where, 'load one driver per protocolName'));
        continue;
      }
      for (const n of names) served.set(n, mod.source === 'built-in' ? 'the built-in driver' : mod.source);
      // The loader object may be shared (a package loaded twice in tests), so the source goes on a wrapper.
      loaders.push(Object.assign(Object.create(loader) as DriverLoader, { source: mod.source }));
      listed.push({ protocol: loader.name, aliases: loader.aliases ?? [], kind: mod.kind, source: mod.source, location: mod.location });
    }
  }
  return { loaders, listed, errors };
}

/**
 * What to tell a user whose device names a protocol no loaded driver serves. A protocol folder in
 * the source tree that the running bundle lacks means dist/ is older than the source.
 */
export function unknownProtocolHint(served: readonly DriverLoader[], sourceRoot = root, runningBundle = bundled): (protocol: string) => string {
  return (protocol) => {
    const folder = protocol.toLowerCase();
    const inSource = existsSync(join(sourceRoot, 'mappers', folder, 'index.ts'));
    const loaded = served.some((l) => [l.name, ...(l.aliases ?? [])].some((n) => n.toLowerCase() === folder));
    if (inSource && !loaded && runningBundle) {
      return `mappers/${folder} exists in the source but this dist/ bundle was built without it: rebuild with \`npm run build\``;
    }
    if (inSource && !loaded) return `mappers/${folder} exists but cli/drivers.ts does not list it among the built-in drivers`;
    return 'add its driver package with `--driver <package or path>` or under `drivers:` in the config file; `edgetwin drivers` lists what loads';
  };
}
