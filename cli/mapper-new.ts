// `edgetwin mapper new <dir>`: writes a driver package an outside author can build, test, run and
// publish at once (cli/scaffold/templates.ts has the files and why each is there).

import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { EdgetwinError, ErrorCodes } from '../core/errors.ts';
import { SDK_VERSION } from '../mappers/sdk/driver.ts';
import { packageRoot, packageVersion } from './package-root.ts';
import { scaffoldFiles, type ScaffoldNames } from './scaffold/templates.ts';

const BUILT_IN = new Set(['virtual', 'modbus', 'bluetooth', 'ble', 'opcua', 'serial']);

/** A port from 20000 to 29999 fixed by the protocol name, so two scaffolds rarely collide. */
function examplePort(protocol: string): number {
  let hash = 2166136261;
  for (const ch of protocol) hash = Math.imul(hash ^ ch.charCodeAt(0), 16777619) >>> 0;
  return 20000 + (hash % 10000);
}

export function scaffoldNames(dir: string, protocolFlag?: string): ScaffoldNames {
  const target = resolve(dir);
  const packageName = basename(target);
  const where = { path: 'mapper new' };
  if (!/^[a-z0-9][a-z0-9._-]*$/.test(packageName)) {
    throw new EdgetwinError(ErrorCodes.CONFIG, `"${packageName}" is not a valid npm package name`, where, 'use lower-case letters, digits, dots, dashes and underscores, e.g. edgetwin-driver-acme');
  }
  const protocol = protocolFlag ?? packageName.replace(/^edgetwin-(driver|mapper)-/, '');
  if (!/^[a-z][a-z0-9-]*$/.test(protocol)) {
    throw new EdgetwinError(ErrorCodes.CONFIG, `"${protocol}" is not a usable protocolName`, where, 'give --protocol <name> in lower-case letters, digits and dashes, starting with a letter');
  }
  if (BUILT_IN.has(protocol)) {
    throw new EdgetwinError(ErrorCodes.CONFIG, `protocol "${protocol}" is served by a built-in driver`, where, 'choose another name with --protocol');
  }
  const ident = protocol.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
  return {
    packageName,
    protocol,
    ident,
    port: examplePort(protocol),
    edgetwinPath: relative(target, packageRoot).split(sep).join('/') || '.',
    edgetwinVersion: packageVersion(),
    sdkRange: `^${SDK_VERSION}`,
  };
}

export function mapperNew(dir: string, protocolFlag?: string): { target: string; names: ScaffoldNames; files: string[] } {
  const target = resolve(dir);
  const names = scaffoldNames(dir, protocolFlag);
  if (existsSync(target) && readdirSync(target).length > 0) {
    throw new EdgetwinError(ErrorCodes.CONFIG, `${target} exists and is not empty`, { path: 'mapper new' }, 'give a new folder; nothing was written');
  }
  const files = scaffoldFiles(names);
  for (const [file, text] of Object.entries(files)) {
    mkdirSync(dirname(join(target, file)), { recursive: true });
    writeFileSync(join(target, file), text);
  }
  return { target, names, files: Object.keys(files) };
}

export function mapperNewCommand(dir: string, opts: { protocol?: string }, out = process.stdout, err = process.stderr): number {
  try {
    const { target, names, files } = mapperNew(dir, opts.protocol);
    const rel = relative(process.cwd(), target) || '.';
    out.write(`wrote ${files.length} files for the ${names.protocol} driver package ${names.packageName} in ${rel}\n\n`);
    out.write(`  cd ${rel} && npm install && npm test\n`);
    out.write(`  npm run simulate                                   # the example instrument on port ${names.port}\n`);
    out.write(`  npx edgetwin run --driver . --devices examples     # in a second terminal\n\n`);
    out.write('docs/mapper-guide.md in the edgetwin package explains the contract and the kit.\n');
    return 0;
  } catch (e) {
    err.write(`error: ${e instanceof EdgetwinError ? e.format() : (e as Error).message}\n`);
    return 1;
  }
}
