import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { redactUrl } from '../core/redact.ts';
import { Health } from './health.ts';

describe('health', () => {
  it('is ok only when every degrading component is, and lists each reason', () => {
    let store: string | undefined;
    const h = new Health().add('store', () => store).add('cloud', () => 'link down', { degrades: false });
    assert.deepEqual(h.report().status, 'ok');
    assert.deepEqual(h.report().reasons, []);
    assert.deepEqual(h.report().components.cloud, { status: 'problem', message: 'link down', degrades: false });
    store = 'disk full';
    assert.deepEqual(h.report().status, 'degraded');
    assert.deepEqual(h.report().reasons, [{ component: 'store', message: 'disk full' }]);
  });

  it('reports a probe that throws as a reason instead of failing /healthz', () => {
    const h = new Health().add('broker', () => {
      throw new Error('boom');
    });
    assert.deepEqual(h.report().reasons, [{ component: 'broker', message: 'health check failed: boom' }]);
  });

  it('never shows the credentials of a URL', () => {
    assert.equal(redactUrl('mqtt://user:secret@broker.local:1883'), 'mqtt://user:***@broker.local:1883');
    assert.equal(redactUrl('wss://user:secret@broker.local/mqtt'), 'wss://user:***@broker.local/mqtt');
    assert.equal(redactUrl('mqtts://broker.local:8883'), 'mqtts://broker.local:8883');
    assert.doesNotMatch(redactUrl('mqtt://user:se cret@bro ker'), /se cret/);
  });
});
