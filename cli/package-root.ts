// Where this edgetwin lives: the checkout or installed package root, found from the running
// module (cli/ from source, dist/ from the bundle: both sit directly under the root).

import { readFileSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(import.meta.url);

export const packageRoot = dirname(dirname(here));

/** Whether this process runs the dist/ bundle rather than the TypeScript sources. */
export const runningBundle = basename(dirname(here)) === 'dist';

export function packageVersion(): string {
  return (JSON.parse(readFileSync(`${packageRoot}/package.json`, 'utf8')) as { version: string }).version;
}
