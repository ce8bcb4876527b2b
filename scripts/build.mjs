// Bundles the gateway into dist/ so `edgetwin run` starts without a TypeScript loader: tsx's
// loader runs on a worker thread of its own, which would cost a gateway ~30 MB of memory.
// Dependencies stay external (native addons, lazily loaded protocol libraries); code splitting
// keeps each driver in a chunk of its own, loaded only when a device of its protocol exists.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
rmSync(join(root, 'dist'), { recursive: true, force: true });
await build({
  absWorkingDir: root,
  entryPoints: ['cli/main.ts'],
  outdir: 'dist',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  packages: 'external',
  sourcemap: 'linked',
  logLevel: 'warning',
});

// The dashboard: one script and one stylesheet for the browser, served by the gateway itself at
// `/` (no CDN, nothing fetched at run time). preact renders, uPlot draws the sparklines.
await build({
  absWorkingDir: root,
  entryPoints: { main: 'web/dashboard/main.tsx' },
  outdir: 'dist/dashboard/assets',
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: ['es2022'],
  jsx: 'automatic',
  jsxImportSource: 'preact',
  minify: true,
  sourcemap: 'linked',
  tsconfig: 'web/tsconfig.json',
  logLevel: 'warning',
});
mkdirSync(join(root, 'dist', 'dashboard'), { recursive: true });
copyFileSync(join(root, 'web', 'dashboard', 'index.html'), join(root, 'dist', 'dashboard', 'index.html'));
