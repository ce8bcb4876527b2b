import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generate, seededRandom } from './generators.ts';

const fixed = () => 0.5;

test('sine swings between min and max over the period', () => {
  const cfg = { function: 'sine' as const, min: 10, max: 30, period: 1000 };
  assert.equal(generate(cfg, 'double', 0, {}, fixed), 20);
  assert.equal(generate(cfg, 'double', 250, {}, fixed), 30);
  assert.equal(generate(cfg, 'double', 750, {}, fixed), 10);
  assert.equal(generate(cfg, 'int', 100, {}, fixed), 26, 'ints are rounded');
});

test('ramp climbs from min towards max and starts over each period', () => {
  const cfg = { function: 'ramp' as const, min: 0, max: 100, period: 1000 };
  assert.deepEqual([0, 500, 999, 1000].map((t) => generate(cfg, 'double', t, {}, fixed)), [0, 50, 99.9, 0]);
});

test('step is a staircase from its initial value that wraps after max', () => {
  const cfg = { function: 'step' as const, min: 0, max: 3, period: 100, step: 1 };
  assert.deepEqual([0, 100, 250, 300, 400, 500].map((t) => generate(cfg, 'int', t, {}, fixed)), [0, 1, 2, 3, 0, 1]);
});

test('randomWalk stays within min and max and repeats with the same seed', () => {
  const cfg = { function: 'randomWalk' as const, min: 0, max: 10, step: 3 };
  const walk = (seed: number) => {
    const random = seededRandom(seed);
    const position = {};
    return Array.from({ length: 200 }, () => generate(cfg, 'double', 0, position, random) as number);
  };
  const a = walk(1);
  assert.ok(a.every((v) => v >= 0 && v <= 10));
  assert.deepEqual(a, walk(1));
  assert.notDeepEqual(a, walk(2));
});

test('constant holds its value in the property type', () => {
  assert.equal(generate({ value: 'auto' }, 'string', 0, {}, fixed), 'auto');
  assert.equal(generate({ value: true }, 'boolean', 0, {}, fixed), true);
  assert.equal(generate({ value: 7 }, 'int', 0, {}, fixed), 7);
  assert.equal(generate({ value: 7 }, 'string', 0, {}, fixed), '7');
});
