// The reload watcher reacts to device files, not to a store or a log in the same folder.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
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
});
