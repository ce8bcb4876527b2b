import { test } from 'node:test';
import assert from 'node:assert/strict';
import { silentLogger } from '../../core/log.ts';
import type { ConfigData } from '../../core/model/types.ts';
import { MapperHost } from '../sdk/index.ts';
import { makeDevice, RecordingSink } from '../sdk/testing.ts';
import type { PropertyInput } from '../sdk/conformance/harness.ts';
import { serialLoader } from './index.ts';

async function errorsOf(config: ConfigData, properties: PropertyInput[]): Promise<string[]> {
  const host = new MapperHost({ sink: new RecordingSink(), drivers: [serialLoader], log: silentLogger, dataDir: '.' });
  try {
    const device = makeDevice({ name: 'instrument', protocol: 'serial', config: { serialPort: '/dev/ttyUSB0', framing: { type: 'delimiter' }, ...config }, properties });
    return (await host.check([device])).errors.map((e) => e.format());
  } finally {
    await host.close();
  }
}

test('a complete description passes, with KubeEdge serial field names and defaults', async () => {
  assert.deepEqual(await errorsOf({ baudRate: 19200, dataBits: 7, parity: 'E', stopBits: 2, address: 3 }, [
    { name: 'weight', type: 'double', visitor: { command: '{address}W\\r\\n', match: '^{address}W', extract: { regex: 'W([0-9.]+)' } } },
    { name: 'unit', type: 'string', accessMode: 'ReadWrite', visitor: { command: '{address}U\\r\\n', write: { command: '{address}U{value}\\r\\n', expect: '^OK' } } },
  ]), []);
});

test('a device may stream some properties and poll others', async () => {
  assert.deepEqual(await errorsOf({}, [
    { name: 'weight', type: 'double', visitor: { stream: '^W(.*)' } },
    { name: 'unit', type: 'string', visitor: { command: 'U?\\n' } },
  ]), []);
  const [err] = await errorsOf({}, [{ name: 'weight', type: 'double', visitor: { stream: '^W(.*)', command: 'W?\\n' } }]);
  assert.match(err!, /property weight: .*stream: a property is either polled with a command or streamed, not both/);
});

test('a ReadWrite property needs a write command; {value} in hex needs a bytes extract', async () => {
  const errors = await errorsOf({}, [
    { name: 'a', type: 'int', accessMode: 'ReadWrite', visitor: { command: 'A?\\n' } },
    { name: 'b', type: 'int', accessMode: 'ReadWrite', visitor: { command: 'B?\\n', write: { command: { hex: '06 {value}' } } } },
  ]);
  assert.equal(errors.length, 2);
  assert.match(errors[0]!, /property a: .*\.write: a ReadWrite property needs write\.command/);
  assert.match(errors[1]!, /property b: .*\.write\.command: \{value\} in a hex command is encoded with the property's bytes extract/);
});

test('bad escapes, unknown placeholders and bad patterns name their field', async () => {
  const errors = await errorsOf({ framing: { type: 'markers', start: '\\x02', end: '\\x03', escape: '\\x10\\x10' }, errorPattern: '(' }, [
    { name: 'a', type: 'int', visitor: { command: 'A{channel}\\n' } },
    { name: 'b', type: 'int', visitor: { stream: '[' } },
    { name: 'c', type: 'int', visitor: { stream: 'C', extract: { regex: 'C(.)', jsonPath: '$.c' } } },
  ]);
  const text = errors.join('\n');
  assert.match(text, /framing\.escape: the escape must be exactly one byte/);
  assert.match(text, /errorPattern: not a valid regular expression/);
  assert.match(text, /property a: .*command: unknown placeholder \{channel\} \(allowed: \{address\}\)/);
  assert.match(text, /property b: .*stream: not a valid regular expression/);
  assert.match(text, /property c: .*extract: extract takes exactly one of regex, bytes and jsonPath, not regex and jsonPath/);
  const [schema] = await errorsOf({}, [{ name: 'd', type: 'int', visitor: { stream: 'D', extract: { jsonPath: 'temperature' } } }]);
  assert.match(schema!, /property d: .*extract\.jsonPath: .*does not match the pattern/);
});
