// The reload watcher reacts to device files, not to a store or a log in the same folder.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from '../core/testing.ts';
import { watchPaths } from './watch.ts';

describe('watchPaths', () => {
  it('reloads for a YAML edit and ignores a data directory inside the watched folder', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'edgetwin-watch-'));
    writeFileSync(join(dir, 'devices.yaml'), 'a: 1\n');
    mkdirSync(join(dir, 'data'));
    let reloads = 0;
    const stop = watchPaths([dir], () => reloads++, 50);
    try {
      for (let i = 0; i < 5; i++) writeFileSync(join(dir, 'data', 'edgetwin.db-wal'), `page ${i}`);
      writeFileSync(join(dir, 'data', 'edgetwin.log'), 'line\n');
      await new Promise((r) => setTimeout(r, 400));
      assert.equal(reloads, 0, 'store and log writes are not device edits');
      writeFileSync(join(dir, 'devices.yaml'), 'a: 2\n');
      await waitFor('a reload for the YAML edit', () => reloads === 1);
    } finally {
      stop();
    }
  });

  it('watches a devices file through its own folder only: other files and subfolders beside it are not watched', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'edgetwin-watch-'));
    const file = join(dir, 'plant.yaml');
    writeFileSync(file, 'a: 1\n');
    mkdirSync(join(dir, 'edgetwin-data'));
    let reloads = 0;
    const stop = watchPaths([file], () => reloads++, 50);
    try {
      // A subfolder (where the data directory sits by default) and other YAML files beside the
      // watched one: none of them is a reason to reload.
      writeFileSync(join(dir, 'edgetwin-data', 'other.yaml'), 'b: 1\n');
      writeFileSync(join(dir, 'edgetwin-data', 'edgetwin.db-wal'), 'page');
      writeFileSync(join(dir, 'other.yaml'), 'c: 1\n');
      await new Promise((r) => setTimeout(r, 400));
      assert.equal(reloads, 0, 'only the watched file reloads');
      writeFileSync(file, 'a: 2\n');
      await waitFor('a reload for the edit', () => reloads === 1);
      // Editors that save by writing a temporary file and renaming it over the original.
      writeFileSync(join(dir, 'plant.yaml.tmp'), 'a: 3\n');
      renameSync(join(dir, 'plant.yaml.tmp'), file);
      await waitFor('a reload for the replaced file', () => reloads === 2);
    } finally {
      stop();
    }
  });
});
