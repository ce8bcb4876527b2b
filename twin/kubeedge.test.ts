import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { UpdateSlot } from './entry.ts';
import { dataUpdate } from './kubeedge.ts';
import type { ReportedUpdate } from './types.ts';

const slot = (property: string, type: ReportedUpdate['type'], text: string | null, over: Partial<UpdateSlot> = {}): UpdateSlot =>
  Object.assign(new UpdateSlot(property, type), { text, time: 1700000000000, quality: 'good' }, over);

describe('dataUpdate', () => {
  it('is the JSON of every update, escaping what a property name or a string value needs and nothing else', () => {
    const updates: ReportedUpdate[] = [
      slot('temp', 'int', '-12'),
      slot('ratio', 'double', '1.5e-7'),
      slot('on', 'boolean', 'true'),
      slot('blob', 'bytes', 'AAEC/w=='),
      slot('say "hi"\\', 'string', 'line\n"quoted"\\ \u0001'),
      slot('gone', 'float', null, { quality: 'bad', error: { code: 'ETIMEDOUT', message: 'no "answer"' } }),
      // A listener's own update without the precomputed name.
      { property: 'plain', type: 'int', text: '7', time: 5, quality: 'uncertain', error: undefined, deltaChanged: false },
    ];
    const doc = JSON.parse(dataUpdate(updates, false).toString('utf8')) as { event_id: string; timestamp: number; data: Record<string, { value: string; metadata: Record<string, unknown> }> };
    assert.match(doc.event_id, /^[0-9a-f-]{36}$/);
    assert.deepEqual(Object.keys(doc.data), ['temp', 'ratio', 'on', 'blob', 'say "hi"\\', 'gone', 'plain']);
    assert.deepEqual(Object.values(doc.data).map((d) => d.value), ['-12', '1.5e-7', 'true', 'AAEC/w==', 'line\n"quoted"\\ \u0001', '', '7']);
    assert.deepEqual(doc.data.gone!.metadata, { timestamp: 1700000000000, type: 'float', quality: 'bad', persisted: 'false', error: { code: 'ETIMEDOUT', message: 'no "answer"' } });
    assert.deepEqual(doc.data.plain!.metadata, { timestamp: 5, type: 'int', quality: 'uncertain', persisted: 'false' });
  });
});
