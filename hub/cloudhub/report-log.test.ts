// The report log commits reports that arrive close together in one transaction, and answers none
// of them before that commit: what the cloud acknowledged is on disk.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { newMessage } from '../message/index.ts';
import { ReportLog } from './report-log.ts';

const report = (n: number) => newMessage({ source: 'twin', group: 'resource', operation: 'update', resource: `node/edge-a/default/device/d${n}/twin/edge_updated` }, { n });

describe('report log', () => {
  it('commits reports of one batch window together and resolves each only after the commit; a repeated msg_id is stored once', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'edgetwin-reportlog-'));
    const file = join(dir, 'reports.db');
    const log = new ReportLog(file, 100_000, 200);
    const other = new Database(file, { readonly: true });
    const rows = () => (other.prepare('SELECT COUNT(*) AS n FROM reports').get() as { n: number }).n;
    try {
      let firstDone = false;
      const first = report(1);
      const a = log.store('edge-a', first).then((stored) => {
        firstDone = true;
        return stored;
      });
      await new Promise((r) => setTimeout(r, 20));
      assert.equal(firstDone, false, 'the first report waits for the batch window');
      assert.equal(rows(), 0, 'nothing committed yet');
      const b = log.store('edge-a', report(2));
      const again = log.store('edge-a', first);
      assert.deepEqual(await Promise.all([a, b, again]), [true, true, false]);
      assert.equal(rows(), 2, 'both committed, as another connection sees, before any was answered');
    } finally {
      other.close();
      log.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('recognizes a repeat after a restart (the edge resends what a killed cloud never answered), within the rows it keeps', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'edgetwin-reportlog-'));
    const file = join(dir, 'reports.db');
    try {
      const msgs = Array.from({ length: 5 }, (_, i) => report(i));
      const first = new ReportLog(file, 3, 1);
      for (const m of msgs) assert.equal(await first.store('edge-a', m), true);
      assert.equal(await first.store('edge-b', msgs[4]!), true, 'the same id from another node is another report');
      first.close();
      const again = new ReportLog(file, 3, 1);
      try {
        assert.equal(await again.store('edge-a', msgs[4]!), false, 'kept: a repeat');
        assert.equal(await again.store('edge-a', msgs[3]!), false, 'kept: a repeat');
        assert.equal(again.list('edge-a').filter((r) => r.msgId === msgs[4]!.header.msg_id).length, 1);
        assert.equal(await again.store('edge-a', msgs[0]!), true, 'pruned long ago: stored as new');
      } finally {
        again.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
