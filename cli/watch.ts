// Calls back when any of the given files or folders changes. Editors save in bursts (write,
// rename, chmod), so changes are debounced into one reload.

import { watch, type FSWatcher } from 'node:fs';
import { statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

/** Only these files hold devices; anything else in a watched folder (a store, a log) is not a reason to reload. */
const DEVICE_FILE = /\.(ya?ml|json)$/i;

export function watchPaths(paths: string[], onChange: () => void, debounceMs = 250): () => void {
  const watchers: FSWatcher[] = [];
  let timer: NodeJS.Timeout | undefined;
  const fire = (_event: string, filename: string | Buffer | null) => {
    // A null name (some platforms) may be anything: reload to be safe.
    if (filename !== null && !DEVICE_FILE.test(String(filename))) return;
    clearTimeout(timer);
    timer = setTimeout(onChange, debounceMs);
  };
  const dirs = new Set<string>();
  for (const p of paths) {
    const abs = resolve(p);
    let isDir = false;
    try {
      isDir = statSync(abs).isDirectory();
    } catch {
      // A path that does not exist yet: watch its folder so its creation is seen.
    }
    // Watching the folder (not the file) survives editors that replace the file on save.
    dirs.add(isDir ? abs : dirname(abs));
  }
  for (const dir of dirs) {
    try {
      watchers.push(watch(dir, { recursive: true }, fire));
    } catch {
      // The folder vanished between stat and watch; SIGHUP still reloads.
    }
  }
  return () => {
    clearTimeout(timer);
    for (const w of watchers) w.close();
  };
}
