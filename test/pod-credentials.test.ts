// Scoped credentials (the per-pod tokens of hub/edged/credentials.ts) in the local API and the
// embedded broker: a pod's token reaches the devices of its namespace only, a listener added for
// the pod bridge takes no anonymous caller and no connection from outside the pod CIDR, and
// everything else behaves as before. The bridge listener is bound to 127.0.0.2 here (another
// loopback address) with the pod CIDR 127.0.0.0/8: addListener applies the bridge rules whatever
// the address, so the test needs no network setup.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import mqtt from 'mqtt';
import { Registry } from 'prom-client';
import { silentLogger } from '../core/log.ts';
import { freePort, waitFor } from '../core/testing.ts';
import { PodCredentials, podUser, POD_USER_PREFIX } from '../hub/edged/credentials.ts';
import { startApi, type LocalApi } from '../twin/api.ts';
import { insideCidr } from '../twin/pod-cidr.ts';
import { startEmbeddedBroker, type EmbeddedBroker } from '../twin/broker.ts';
import { ScopedCredentials } from '../twin/scoped-credentials.ts';
import { TwinStore } from '../twin/store.ts';
import { device, property, RecordingWriter, tempDir } from '../twin/testing.ts';
import { DeviceTwin } from '../twin/twin.ts';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';

const BRIDGE = '127.0.0.2';
/** The pod CIDR the tests' bridge listeners admit: the test's own connections come from loopback. */
const POD_CIDR = '127.0.0.0/8';
/** A pod CIDR that leaves this machine's loopback out. */
const OTHER_CIDR = '10.88.0.0/16';

describe('per-pod tokens (PodCredentials)', () => {
  it('writes a 0600 token per pod, keeps it across a restart, and forgets it with the pod', () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'edgetwin-podcreds-'));
    try {
      const scoped = new ScopedCredentials([POD_USER_PREFIX]);
      const file = new PodCredentials(dataDir, scoped).ensure('line', 'app', 'uid-1');
      const token = readFileSync(file, 'utf8');
      assert.equal(statSync(file).mode & 0o777, 0o600);
      assert.ok(token.length >= 40);
      assert.equal(scoped.byToken(token)?.user, podUser('line', 'app'));
      // A gateway restarted: a new registry, the same file, the same token.
      const again = new ScopedCredentials([POD_USER_PREFIX]);
      const creds = new PodCredentials(dataDir, again);
      assert.equal(readFileSync(creds.ensure('line', 'app', 'uid-1'), 'utf8'), token);
      assert.deepEqual(again.verifyUser('pod:line/app', token)?.namespaces, ['line']);
      assert.equal(again.verifyUser('pod:other/app', token), undefined, 'the token is the password of its own user only');
      creds.remove('uid-1');
      assert.equal(again.byToken(token), undefined);
      // A pod made again under the same name (new uid) while the old one stops: the new token holds the user.
      creds.ensure('line', 'app', 'uid-1');
      const newer = readFileSync(creds.ensure('line', 'app', 'uid-2'), 'utf8');
      assert.notEqual(newer, token);
      creds.ensure('line', 'app', 'uid-1');
      creds.remove('uid-1');
      assert.equal(again.byToken(newer)?.user, 'pod:line/app');
      assert.equal(again.byToken(token), undefined);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe('local API with scoped credentials', () => {
  let tmp: ReturnType<typeof tempDir>;
  let store: TwinStore;
  let twin: DeviceTwin;
  let open: LocalApi;
  let guarded: LocalApi;
  let bridge: { url: string; close(): Promise<void> };
  const scoped = new ScopedCredentials([POD_USER_PREFIX]);
  const podToken = 'pod-token-of-line-app-0123456789abcdef';
  const configured = 'configured-token-0123456789abcdef';

  const call = async (base: string, method: string, path: string, token?: string, body?: string) => {
    const headers: Record<string, string> = {};
    if (token) headers.authorization = `Bearer ${token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(base + path, { method, headers, body });
    const text = await res.text();
    return { status: res.status, text, json: text.startsWith('{') ? JSON.parse(text) : undefined };
  };

  before(async () => {
    tmp = tempDir();
    store = TwinStore.open(tmp.dir);
    const registry = new Registry();
    twin = new DeviceTwin({ store, log: silentLogger, nodeName: 'n1', writer: new RecordingWriter(), registry });
    twin.setDevices([
      device('packer', [property('speed', { type: 'int', minimum: 0, maximum: 120 })], { namespace: 'line', id: 'line/packer', methods: [{ name: 'setup', propertyNames: ['speed'] }] }),
      device('boiler', [property('speed', { type: 'int' })], { namespace: 'plant', id: 'plant/boiler' }),
    ]);
    scoped.set(podToken, { subject: 'pod line/app', user: 'pod:line/app', namespaces: ['line'] });
    open = await startApi({ twin, port: await freePort(), log: silentLogger, registry, scoped });
    guarded = await startApi({ twin, port: await freePort(), log: silentLogger, registry: new Registry(), scoped, token: configured });
    bridge = await open.addListener(BRIDGE, POD_CIDR);
  });
  after(async () => {
    await bridge.close();
    await open.close();
    await guarded.close();
    await twin.close();
    store.close();
    tmp.remove();
  });

  it('lets a pod token list, read and set desired values of its namespace only', async () => {
    const list = await call(open.url, 'GET', '/api/v1/devices', podToken);
    assert.equal(list.status, 200, list.text);
    assert.deepEqual(list.json.devices.map((d: { device: string }) => d.device), ['line/packer']);
    assert.equal((await call(open.url, 'GET', '/api/v1/devices/line/packer/twin', podToken)).status, 200);
    const set = await call(open.url, 'PUT', '/api/v1/devices/line/packer/twin/desired/speed', podToken, '{"value": 42}');
    assert.equal(set.status, 200, set.text);
    for (const [method, path, body] of [
      ['GET', '/api/v1/devices/plant/boiler/twin'],
      ['PUT', '/api/v1/devices/plant/boiler/twin/desired/speed', '{"value": 1}'],
      ['POST', '/api/v1/devices/line/packer/methods/setup', '{"values": {"speed": 1}}'],
      ['GET', '/metrics'],
      ['GET', '/api/v1/pods'],
    ] as const) {
      const r = await call(open.url, method, path, podToken, body);
      assert.equal(r.status, 403, `${method} ${path}: ${r.text}`);
      assert.equal(r.json.code, 'ET_FORBIDDEN_SCOPE');
      assert.match(r.json.message, /pod line\/app may only .* namespace line/);
    }
    assert.equal(twin.get('plant/boiler')!.properties.speed!.desired, undefined, 'the refused write changed nothing');
  });

  it('keeps the loopback listener as it was: no token configured, anyone on this machine is full access', async () => {
    const r = await call(open.url, 'GET', '/api/v1/devices');
    assert.deepEqual(r.json.devices.map((d: { device: string }) => d.device), ['line/packer', 'plant/boiler']);
    assert.equal((await call(open.url, 'GET', '/metrics')).status, 200);
    // With a token configured: the token is full access, a pod token its scope, anything else 401.
    assert.equal((await call(guarded.url, 'GET', '/api/v1/devices/plant/boiler/twin', configured)).status, 200);
    assert.equal((await call(guarded.url, 'GET', '/api/v1/devices/plant/boiler/twin', podToken)).status, 403);
    assert.equal((await call(guarded.url, 'GET', '/api/v1/devices/line/packer/twin', podToken)).status, 200);
    assert.equal((await call(guarded.url, 'GET', '/api/v1/devices', 'wrong')).status, 401);
  });

  it('on the bridge listener, takes pod credentials only: no credential or a wrong one is 401', async () => {
    assert.match(bridge.url, /^http:\/\/127\.0\.0\.2:\d+$/);
    const none = await call(bridge.url, 'GET', '/api/v1/devices');
    assert.equal(none.status, 401, none.text);
    assert.equal((await call(bridge.url, 'GET', '/api/v1/devices', 'not-a-token')).status, 401);
    assert.equal((await call(bridge.url, 'GET', '/healthz')).status, 200, '/healthz stays public');
    const pod = await call(bridge.url, 'GET', '/api/v1/devices/line/packer/twin', podToken);
    assert.equal(pod.status, 200, pod.text);
    assert.equal((await call(bridge.url, 'GET', '/api/v1/devices/plant/boiler/twin', podToken)).status, 403);
    // The pod goes: its token stops working.
    scoped.remove('pod:line/app');
    assert.equal((await call(bridge.url, 'GET', '/api/v1/devices/line/packer/twin', podToken)).status, 401);
    scoped.set(podToken, { subject: 'pod line/app', user: 'pod:line/app', namespaces: ['line'] });
  });

  it('on a bridge listener whose pod CIDR leaves this machine out, closes the connection unanswered, even with a pod token', async () => {
    const outside = await open.addListener('127.0.0.3', OTHER_CIDR);
    try {
      await assert.rejects(call(outside.url, 'GET', '/api/v1/devices/line/packer/twin', podToken), 'no answer to an address outside the pod CIDR');
      await assert.rejects(call(outside.url, 'GET', '/healthz'), 'not even /healthz');
    } finally {
      await outside.close();
    }
  });
});

describe('the pod CIDR filter (insideCidr)', () => {
  it('admits the addresses of the range only, IPv4-mapped ones included', () => {
    const inside = insideCidr('10.88.0.0/16');
    for (const a of ['10.88.0.1', '10.88.255.254', '::ffff:10.88.3.4']) assert.equal(inside(a), true, a);
    for (const a of ['10.89.0.1', '127.0.0.1', '::1', '::ffff:127.0.0.1', '', undefined, 'not-an-address']) assert.equal(inside(a), false, String(a));
    const v6 = insideCidr('fd00:88::/64');
    assert.equal(v6('fd00:88::5'), true);
    assert.equal(v6('fd00:89::5'), false);
    assert.equal(v6('10.88.0.1'), false);
    assert.throws(() => insideCidr('10.88'), /not an address range/);
    assert.throws(() => insideCidr('10.88.0.0/33'), /not an address range/);
  });
});

describe('embedded broker with scoped credentials', () => {
  let broker: EmbeddedBroker;
  let bridgeUrl: string;
  const scoped = new ScopedCredentials([POD_USER_PREFIX]);
  const token = 'broker-pod-token-0123456789abcdef';
  const clients: mqtt.MqttClient[] = [];
  const connect = async (url: string, opts: mqtt.IClientOptions = {}) => {
    const c = await mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 10_000, ...opts });
    clients.push(c);
    return c;
  };
  const connectRefused = async (url: string, opts: mqtt.IClientOptions = {}) => {
    const err = await connect(url, opts).then(() => undefined, (e: Error) => e);
    assert.ok(err, 'the connection is refused');
    assert.match(err.message, /Not authorized|Bad username or password|bad user name/i);
  };

  before(async () => {
    scoped.set(token, { subject: 'pod line/app', user: 'pod:line/app', namespaces: ['line'] });
    broker = await startEmbeddedBroker({ port: await freePort(), log: silentLogger, registry: new Registry(), scoped });
    bridgeUrl = (await broker.addListener(BRIDGE, POD_CIDR)).url;
  });
  after(async () => {
    for (const c of clients) await c.endAsync(true);
    await broker.close();
  });

  it('lets a pod publish requests and subscribe for its namespace\'s devices, and nothing else', async () => {
    const watcher = await connect(broker.url); // anonymous on loopback, as before
    const seen: string[] = [];
    watcher.on('message', (topic, payload) => seen.push(`${topic} ${payload.toString()}`));
    await watcher.subscribeAsync(['$hw/#', 'app/#'], { qos: 1 });

    const pod = await connect(broker.url, { username: 'pod:line/app', password: token });
    const granted = await pod.subscribeAsync('$hw/events/device/line/+/twin/update/result', { qos: 1 });
    assert.deepEqual(granted.map((g) => g.qos), [1]);
    for (const filter of ['$hw/events/device/plant/#', '#', '$hw/events/device/+/+/twin/update/result']) {
      await assert.rejects(pod.subscribeAsync(filter, { qos: 1 }), /Subscribe error/, filter);
    }
    await pod.publishAsync('$hw/events/device/line/packer/twin/update', JSON.stringify({ twin: { speed: { expected: { value: '5' } } } }), { qos: 1 });
    await waitFor('the allowed request', () => seen.some((s) => s.startsWith('$hw/events/device/line/packer/twin/update ')));

    // Another namespace's device: refused, and the client is disconnected (as for any refused publish).
    const closed = new Promise<void>((resolve) => pod.once('close', () => resolve()));
    pod.publish('$hw/events/device/plant/boiler/twin/update', JSON.stringify({ twin: { speed: { expected: { value: '9' } } } }), { qos: 1 });
    await closed;
    for (const [topic, payload] of [
      ['app/anything', 'x'],
      ['$hw/events/node/n1/membership/get', '{}'],
      ['$hw/events/device/line/packer/twin/update', JSON.stringify({ twin: { speed: { actual: { value: '7' } } } })],
    ]) {
      const p = await connect(broker.url, { username: 'pod:line/app', password: token });
      const gone = new Promise<void>((resolve) => p.once('close', () => resolve()));
      p.publish(topic!, payload!, { qos: 1 });
      await gone;
    }
    // A marker through: everything refused above was published before it, and none of it arrived.
    await watcher.publishAsync('app/marker', 'm', { qos: 1 });
    await waitFor('marker', () => seen.includes('app/marker m'));
    assert.ok(!seen.some((s) => s.includes('plant/boiler') || s.startsWith('app/anything') || s.includes('membership') || s.includes('actual')), seen.join('\n'));
  });

  it('refuses a pod user with a wrong token, even on loopback with no password file', async () => {
    await connectRefused(broker.url, { username: 'pod:line/app', password: 'wrong' });
    await connectRefused(broker.url, { username: 'pod:plant/app', password: token });
  });

  it('on the bridge listener, refuses anonymous clients and takes the pod\'s credential', async () => {
    assert.match(bridgeUrl, /^mqtt:\/\/127\.0\.0\.2:\d+$/);
    assert.equal(broker.podUrl(BRIDGE), broker.url, 'a plain loopback broker: pods are told its URL (podEnv puts the bridge address in)');
    await connectRefused(bridgeUrl);
    await connectRefused(bridgeUrl, { username: 'someone', password: 'anything' });
    const pod = await connect(bridgeUrl, { username: 'pod:line/app', password: token });
    assert.ok(pod.connected);
  });

  it('on a bridge listener whose pod CIDR leaves this machine out, closes the connection before MQTT, even for a pod', async () => {
    const outside = await broker.addListener('127.0.0.3', OTHER_CIDR);
    try {
      const err = await new Promise<Error | undefined>((resolve) => {
        const c = mqtt.connect(outside.url, { username: 'pod:line/app', password: token, reconnectPeriod: 0, connectTimeout: 10_000 });
        c.once('connect', () => {
          c.end(true);
          resolve(undefined);
        });
        c.once('close', () => {
          c.end(true);
          resolve(new Error('closed'));
        });
        c.once('error', (e) => {
          c.end(true);
          resolve(e);
        });
      });
      assert.ok(err, 'no CONNACK from a listener that refuses the address');
    } finally {
      await outside.close();
    }
  });
});

// What the port onto fastify had to keep: the guard's session cookies, extension routes (the
// dashboard's), and a bridge listener next to a wildcard main listener.
describe('scoped credentials next to sessions, extensions and a wildcard listener', () => {
  let tmp: ReturnType<typeof tempDir>;
  let store: TwinStore;
  let twin: DeviceTwin;
  let api: LocalApi;
  let wild: LocalApi;
  const scoped = new ScopedCredentials([POD_USER_PREFIX]);
  const podToken = 'pod-token-of-line-app-fedcba9876543210';
  const configured = 'configured-token-fedcba9876543210';
  const call = async (base: string, method: string, path: string, headers: Record<string, string> = {}, body?: string) => {
    const res = await fetch(base + path, { method, headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers }, body });
    const text = await res.text();
    return { status: res.status, text, headers: res.headers, json: text.startsWith('{') ? JSON.parse(text) : undefined };
  };
  const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

  before(async () => {
    tmp = tempDir();
    store = TwinStore.open(tmp.dir);
    twin = new DeviceTwin({ store, log: silentLogger, nodeName: 'n1', writer: new RecordingWriter(), registry: new Registry() });
    twin.setDevices([device('packer', [property('speed', { type: 'int' })], { namespace: 'line', id: 'line/packer' })]);
    scoped.set(podToken, { subject: 'pod line/app', user: 'pod:line/app', namespaces: ['line'] });
    api = await startApi({
      twin,
      port: await freePort(),
      log: silentLogger,
      registry: new Registry(),
      scoped,
      token: configured,
      extend: (routes) => routes.add({ name: 'extra', url: '/api/v1/extra', methods: { GET: async () => [200, { extra: true }] } }),
    });
    // Beyond loopback it serves TLS with a self-signed certificate kept in tlsDir.
    wild = await startApi({ twin, host: '0.0.0.0', port: await freePort(), log: silentLogger, registry: new Registry(), scoped, token: configured, tlsDir: join(tmp.dir, 'tls') });
  });
  after(async () => {
    await api.close();
    await wild.close();
    await twin.close();
    store.close();
    tmp.remove();
  });

  it('refuses a pod token on an extension route, and does not trade it for a session', async () => {
    assert.equal((await call(api.url, 'GET', '/api/v1/extra', bearer(configured))).status, 200);
    const r = await call(api.url, 'GET', '/api/v1/extra', bearer(podToken));
    assert.equal(r.status, 403, r.text);
    assert.equal(r.json.code, 'ET_FORBIDDEN_SCOPE');
    const signIn = await call(api.url, 'POST', '/api/v1/session', {}, JSON.stringify({ token: podToken }));
    assert.equal(signIn.status, 401, signIn.text);
    assert.equal(signIn.headers.get('set-cookie'), null);
  });

  it('keeps the session cookie signed in with the configured token as full access', async () => {
    const signIn = await call(api.url, 'POST', '/api/v1/session', {}, JSON.stringify({ token: configured }));
    assert.equal(signIn.status, 200, signIn.text);
    const cookie = { cookie: signIn.headers.get('set-cookie')!.split(';')[0]! };
    assert.equal((await call(api.url, 'GET', '/api/v1/extra', cookie)).status, 200);
    assert.equal((await call(api.url, 'GET', '/metrics', cookie)).status, 200);
    assert.equal((await call(api.url, 'GET', '/api/v1/extra', { cookie: 'edgetwin_session=forged' })).status, 401);
  });

  it('on a bridge listener, takes the configured token as full access and closes with the API', async () => {
    const bridge = await api.addListener(BRIDGE, POD_CIDR);
    assert.equal((await call(bridge.url, 'GET', '/api/v1/extra', bearer(configured))).status, 200);
    assert.equal((await call(bridge.url, 'GET', '/api/v1/extra', bearer(podToken))).status, 403);
    assert.equal((await call(bridge.url, 'GET', '/api/v1/extra')).status, 401);
    await bridge.close();
    await assert.rejects(fetch(bridge.url + '/healthz'), 'the bridge listener is closed');
    assert.equal((await call(api.url, 'GET', '/healthz')).status, 200, 'the main listener stays');
  });

  it('with a wildcard main listener (TLS), answers to the bridge address by name once added, and opens no second server', async () => {
    const wildUrl = wild.url.replace('0.0.0.0', BRIDGE);
    assert.match(wildUrl, /^https:/);
    // The certificate names this machine's addresses, not 127.0.0.2: the chain is checked, the name is the Host guard's business here.
    const ca = readFileSync(wild.certFile!, 'utf8');
    const tlsCall = (path: string, token: string) =>
      new Promise<{ status: number; json: { code?: string } }>((resolve, reject) => {
        const req = httpsRequest(wildUrl + path, { headers: bearer(token), ca, checkServerIdentity: () => undefined }, (res) => {
          let text = '';
          res.on('data', (d) => (text += d));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) }));
        });
        req.on('error', reject);
        req.end();
      });
    const before = await tlsCall('/api/v1/devices/line/packer/twin', podToken);
    assert.equal(before.status, 403);
    assert.equal(before.json.code, 'ET_FORBIDDEN_HOST');
    const added = await wild.addListener(BRIDGE, POD_CIDR);
    assert.equal(added.url, wildUrl);
    assert.equal(wild.podUrl(BRIDGE), wild.url, 'pods are told the main listener, which takes the bridge address');
    assert.equal((await tlsCall('/api/v1/devices/line/packer/twin', podToken)).status, 200);
    await added.close();
  });

  it('tells pods the plain bridge listener when the main one is TLS on one address, and the main one when it is plain on loopback', async (t) => {
    assert.equal(api.podUrl('10.88.0.1'), api.url, 'loopback and plain: podEnv points pods at the bridge, hostNetwork pods at loopback');
    const lan = Object.values(networkInterfaces()).flat().find((a) => a && a.family === 'IPv4' && !a.internal)?.address;
    if (!lan) return t.skip('this machine has no address beyond loopback');
    const onLan = await startApi({ twin, host: lan, port: await freePort(), log: silentLogger, registry: new Registry(), scoped, token: configured, tlsDir: join(tmp.dir, 'tls-lan') });
    try {
      assert.match(onLan.url, /^https:/);
      assert.equal(onLan.podUrl('10.88.0.1'), `http://10.88.0.1:${onLan.port}`);
    } finally {
      await onLan.close();
    }
  });
});
