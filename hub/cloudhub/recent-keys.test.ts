import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { RecentKeys } from './recent-keys.ts';

describe('recent keys', () => {
  it('knows the newest `capacity` keys and forgets older ones, through many evictions in a crowded table', () => {
    const capacity = 1000;
    const keys = new RecentKeys(capacity);
    const all = Array.from({ length: 20_000 }, (_, i) => `node-${i % 37}\u0000${randomUUID()}`);
    for (let i = 0; i < all.length; i++) {
      keys.add(all[i]!);
      keys.add(all[i]!); // a repeat is not a second entry
      if (i % 997 === 0 || i === all.length - 1) {
        assert.equal(keys.size, Math.min(i + 1, capacity));
        for (let k = Math.max(0, i - capacity + 1); k <= i; k++) assert.ok(keys.has(all[k]!), `key ${k} kept after ${i + 1} adds`);
      }
    }
    const forgotten = all.slice(0, all.length - capacity).filter((k) => keys.has(k)).length;
    assert.equal(forgotten, 0, 'evicted keys are gone');
    assert.equal(keys.has('never-added'), false);
  });

  it('a capacity of 0 remembers nothing', () => {
    const keys = new RecentKeys(0);
    keys.add('a');
    assert.equal(keys.has('a'), false);
  });
});
