import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { PropertyBinding } from '../sdk/index.ts';
import type { ModbusVisitor } from './config.ts';
import { limitsOf, planReads, splitRequest, type Span } from './plan.ts';

function prop(name: string, visitor: Partial<ModbusVisitor> & { offset: number }, collectCycle = 1000): PropertyBinding<ModbusVisitor> {
  return {
    name,
    visitor: { register: 'HoldingRegister', ...visitor } as ModbusVisitor,
    spec: { name, type: 'int', accessMode: 'ReadOnly', collectCycle, reportCycle: 0, reportToCloud: false, reconcile: 'once', visitor: {} },
  };
}

const spans = (reqs: ReturnType<typeof planReads>) => reqs.map((r) => ({ ...(r.detail as Span), props: r.properties.map((p) => p.name) }));
const defaults = limitsOf({});

test('contiguous registers of one table become one request', () => {
  const plan = planReads([prop('a', { offset: 0 }), prop('b', { offset: 1, dataType: 'float32' }), prop('c', { offset: 3, dataType: 'uint64' })], defaults);
  assert.deepEqual(spans(plan), [{ table: 'HoldingRegister', address: 0, count: 7, props: ['a', 'b', 'c'] }]);
});

test('gaps up to maxGapRegisters are bridged, wider ones split', () => {
  const props = [prop('a', { offset: 0 }), prop('b', { offset: 11 }), prop('c', { offset: 23 })];
  assert.deepEqual(spans(planReads(props, defaults)), [
    { table: 'HoldingRegister', address: 0, count: 12, props: ['a', 'b'] },
    { table: 'HoldingRegister', address: 23, count: 1, props: ['c'] },
  ]);
  assert.equal(planReads(props, limitsOf({ maxGapRegisters: 11 })).length, 1);
  assert.equal(planReads(props, limitsOf({ maxGapRegisters: 0 })).length, 3);
});

test('a request never exceeds 125 registers or 2000 bits', () => {
  const regs = Array.from({ length: 300 }, (_, i) => prop(`r${i}`, { offset: i }));
  const plan = planReads(regs, defaults);
  assert.deepEqual(plan.map((r) => (r.detail as Span).count), [125, 125, 50]);
  const coils = Array.from({ length: 4500 }, (_, i) => prop(`c${i}`, { offset: i, register: 'CoilRegister' }));
  assert.deepEqual(planReads(coils, defaults).map((r) => (r.detail as Span).count), [2000, 2000, 500]);
});

test('tables and poll cycles are planned apart', () => {
  const plan = planReads([
    prop('h', { offset: 0 }), prop('i', { offset: 0, register: 'InputRegister' }),
    prop('c', { offset: 0, register: 'CoilRegister' }), prop('d', { offset: 0, register: 'DiscreteInputRegister' }),
    prop('slow', { offset: 1 }, 60_000),
  ], defaults);
  assert.deepEqual(spans(plan).map((s) => `${s.table}:${s.props.join(',')}`).sort(),
    ['CoilRegister:c', 'DiscreteInputRegister:d', 'HoldingRegister:h', 'HoldingRegister:slow', 'InputRegister:i']);
});

test('quirks: maxRegistersPerRequest caps a request, coalesce false asks once per property', () => {
  const props = Array.from({ length: 10 }, (_, i) => prop(`p${i}`, { offset: i * 2, dataType: 'float32' }));
  assert.deepEqual(planReads(props, limitsOf({ maxRegistersPerRequest: 8 })).map((r) => (r.detail as Span).count), [8, 8, 4]);
  const single = planReads(props, limitsOf({ coalesce: false }));
  assert.equal(single.length, 10);
  assert.deepEqual(single.map((r) => (r.detail as Span).count), Array(10).fill(2));
});

test('overlapping properties share registers', () => {
  const plan = planReads([prop('word', { offset: 4 }), prop('bit', { offset: 4, dataType: 'bit', bitIndex: 2 }), prop('dword', { offset: 3, dataType: 'uint32' })], defaults);
  assert.deepEqual(spans(plan), [{ table: 'HoldingRegister', address: 3, count: 2, props: ['dword', 'word', 'bit'] }]);
});

test('an exception-02 split first drops the bridged gaps, then goes to single properties', () => {
  const [merged] = planReads([prop('a', { offset: 0 }), prop('b', { offset: 1 }), prop('c', { offset: 5 })], defaults);
  const runs = splitRequest(merged!, defaults);
  assert.deepEqual(spans(runs), [
    { table: 'HoldingRegister', address: 0, count: 2, props: ['a', 'b'] },
    { table: 'HoldingRegister', address: 5, count: 1, props: ['c'] },
  ]);
  assert.deepEqual(spans(splitRequest(runs[0]!, defaults)).map((s) => s.props), [['a'], ['b']]);
  assert.deepEqual(splitRequest(runs[1]!, defaults), []);
});
