// Module resolve hook for watch-imports.mjs (runs on the loader thread).
import { appendFileSync } from 'node:fs';

export async function resolve(specifier, context, next) {
  if (/^node-opcua/.test(specifier)) appendFileSync(process.env.EDGETWIN_IMPORT_LOG, `${specifier}\n`);
  return next(specifier, context);
}
