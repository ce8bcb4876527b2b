// The StatusWriter with a hand-driven clock: the global budget holds in every one-second window,
// one device is written at most once per interval, reports between writes coalesce into one,
// devices are served oldest change first, and a failed write is retried with its changes.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { silentLogger } from '../../../core/log.ts';
import { StatusWriter, summarize } from './status-writer.ts';
import type { DeviceStatusBody, TwinValue } from './types.ts';

function harness(settings: { perDeviceIntervalMs: number; budgetPerSecond: number }, fail?: (name: string) => boolean) {
  let now = 0;
  const writes: Array<{ at: number; name: string; body: DeviceStatusBody }> = [];
  const writer = new StatusWriter({ ...settings, tickMs: 10, concurrency: 1000 }, async (_ns, name, body) => {
    if (fail?.(name)) throw new Error('refused');
    writes.push({ at: now, name, body });
  }, silentLogger, () => now);
  return {
    writer, writes,
    advance: async (ms: number, step = 10) => {
      for (let t = 0; t < ms; t += step) {
        now += step;
        writer.tick();
        await new Promise((r) => setImmediate(r));
      }
    },
  };
}

const known = new Set(Array.from({ length: 10 }, (_, i) => `p${i}`));
const report = (v: string, reconcile?: string): { reported: TwinValue } => ({ reported: { value: v, metadata: reconcile ? { reconcile } : {} } });

describe('StatusWriter', () => {
  it('1,000 devices reporting 10 values every 100 ms: never more than the budget in any second, and every device gets its last values', async () => {
    const h = harness({ perDeviceIntervalMs: 1000, budgetPerSecond: 50 });
    for (let round = 0; round < 30; round++) {
      for (let d = 0; d < 1000; d++) {
        const twins: Record<string, ReturnType<typeof report>> = {};
        for (let p = 0; p < 10; p++) twins[`p${p}`] = report(String(round));
        h.writer.applyTwins('default', `d${d}`, twins, known);
      }
      await h.advance(100);
    }
    const lastRound = '29';
    // Drain: 1,000 devices at 50/s take 20 s.
    await h.advance(25_000, 50);
    for (let i = 0; i < h.writes.length; i++) {
      const windowEnd = h.writes[i]!.at + 1000;
      const inWindow = h.writes.filter((w) => w.at >= h.writes[i]!.at && w.at < windowEnd).length;
      assert.ok(inWindow <= 50, `${inWindow} writes in the second from ${h.writes[i]!.at} ms`);
    }
    const last = new Map<string, DeviceStatusBody>();
    for (const w of h.writes) last.set(w.name, w.body);
    assert.equal(last.size, 1000);
    for (const body of last.values()) assert.ok(body.twins!.every((t) => t.reported?.value === lastRound));
    assert.ok(h.writer.stats.coalesced > 20_000, 'most reports merged into pending writes');
    assert.equal(h.writer.pending, 0);
  });

  it('one device at most once per interval; changes between writes coalesce; oldest change first', async () => {
    const h = harness({ perDeviceIntervalMs: 1000, budgetPerSecond: 1000 });
    h.writer.applyTwins('default', 'a', { p0: report('1') }, known);
    await h.advance(20);
    assert.equal(h.writes.length, 1);
    for (let i = 2; i <= 100; i++) h.writer.applyTwins('default', 'a', { p0: report(String(i)) }, known);
    h.writer.applyTwins('default', 'b', { p1: report('x') }, known);
    await h.advance(500);
    assert.deepEqual(h.writes.map((w) => w.name), ['a', 'b'], 'b is not held back by a');
    await h.advance(600);
    assert.deepEqual(h.writes.map((w) => w.name), ['a', 'b', 'a']);
    assert.ok(h.writes[2]!.at - h.writes[0]!.at >= 1000);
    assert.equal(h.writes[2]!.body.twins![0]!.reported!.value, '100', 'the last of 99 reports');
  });

  it('state, error and the summary travel in one body; properties the Device lacks are not written', async () => {
    const h = harness({ perDeviceIntervalMs: 10, budgetPerSecond: 100 });
    h.writer.seed('default', 'a', { twins: [{ propertyName: 'p9', reported: { value: 'old' } }], state: 'online' });
    const ignored = h.writer.applyTwins('default', 'a', { p0: report('1', 'applied'), p1: report('2', 'failed'), nope: report('3') }, known);
    assert.deepEqual(ignored, ['nope']);
    h.writer.applyState('default', 'a', { state: 'unhealthy', error: { message: 'register 70000 is out of range', field: 'spec.properties[0].visitors.configData.offset' } });
    await h.advance(20);
    const body = h.writes.at(-1)!.body;
    assert.deepEqual(body.twins!.map((t) => t.propertyName), ['p0', 'p1', 'p9'], 'the seeded twin is kept');
    assert.equal(body.state, 'unhealthy');
    assert.equal(body.extensions?.error?.field, 'spec.properties[0].visitors.configData.offset');
    assert.deepEqual(body.extensions?.summary, { reported: 3, pending: 0, applied: 1, failed: 1, drifted: 0 });
    const { errorChanged } = h.writer.applyState('default', 'a', { state: 'ok' });
    assert.equal(errorChanged, true);
    await h.advance(20);
    assert.equal(h.writes.at(-1)!.body.extensions?.error, null, 'cleared with null (a merge patch deletes it)');
  });

  it('a refused write is retried with everything that was in it', async () => {
    let failing = true;
    const h = harness({ perDeviceIntervalMs: 100, budgetPerSecond: 100 }, () => failing);
    h.writer.applyTwins('default', 'a', { p0: report('1') }, known);
    await h.advance(300);
    assert.equal(h.writes.length, 0);
    assert.ok(h.writer.stats.failures >= 1);
    failing = false;
    await h.advance(300);
    assert.equal(h.writes.length, 1);
    assert.equal(h.writes[0]!.body.twins![0]!.reported!.value, '1');
  });

  it('summary counts by reconcile state', () => {
    assert.deepEqual(summarize([
      { propertyName: 'a', reported: { value: '1', metadata: { reconcile: 'pending' } } },
      { propertyName: 'b', reported: { value: '1', metadata: { reconcile: 'drifted' } } },
      { propertyName: 'c', observedDesired: { value: '1' } },
    ]), { reported: 2, pending: 1, applied: 0, failed: 0, drifted: 1 });
  });
});
