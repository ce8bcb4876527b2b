import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Reading } from '../../core/reading.ts';
import { ReportFilter } from './report.ts';

const reading = (property: string, value: Reading['value'], quality: Reading['quality'] = 'good', code?: string): Reading => ({
  device: 'default/d', property, value, time: 0, quality, ...(code ? { error: { code, message: code } } : {}),
});

test('deadband: only changes larger than the deadband since the last report are reported', () => {
  const f = new ReportFilter(new Map([['t', { deadband: 0.5, reportCycle: 0 }]]));
  const admitted = [20, 20.3, 20.5, 20.6, 20.2, 20.0].map((v, i) => f.admit(reading('t', v), i));
  assert.deepEqual(admitted, [true, false, false, true, false, true]);
});

test('without a deadband any change is reported and repeats are not', () => {
  const f = new ReportFilter(new Map([['s', { reportCycle: 0 }]]));
  assert.deepEqual(['a', 'a', 'b', 'b'].map((v) => f.admit(reading('s', v), 0)), [true, false, true, false]);
});

test('a change of quality or error code is reported even inside the deadband', () => {
  const f = new ReportFilter(new Map([['t', { deadband: 10, reportCycle: 0 }]]));
  assert.equal(f.admit(reading('t', 1), 0), true);
  assert.equal(f.admit(reading('t', undefined, 'bad', 'ETIMEDOUT'), 1), true);
  assert.equal(f.admit(reading('t', undefined, 'bad', 'ETIMEDOUT'), 2), false);
  assert.equal(f.admit(reading('t', undefined, 'bad', 'ECONNRESET'), 3), true);
  assert.equal(f.admit(reading('t', 1), 4), true);
});

test('reportCycle re-reports an unchanged value once the cycle has passed', () => {
  const f = new ReportFilter(new Map([['t', { reportCycle: 1000 }]]));
  assert.deepEqual([0, 500, 999, 1000, 1500, 2000].map((now) => f.admit(reading('t', 5), now)), [true, false, false, true, false, true]);
});

test('bigint and number values compare by magnitude', () => {
  const f = new ReportFilter(new Map([['n', { deadband: 1, reportCycle: 0 }]]));
  assert.equal(f.admit(reading('n', 10n), 0), true);
  assert.equal(f.admit(reading('n', 11), 1), false);
  assert.equal(f.admit(reading('n', 12n), 2), true);
});

test('unchanged raw bytes skip decoding only while the decision could not differ', () => {
  const f = new ReportFilter(new Map([['r', { reportCycle: 1000 }]]));
  const bytes = Uint8Array.of(0x00, 0xeb);
  assert.equal(f.unchanged('r', bytes, 0), false, 'nothing seen yet');
  assert.equal(f.admit(reading('r', 235), 0), true);
  f.rawSeen('r', bytes);
  bytes[1] = 0xeb; // a driver reusing its buffer must not change what was remembered
  assert.equal(f.unchanged('r', Uint8Array.of(0x00, 0xeb), 500), true);
  assert.equal(f.unchanged('r', Uint8Array.of(0x00, 0xec), 500), false, 'other bytes');
  assert.equal(f.unchanged('r', Uint8Array.of(0x00, 0xeb, 0x00), 500), false, 'other length');
  assert.equal(f.unchanged('r', Uint8Array.of(0x00, 0xeb), 1000), false, 'the reportCycle is due');
  f.rawSeen('r', undefined);
  assert.equal(f.unchanged('r', Uint8Array.of(0x00, 0xeb), 500), false, 'a bad reading in between');
  f.rawSeen('r', Uint8Array.of(0x00, 0xeb));
  assert.equal(f.admit(reading('r', undefined, 'bad', 'ETIMEDOUT'), 600), true);
  assert.equal(f.unchanged('r', Uint8Array.of(0x00, 0xeb), 700), false, 'the last report was bad: the recovery must be reported');
  f.clear();
  assert.equal(f.unchanged('r', Uint8Array.of(0x00, 0xeb), 700), false);
});

test('values compare exactly: a 5.6e-9 F capacitance changing by 0.5% is reported, a repeat is not', () => {
  const f = new ReportFilter(new Map([['c', { reportCycle: 0 }]]));
  assert.deepEqual([5.6e-9, 5.628e-9, 5.628e-9, 5.6e-9].map((v, i) => f.admit(reading('c', v), i)), [true, true, false, true]);
  // Float noise is a change too: a deadband is the tool that absorbs it.
  const noisy = new ReportFilter(new Map([['t', { reportCycle: 0 }]]));
  assert.deepEqual([23.5, 23.500000000000004].map((v, i) => noisy.admit(reading('t', v), i)), [true, true]);
  const banded = new ReportFilter(new Map([['t', { deadband: 1e-6, reportCycle: 0 }]]));
  assert.deepEqual([23.5, 23.500000000000004].map((v, i) => banded.admit(reading('t', v), i)), [true, false]);
});
