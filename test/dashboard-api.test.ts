// The dashboard's side of the local API on a real server: the page and its assets without the
// token (they hold no data), the session cookie a browser trades the token for, the event stream
// that pushes changes, the device view with the model's limits and the sparkline history.

import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { LogRing } from '../core/log-ring.ts';
import { createLogger } from '../core/log.ts';
import { silentLogger } from '../core/log.ts';
import { freePort, waitFor } from '../core/testing.ts';
import { startApi } from '../twin/api.ts';
import { dashboardRoutes } from '../twin/dashboard-api.ts';
import { PropertyHistory } from '../twin/history.ts';
import { TwinStore } from '../twin/store.ts';
import { device, property, tempDir } from '../twin/testing.ts';
import { DeviceTwin } from '../twin/twin.ts';

const TOKEN = 'a-long-random-token-for-the-test-0123456789';

describe('dashboard API', () => {
  let tmp: ReturnType<typeof tempDir>;
  let store: TwinStore;
  let twin: DeviceTwin;
  let history: PropertyHistory;
  let api: Awaited<ReturnType<typeof startApi>>;
  const logs = new LogRing(5);
  const log = createLogger({ level: 'warn', destination: { write: () => true } as unknown as NodeJS.WritableStream, ring: logs });

  before(async () => {
    tmp = tempDir();
    const page = join(tmp.dir, 'page');
    mkdirSync(join(page, 'assets'), { recursive: true });
    writeFileSync(join(page, 'index.html'), '<!doctype html><title>edgetwin</title><script type="module" src="/assets/main.js"></script>');
    writeFileSync(join(page, 'assets', 'main.js'), 'console.log("page")');
    store = TwinStore.open(join(tmp.dir, 'data'));
    twin = new DeviceTwin({ store, log: silentLogger, nodeName: 'n1', registry: new Registry() });
    twin.setDevices([device('oven', [property('temp', { type: 'double', accessMode: 'ReadOnly', unit: 'degC' }), property('setpoint', { type: 'double', minimum: 20, maximum: 120, unit: 'degC' })])]);
    twin.state('default/oven', 'online');
    history = new PropertyHistory(twin, { samples: 4 });
    const links = [{ link: 'tcp:127.0.0.1:502', protocol: 'modbus', devices: 1, requestsPerSecond: 5, errorsPerSecond: 0, errors: 0, latenessP99Ms: 2, utilisation: 0.1 }];
    api = await startApi({ twin, port: await freePort(), log: silentLogger, registry: new Registry(), token: TOKEN, extend: dashboardRoutes({ twin, history, pageDir: page, logs, links: () => links, pushMs: 20, linksMs: 50 }) });
  });
  after(async () => {
    await api.close();
    history.close();
    await twin.close();
    store.close();
    tmp.remove();
  });

  it('serves the page and its assets without the token, with a strict content security policy', async () => {
    const page = await fetch(api.url + '/');
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type')!, /text\/html/);
    assert.match(page.headers.get('content-security-policy')!, /default-src 'self'/);
    assert.equal(page.headers.get('x-frame-options'), 'DENY');
    const js = await fetch(api.url + '/assets/main.js');
    assert.equal(js.status, 200);
    assert.match(js.headers.get('content-type')!, /javascript/);
    assert.equal((await fetch(api.url + '/assets/nothing.js')).status, 404);
    assert.equal((await fetch(api.url + '/api/v1/devices')).status, 401, 'data still needs the token');
    assert.equal((await fetch(api.url + '/api/v1/events')).status, 401, 'the event stream too');
  });

  it('trades the token for an HttpOnly, SameSite=Strict session cookie, which then counts as the token', async () => {
    const post = (body: unknown, headers: Record<string, string> = {}) => fetch(api.url + '/api/v1/session', { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
    const wrong = await post({ token: 'nope' });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.headers.get('set-cookie'), null);
    assert.equal((await post({ token: TOKEN }, { origin: 'http://evil.example' })).status, 403, 'no sign-in from another site');
    const ok = await post({ token: TOKEN });
    assert.equal(ok.status, 200);
    const cookie = ok.headers.get('set-cookie')!;
    assert.match(cookie, /^edgetwin_session=[\w-]{40,};/);
    assert.match(cookie, /HttpOnly/);
    assert.match(cookie, /SameSite=Strict/);
    assert.doesNotMatch(cookie, new RegExp(TOKEN), 'the cookie is not the token');
    const session = cookie.split(';')[0]!;
    assert.equal((await fetch(api.url + '/api/v1/devices', { headers: { cookie: session } })).status, 200);
    assert.equal((await fetch(api.url + '/api/v1/devices', { headers: { cookie: 'edgetwin_session=forged' } })).status, 401);
    const out = await fetch(api.url + '/api/v1/session', { method: 'DELETE', headers: { cookie: session, 'content-type': 'application/json' }, body: '{}' });
    assert.match(out.headers.get('set-cookie')!, /Max-Age=0/);
    assert.equal((await fetch(api.url + '/api/v1/devices', { headers: { cookie: session } })).status, 401, 'signed out is signed out');
  });

  it('pauses sign-in after 10 wrong tokens in a minute, even for the right one', async () => {
    const post = (token: string) => fetch(api.url + '/api/v1/session', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token }) });
    // One wrong token came from the test before.
    for (let i = 0; i < 9; i++) assert.equal((await post(`guess-${i}`)).status, 401);
    const paused = await post(TOKEN);
    assert.equal(paused.status, 429);
    assert.equal(paused.headers.get('retry-after'), '60');
    assert.equal((await fetch(api.url + '/api/v1/devices', { headers: { authorization: `Bearer ${TOKEN}` } })).status, 200, 'the bearer token still works');
  });

  it('shows a device with its model limits, units and sparkline history (at most `samples` points)', async () => {
    for (let i = 0; i < 6; i++) {
      twin.report([{ device: 'default/oven', property: 'temp', value: 100 + i, time: 1000 + i, quality: 'good' }]);
      await twin.flush(); // each reading its own commit, so each reaches the history
    }
    const r = await fetch(api.url + '/api/v1/devices/default/oven/dashboard', { headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(r.status, 200);
    const body = (await r.json()) as { model: Record<string, unknown>; history: Record<string, [number, number][]>; twin: { properties: Record<string, { reported?: { value: number } }> } };
    assert.deepEqual(body.model.setpoint, { type: 'double', accessMode: 'ReadWrite', unit: 'degC', minimum: 20, maximum: 120 });
    assert.deepEqual(body.history.temp, [[1002, 102], [1003, 103], [1004, 104], [1005, 105]]);
    assert.equal(body.twin.properties.temp!.reported!.value, 105);
    const refused = await fetch(api.url + '/api/v1/devices/default/oven/twin/desired/setpoint', { method: 'PUT', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: '{"value": 500}' });
    assert.equal(refused.status, 400, 'the API checks the model again, whatever the page did');
    assert.equal((await fetch(api.url + '/api/v1/links', { headers: { authorization: `Bearer ${TOKEN}` } }).then((x) => x.json()) as { links: { link: string }[] }).links[0]!.link, 'tcp:127.0.0.1:502');
  });

  it('pushes changes, link health and warnings on the event stream', async () => {
    const ac = new AbortController();
    const res = await fetch(api.url + '/api/v1/events?device=default/oven', { headers: { authorization: `Bearer ${TOKEN}` }, signal: ac.signal });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type')!, /text\/event-stream/);
    let text = '';
    const reading = (async () => {
      const decoder = new TextDecoder();
      for await (const chunk of res.body!) text += decoder.decode(chunk as Uint8Array, { stream: true });
    })().catch(() => undefined);
    await waitFor('hello', () => /event: hello\n/.test(text), 10_000);
    twin.report([{ device: 'default/oven', property: 'temp', value: 177.5, time: 5000, quality: 'good' }]);
    await waitFor('the device pushed with its new value', () => /event: device\ndata: .*"value":177\.5/.test(text), 10_000);
    twin.state('default/oven', 'offline', 'cable pulled');
    await waitFor('the list line pushed', () => /event: devices\ndata: .*"state":"offline"/.test(text), 10_000);
    await waitFor('link health pushed', () => /event: links\ndata: .*tcp:127\.0\.0\.1:502/.test(text), 10_000);
    log.warn({ device: 'default/oven' }, 'oven door open');
    await waitFor('the warning pushed', () => /event: log\ndata: .*oven door open/.test(text), 10_000);
    log.info('not for the dashboard');
    assert.ok(logs.lines().every((l) => l.level !== 'info'));
    ac.abort();
    await reading;
  });
});

describe('PropertyHistory', () => {
  it('keeps numbers and booleans, skips strings, and gives no new series beyond its byte budget', async () => {
    const tmp = tempDir();
    const store = TwinStore.open(tmp.dir);
    const twin = new DeviceTwin({ store, log: silentLogger, nodeName: 'n1', registry: new Registry() });
    const props = [property('a', { type: 'double' }), property('b', { type: 'boolean' }), property('c', { type: 'string' }), property('d', { type: 'int' })];
    twin.setDevices([device('x', props)]);
    // Room for two series of 10 samples.
    const h = new PropertyHistory(twin, { samples: 10, maxBytes: 2 * (10 * 16 + 160) });
    twin.report([
      { device: 'default/x', property: 'a', value: 1.5, time: 1, quality: 'good' },
      { device: 'default/x', property: 'b', value: true, time: 1, quality: 'good' },
      { device: 'default/x', property: 'c', value: 'hello', time: 1, quality: 'good' },
      { device: 'default/x', property: 'd', value: 7, time: 1, quality: 'good' },
    ]);
    await twin.flush();
    assert.deepEqual(h.of('default/x'), { a: [[1, 1.5]], b: [[1, 1]] });
    assert.equal(h.refused, 1, 'd found the budget spent');
    assert.ok(h.bytes <= h.maxBytes);
    twin.setDevices([]);
    await twin.flush();
    assert.deepEqual(h.of('default/x'), {});
    assert.equal(h.bytes, 0, 'a removed device gives its bytes back');
    h.close();
    await twin.close();
    store.close();
    tmp.remove();
  });
});
