// The edge process must never load @kubernetes/client-node: only hub/controllers imports it, and
// the cloud loads that directory with a dynamic import. Checked on the built bundle: the chunks
// dist/main.js pulls in statically (transitively) import no Kubernetes client.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const DIST = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist');
const skip = existsSync(join(DIST, 'main.js')) ? false : 'dist/main.js is missing: run node scripts/build.mjs first';

describe('the edge bundle', { skip }, () => {
  it('statically reaches no chunk that imports @kubernetes/client-node; the controllers chunk does', () => {
    const staticImports = (file: string) => [...readFileSync(join(DIST, file), 'utf8').matchAll(/^import\s[^;]*?from\s*"(\.\/[^"]+)"|^import\s*"(\.\/[^"]+)"/gm)].map((m) => (m[1] ?? m[2])!.slice(2));
    const seen = new Set<string>();
    const queue = ['main.js'];
    while (queue.length > 0) {
      const f = queue.pop()!;
      if (seen.has(f)) continue;
      seen.add(f);
      queue.push(...staticImports(f));
    }
    const offenders = [...seen].filter((f) => readFileSync(join(DIST, f), 'utf8').includes('@kubernetes/client-node'));
    assert.deepEqual(offenders, [], `loaded at start by every edgetwin process: ${offenders.join(', ')}`);
    assert.ok(seen.size > 1, 'main.js imports its shared chunks');
    const all = readFileSync(join(DIST, 'main.js'), 'utf8');
    assert.match(all, /import\("\.\/cloud-command-[A-Z0-9]+\.js"\)/, 'the cloud command is a dynamic import');
  });
});
