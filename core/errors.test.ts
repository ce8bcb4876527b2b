// One registry of error codes: every code the source uses is registered in core/errors.ts and
// documented in docs/errors.md, the gateway's ET_ codes are named only through ErrorCodes, and the
// runtime, the built-in drivers and the twin name I/O codes only through IoCodes.

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ErrorCodes, IoCodeFamilies, IoCodes, isRegisteredCode } from './errors.ts';

const ROOT = join(import.meta.dirname, '..');

/** Code-shaped string literals that are not edgetwin error codes, each with why. */
const NOT_OUR_CODES: Record<string, string> = {
  ECDSA: 'a WebCrypto key algorithm name',
  ERROR: 'a Kubernetes watch event type',
  EEXIST: "Node's errno, compared in the data directory lock and never reported",
  ESRCH: "Node's errno, compared in the data directory lock and never reported",
  EADDRINUSE: "Node's errno, compared when a listener cannot bind; the message says so",
};

function sources(): string[] {
  const files = execFileSync('git', ['ls-files', 'core', 'mappers', 'twin', 'hub', 'cli'], { cwd: ROOT, encoding: 'utf8' }).split('\n');
  // Tests and fixtures act as third parties (a fixture driver may use a code of its own).
  return files.filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts') && !f.includes('.fixture.'));
}

/**
 * Every code-shaped string literal in a file, with its line: anything that looks like a code
 * ('ETIMEDOUT', 'ET_STORAGE', 'WRITE_ERROR'), and any literal given as a code whatever its shape
 * (codedError('X', ...), permanentError('X', ...), code: 'X').
 */
function codeLiterals(file: string): { code: string; line: number }[] {
  const out: { code: string; line: number }[] = [];
  readFileSync(join(ROOT, file), 'utf8').split('\n').forEach((text, i) => {
    for (const m of text.matchAll(/['"]((?:ET_|E)[A-Z][A-Z_]*[A-Z]|[A-Z]+(?:_[A-Z]+)*_ERROR)['"]/g)) out.push({ code: m[1]!, line: i + 1 });
    for (const m of text.matchAll(/(?:(?:codedError|permanentError)\(\s*|\bcode: )['"]([A-Z][A-Za-z0-9_]*)['"]/g)) out.push({ code: m[1]!, line: i + 1 });
  });
  return out;
}

test('every code-shaped literal in the source is a registered code (or a listed non-code)', () => {
  const unknown = sources().flatMap((f) => codeLiterals(f).filter((l) => !isRegisteredCode(l.code) && !(l.code in NOT_OUR_CODES)).map((l) => `${f}:${l.line}: ${l.code}`));
  assert.deepEqual(unknown, [], 'register these in core/errors.ts (and document them in docs/errors.md), or use a registered code');
});

test('ET_ codes are named only through ErrorCodes', () => {
  const literal = sources().filter((f) => f !== 'core/errors.ts').flatMap((f) => codeLiterals(f).filter((l) => l.code.startsWith('ET_')).map((l) => `${f}:${l.line}: ${l.code}`));
  assert.deepEqual(literal, [], 'write ErrorCodes.<NAME> instead of the string');
});

test('the runtime, the built-in drivers and the twin name I/O codes only through IoCodes', () => {
  const io = new Set<string>(Object.values(IoCodes));
  const literal = sources()
    .filter((f) => (f.startsWith('mappers/') || f.startsWith('twin/')))
    .flatMap((f) => codeLiterals(f).filter((l) => io.has(l.code)).map((l) => `${f}:${l.line}: ${l.code}`));
  assert.deepEqual(literal, [], 'write IoCodes.<NAME> instead of the string');
});

test('docs/errors.md documents every registered code and family, and no other', () => {
  const doc = readFileSync(join(ROOT, 'docs', 'errors.md'), 'utf8');
  const rows = new Set([...doc.matchAll(/^\| `([A-Z_<>n*]+)` \|/gm)].map((m) => m[1]!));
  const registered = [...Object.values(ErrorCodes), ...Object.values(IoCodes)];
  const families = Object.values(IoCodeFamilies).map((prefix) => (prefix === IoCodeFamilies.MODBUS_EXCEPTION ? `${prefix}<n>` : `${prefix}*`));
  assert.deepEqual(registered.filter((c) => !rows.has(c)), [], 'codes without a row in docs/errors.md');
  assert.deepEqual(families.filter((c) => !rows.has(c)), [], 'families without a row in docs/errors.md');
  assert.deepEqual([...rows].filter((c) => !registered.includes(c as never) && !families.includes(c)), [], 'rows in docs/errors.md for codes that are not registered');
});

test('a code is registered by name or by family, never by a bare family prefix', () => {
  assert.equal(isRegisteredCode('ETIMEDOUT'), true);
  assert.equal(isRegisteredCode('ET_STORAGE'), true);
  assert.equal(isRegisteredCode('MODBUS_EXCEPTION_2'), true);
  assert.equal(isRegisteredCode('BAD_NODE_ID_UNKNOWN'), true);
  assert.equal(isRegisteredCode('BAD_'), false);
  assert.equal(isRegisteredCode('WRITE_ERROR'), false);
  assert.equal(isRegisteredCode('EHANDSHAKE'), false);
});
