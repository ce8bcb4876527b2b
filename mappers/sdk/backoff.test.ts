import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Backoff } from './backoff.ts';

test('the delay ceiling doubles from 0.5 s and stops at 30 s', () => {
  const b = new Backoff({ random: () => 1 });
  const delays = Array.from({ length: 9 }, () => b.next());
  assert.deepEqual(delays, [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
});

test('full jitter: each delay is uniform between 0 and the ceiling', () => {
  const b = new Backoff({ random: () => 0.25 });
  assert.deepEqual([b.next(), b.next(), b.next()], [125, 250, 500]);
  assert.equal(new Backoff({ random: () => 0 }).next(), 0);
});

test('reset starts again from the first ceiling after a successful connect', () => {
  const b = new Backoff({ initialMs: 100, maxMs: 1000, random: () => 1 });
  b.next();
  b.next();
  b.next();
  b.reset();
  assert.equal(b.next(), 100);
});

test('many failed attempts never overflow the ceiling', () => {
  const b = new Backoff({ random: () => 1 });
  for (let i = 0; i < 5000; i++) b.next();
  assert.equal(b.next(), 30000);
});
