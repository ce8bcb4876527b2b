#!/usr/bin/env -S node --max-semi-space-size=2 --heap-growing-percent=50 --v8-pool-size=1 --no-allocation-site-pretenuring
// The `edgetwin` command. A small V8 young generation and one platform thread keep a gateway's
// memory near its working set (a few MB of heap), which matters on small edge boxes. A larger young
// generation (8 or 16 MB semi-spaces) saves GC CPU under load but grows to its maximum at start
// and stays there on an idle quick start (+15 MB). With 2 MB semi-spaces, values that live a few
// tens of ms are promoted, and V8 by default lets the old generation grow to ~3.5x its live size
// before marking (200 MB for 55 MB live at 10,000 properties polled every 100 ms):
// --heap-growing-percent=50 marks at 1.5x instead. V8's allocation-site pretenuring saw the first
// polls' readings survive (start-up is slow) and from then on allocated every reading straight in
// the old generation, where each one died: --no-allocation-site-pretenuring keeps them young (one
// full collection every ~3 s at 100,000 values/s, none since). docs/performance.md has the measurements.
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
