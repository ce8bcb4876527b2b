// Calls back when any of the given files or folders changes. Editors save in bursts (write,
// rename, chmod), so changes are debounced into one reload.

import { watch, type FSWatcher } from 'node:fs';
import { statSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';

/** Only these files hold devices; anything else in a watched folder (a store, a log) is not a reason to reload. */
const DEVICE_FILE = /\.(ya?ml|json)$/i;

export function watchPaths(paths: string[], onChange: () => void, debounceMs = 250): () => void {
  const watchers: FSWatcher[] = [];
  let timer: NodeJS.Timeout | undefined;
  const reload = () => {
    clearTimeout(timer);
    timer = setTimeout(onChange, debounceMs);
  };
  // A folder of devices is loaded recursively, so it is watched recursively. A file is watched
  // through its folder (that survives editors that replace the file on save), but only that folder
  // and only that name: Node's recursive watch on Linux re-reads a folder's tree at every event in
  // it, and the data directory often sits beside a devices file (./edgetwin-data), where each SQLite
  // write would cost a readdir and a stat per entry (a fifth of the gateway's CPU at 100,000 values/s).
  const folders = new Set<string>();
  const files = new Map<string, Set<string>>();
  for (const p of paths) {
    const abs = resolve(p);
    let isDir = false;
    try {
      isDir = statSync(abs).isDirectory();
    } catch {
      // A path that does not exist yet: watch its folder so its creation is seen.
    }
    if (isDir) folders.add(abs);
    else files.set(dirname(abs), (files.get(dirname(abs)) ?? new Set()).add(basename(abs)));
  }
  const start = (dir: string, recursive: boolean, wanted: (name: string) => boolean) => {
    try {
      // A null name (some platforms) may be anything: reload to be safe.
      watchers.push(watch(dir, { recursive }, (_event, filename) => { if (filename === null || wanted(String(filename))) reload(); }));
    } catch {
      // The folder vanished between stat and watch; SIGHUP still reloads.
    }
  };
  for (const dir of folders) start(dir, true, (name) => DEVICE_FILE.test(name));
  for (const [dir, names] of files) if (!folders.has(dir)) start(dir, false, (name) => names.has(name));
  return () => {
    clearTimeout(timer);
    for (const w of watchers) w.close();
  };
}
