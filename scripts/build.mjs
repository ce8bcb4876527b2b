// Bundles the gateway into dist/ so `edgetwin run` starts without a TypeScript loader: tsx's
// loader runs on a worker thread of its own, which would cost a gateway ~30 MB of memory.
// Dependencies stay external (native addons, lazily loaded protocol libraries); code splitting
// keeps each driver in a chunk of its own, loaded only when a device of its protocol exists.
//
// The SDK entries (`edgetwin/sdk`, `edgetwin/sdk/testing`) are built in the same esbuild run, so
// they share chunks with the gateway: a driver package that imports `edgetwin/sdk` from the
// edgetwin that runs it gets the very module instances the gateway uses. Their type declarations
// come from tsc (tsconfig.sdk.json); `--no-types` skips them for a quicker gateway-only build.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
rmSync(join(root, 'dist'), { recursive: true, force: true });
await build({
  absWorkingDir: root,
  entryPoints: { main: 'cli/main.ts', 'sdk/index': 'mappers/sdk/index.ts', 'sdk/testing': 'mappers/sdk/testing.ts' },
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
// The fleet view of `edgetwin cloud`, served on its HTTP listener the same way.
await build({
  absWorkingDir: root,
  entryPoints: { fleet: 'web/fleet/main.tsx' },
  outdir: 'dist/fleet/assets',
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
copyFileSync(join(root, 'web', 'fleet', 'index.html'), join(root, 'dist', 'fleet', 'index.html'));
if (!process.argv.includes('--no-types')) {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  execFileSync(process.execPath, [tsc, '-p', 'tsconfig.sdk.json'], { cwd: root, stdio: 'inherit' });
  // The sources import siblings as './x.ts'; a consumer's TypeScript resolves './x.js' to x.d.ts
  // under every moduleResolution, so the declarations name the .js files.
  const fix = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) fix(path);
      else if (entry.name.endsWith('.d.ts')) {
        const text = readFileSync(path, 'utf8');
        writeFileSync(path, text.replace(/(from\s+'|import\(')(\.{1,2}\/[^']*)\.ts'/g, "$1$2.js'"));
      }
    }
  };
  fix(join(root, 'dist', 'types'));
}
