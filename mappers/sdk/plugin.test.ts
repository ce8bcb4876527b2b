import { test } from 'node:test';
import assert from 'node:assert/strict';
import { driverProblems, loadersOf, satisfies } from './plugin.ts';

test('semver ranges as drivers declare them', () => {
  const yes: [string, string][] = [['1.0.0', '^1.0.0'], ['1.4.2', '^1.2'], ['1.0.0', '1.x'], ['1.0.0', '>=1.0.0 <2.0.0'], ['1.2.3', '~1.2.0'], ['1.0.0', '^2.0.0 || ^1.0.0'], ['1.0.0', '*'], ['0.3.1', '^0.3.0']];
  const no: [string, string][] = [['1.0.0', '^2.0.0'], ['2.0.0', '^1.0.0'], ['1.0.0', '^1.1.0'], ['1.3.0', '~1.2.0'], ['0.4.0', '^0.3.0'], ['1.0.0', '>1.0.0'], ['1.0.0', 'banana']];
  for (const [v, r] of yes) assert.equal(satisfies(v, r), true, `${v} satisfies ${r}`);
  for (const [v, r] of no) assert.equal(satisfies(v, r), false, `${v} does not satisfy ${r}`);
});

test('a default export is one loader or an array of them, checked by shape', () => {
  const loader = { name: 'x', load: async () => ({}) };
  assert.deepEqual(loadersOf(loader).loaders, [loader]);
  assert.deepEqual(loadersOf([loader, { ...loader, name: 'y' }]).loaders.map((l) => l.name), ['x', 'y']);
  assert.match(loadersOf(undefined).problems[0]!, /no default export/);
  const bad = loadersOf([loader, { name: 'z' }]);
  assert.equal(bad.loaders.length, 1);
  assert.match(bad.problems[0]!, /\[1\]: load must be a function/);
});

test('a loaded driver is checked by shape, naming each missing part', () => {
  assert.deepEqual(driverProblems({ name: 'x', sdkVersion: '^1.0.0', protocolSchema: {}, visitorSchema: {}, connect() {} }), []);
  const problems = driverProblems({ name: 'x', protocolSchema: {}, connect: 'no', plan: 3 }).join('\n');
  for (const part of ['sdkVersion', 'visitorSchema', 'connect must be a function', 'plan must be a function']) assert.ok(problems.includes(part), part);
});
