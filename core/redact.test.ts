// The one redaction helper: passwords in URLs and in text that quotes URLs are replaced.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { redactDeep, redactText, redactUrl, urlHasPassword } from './redact.ts';

test('redactUrl: the password goes, the user, host, port and path stay', () => {
  assert.equal(redactUrl('mqtt://user:secret@broker.example:1883'), 'mqtt://user:***@broker.example:1883');
  assert.equal(redactUrl('mqtts://op%40plant:p%3Ass@10.0.0.5:8883/x?y=1'), 'mqtts://op%40plant:***@10.0.0.5:8883/x?y=1');
  assert.equal(redactUrl('wss://:tok@h/mqtt'), 'wss://:***@h/mqtt');
  assert.equal(redactUrl('mqtt://[::1]:1883'), 'mqtt://[::1]:1883');
  assert.equal(redactUrl('mqtt://user@host:1883'), 'mqtt://user@host:1883');
  assert.equal(redactUrl('mqtt://u:p@ss@host:1'), 'mqtt://u:***@host:1');
  assert.equal(redactUrl('not a url'), 'not a url');
});

test('redactText: every URL quoted in a message loses its password', () => {
  const msg = 'connect ECONNREFUSED mqtt://a:one@h1:1 then tcp://b:two@h2:2 failed';
  const out = redactText(msg);
  assert.ok(!out.includes('one') && !out.includes('two'), out);
  assert.equal(out, 'connect ECONNREFUSED mqtt://a:***@h1:1 then tcp://b:***@h2:2 failed');
});

test('urlHasPassword tells a URL with a password from one without', () => {
  assert.equal(urlHasPassword('mqtt://u:p@h:1'), true);
  assert.equal(urlHasPassword('mqtt://u@h:1'), false);
  assert.equal(urlHasPassword('mqtt://h:1'), false);
});

test('inside JSON and Prometheus text the redaction stays within the quoted string', () => {
  const json = JSON.stringify({ mqtt: 'mqtt://u:pw@h:1', other: 'a@b' });
  assert.deepEqual(JSON.parse(redactText(json)), { mqtt: 'mqtt://u:***@h:1', other: 'a@b' });
  assert.equal(redactText('up{broker="mqtt://u:pw@h:1",x="y@z"} 1'), 'up{broker="mqtt://u:***@h:1",x="y@z"} 1');
  assert.deepEqual(redactDeep({ a: ['mqtt://u:pw@h'], n: 1, b: { c: 'tcp://:t@h' } }), { a: ['mqtt://u:***@h'], n: 1, b: { c: 'tcp://:***@h' } });
});
