// The one ajv setup and its translator: every schema finding reads the same wherever it is made,
// our own schemas compile strictly, a driver package's tolerantly, and nothing else compiles schemas.

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileSchema, dottedPath, type SchemaProblem } from './schema.ts';

const ROOT = join(import.meta.dirname, '..');

const schema = {
  type: 'object',
  additionalProperties: false,
  required: ['name'],
  properties: {
    name: { type: 'string', minLength: 1 },
    port: { type: 'integer', minimum: 1, maximum: 65535 },
    mode: { enum: ['a', 'b'] },
    items: { type: 'array', items: { type: 'object', properties: { n: { type: 'number', exclusiveMinimum: 0 } } } },
    retries: { type: 'integer', default: 3 },
  },
} as const;

function problems(value: unknown): SchemaProblem[] {
  const r = compileSchema(schema).check(value);
  return r.ok ? [] : r.problems;
}

test('each finding names its path and says what is wrong in words', () => {
  const found = problems({ port: 'high', mode: 'c', extra: 1, items: [{ n: 0 }] });
  const by = (path: string) => found.find((p) => dottedPath(p.path) === path);
  assert.equal(by('name')?.message, 'missing required field "name"');
  assert.equal(by('port')?.message, 'expected a whole number, got "high"');
  assert.equal(by('mode')?.message, '"c" is not one of a, b');
  assert.equal(by('extra')?.message, 'unknown field "extra"');
  assert.equal(by('extra')?.unknownKey, 'extra');
  assert.equal(by('items[0].n')?.message, '0 must be above 0');
  assert.equal(problems({ name: 'x', port: 0 })[0]!.message, '0 is below the minimum 1');
  assert.equal(problems({ name: '' })[0]!.message, 'must not be empty');
});

test('a valid value comes back typed, with the schema defaults filled in', () => {
  const r = compileSchema<{ name: string; retries?: number }>(schema).check({ name: 'x' });
  assert.ok(r.ok);
  assert.equal(r.value.retries, 3);
});

test('our own schemas compile strictly, a driver package\'s tolerantly', () => {
  const odd = { type: 'object', properties: { a: { type: 'string', 'x-unit': 'ms' } } };
  assert.throws(() => compileSchema(odd), /unknown keyword/);
  assert.equal(compileSchema(odd, { strict: false }).check({ a: 'x' }).ok, true);
});

test('nothing but core/schema.ts sets up ajv', () => {
  // The Kubernetes API stand-in answers in the API server's own words, so it keeps its own setup.
  const exempt = new Set(['core/schema.ts', 'hub/testing/kube-apiserver/schema.ts']);
  const files = execFileSync('git', ['ls-files', 'core', 'mappers', 'twin', 'hub', 'cli'], { cwd: ROOT, encoding: 'utf8' }).split('\n')
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts') && !exempt.has(f));
  const users = files.filter((f) => /from 'ajv(-formats)?'/.test(readFileSync(join(ROOT, f), 'utf8')));
  assert.deepEqual(users, [], 'compile schemas with compileSchema() from core/schema.ts');
});
