#!/usr/bin/env -S node --max-semi-space-size=2 --v8-pool-size=1
// The `edgetwin` command. A small V8 young generation and one platform thread keep a gateway's
// memory near its working set (a few MB of heap), which matters on small edge boxes.
// Runs the bundle in dist/ (built by `npm install`, `npm start` and `npm test`); in a checkout
// without one, runs the TypeScript sources through tsx.
import { existsSync } from 'node:fs';

const bundle = new URL('../../dist/main.js', import.meta.url);
if (existsSync(bundle)) {
  await import(bundle.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../main.ts');
}
