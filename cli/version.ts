// edgetwin's version, from the package.json next to the sources or the bundle (cli/ and dist/
// both sit one level below it). Shown in the Node's nodeInfo.
import { readFileSync } from 'node:fs';

let cached: string | undefined;

export function edgetwinVersion(): string {
  if (cached) return cached;
  for (const rel of ['../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'edgetwin' && pkg.version) return (cached = pkg.version);
    } catch {
      // not there: try the next level
    }
  }
  return (cached = '0.0.0');
}
