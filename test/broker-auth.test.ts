// Authentication and permissions on the embedded broker, driven by the real mosquitto clients:
// users from a password file written by the real mosquitto_passwd, mosquitto's ACL format, the
// default permissions (only the gateway publishes results and data/update), mapper users, and a
// TLS listener that takes client certificates (made here with openssl).

import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { silentLogger } from '../core/log.ts';
import { freePort, waitFor } from '../core/testing.ts';
import { startEmbeddedBroker, type BrokerSettings, type EmbeddedBroker } from '../twin/broker.ts';
import { cli } from './helpers/gateway-process.ts';
import { mosquittoRun, mosquittoSub, type Subscriber } from './helpers/broker.ts';

const dir = mkdtempSync(join(tmpdir(), 'edgetwin-broker-auth-'));
const brokers: EmbeddedBroker[] = [];
const subs: Subscriber[] = [];
after(async () => {
  for (const s of subs) await s.stop();
  for (const b of brokers) await b.close();
});

async function broker(settings: Partial<BrokerSettings>) {
  const registry = new Registry();
  const b = await startEmbeddedBroker({ port: await freePort(), log: silentLogger, registry, settings, servedLocally: (id) => id === 'default/local' });
  brokers.push(b);
  const refused = async (action: string) => {
    const m = (await registry.getSingleMetric('edgetwin_broker_refused_total')!.get()).values.find((v) => v.labels.action === action);
    return m?.value ?? 0;
  };
  return { b, port: String(b.port), refused };
}

function sub(port: string, args: string[]): Subscriber {
  const s = mosquittoSub(['-h', '127.0.0.1', '-p', port, ...args]);
  subs.push(s);
  return s;
}
const pub = (port: string, args: string[]) => mosquittoRun('mosquitto_pub', ['-h', '127.0.0.1', '-p', port, ...args]);

/** Publishes a marker until `s` shows it: the subscription is live, and anything published before it has arrived. */
async function sync(s: Subscriber, port: string, topic: string, auth: string[] = []) {
  const marker = `marker-${Math.random().toString(36).slice(2)}`;
  await waitFor(`marker on ${topic}`, async () => {
    await pub(port, [...auth, '-t', topic, '-m', marker]);
    return s.lines.includes(`${topic} ${marker}`);
  }, 30_000, 300);
}

describe('broker.passwordFile (mosquitto_passwd format)', () => {
  const file = join(dir, 'passwd');
  execFileSync('mosquitto_passwd', ['-c', '-b', file, 'alice', 'alice-secret']); // $7$ PBKDF2-SHA512
  execFileSync('mosquitto_passwd', ['-H', 'sha512', '-b', file, 'bob', 'bob-secret']); // $6$ salted SHA512

  it('lets users in with the right password ($7$ and $6$ hashes) and refuses a wrong one or none', async () => {
    const { port, refused } = await broker({ passwordFile: file });
    const s = sub(port, ['-u', 'alice', '-P', 'alice-secret', '-t', 'app/#']);
    await sync(s, port, 'app/sync', ['-u', 'bob', '-P', 'bob-secret']);
    const bad = await pub(port, ['-u', 'alice', '-P', 'wrong', '-t', 'app/x', '-m', 'bad-password']);
    assert.notEqual(bad.code, 0, 'a wrong password is refused');
    assert.match(bad.output, /not authori[sz]ed|bad user name or password|Connection Refused/i);
    const anon = await pub(port, ['-t', 'app/x', '-m', 'anonymous']);
    assert.notEqual(anon.code, 0, 'no user is refused when a password file is set');
    const unknown = await pub(port, ['-u', 'mallory', '-P', 'alice-secret', '-t', 'app/x', '-m', 'unknown-user']);
    assert.notEqual(unknown.code, 0);
    await sync(s, port, 'app/sync', ['-u', 'bob', '-P', 'bob-secret']);
    assert.ok(!s.output().match(/bad-password|anonymous|unknown-user/));
    assert.equal(await refused('connect'), 3);
  });
});

describe('default permissions (no ACL file)', () => {
  it('lets any client send the KubeEdge requests and read everything, and keeps results and data/update the gateway\'s', async () => {
    const { b, port, refused } = await broker({});
    const s = sub(port, ['-t', '$hw/#', '-t', '$ke/#', '-t', 'app/#']);
    await sync(s, port, 'app/sync');
    const fakes = [
      '$ke/events/device/default/remote/data/update',
      '$hw/events/device/default/remote/twin/update/result',
      '$hw/events/device/default/remote/twin/update/delta',
      '$hw/events/device/default/remote/twin/update/document',
      '$hw/events/connected/default/remote',
    ];
    for (const t of fakes) await pub(port, ['-t', t, '-m', 'fake']);
    const requests = ['$hw/events/device/default/remote/twin/update', '$hw/events/device/default/remote/twin/get', '$hw/events/device/default/remote/state/update', '$hw/events/node/n1/membership/get'];
    for (const t of requests) await pub(port, ['-t', t, '-m', '{"event_id":"req"}']);
    // The gateway itself publishes in-process.
    b.aedes.publish({ cmd: 'publish', topic: '$ke/events/device/default/remote/data/update', payload: Buffer.from('from-gateway'), qos: 0, retain: false, dup: false }, () => {});
    await sync(s, port, 'app/sync');
    assert.ok(!s.lines.some((l) => l.endsWith(' fake')), `a client's fake reached a subscriber:\n${s.output()}`);
    for (const t of requests) assert.ok(s.lines.includes(`${t} {"event_id":"req"}`), `request ${t} delivered`);
    assert.ok(s.lines.includes('$ke/events/device/default/remote/data/update from-gateway'));
    assert.equal(await refused('publish'), fakes.length);
  });

  it('gives broker.mapperUsers data/update for devices no local driver serves, and alone the right to publish actual values', async () => {
    const file = join(dir, 'passwd-mappers');
    execFileSync('mosquitto_passwd', ['-c', '-b', file, 'mapper', 'm-secret']);
    execFileSync('mosquitto_passwd', ['-b', file, 'app', 'a-secret']);
    const { port } = await broker({ passwordFile: file, mapperUsers: ['mapper'] });
    const mapper = ['-u', 'mapper', '-P', 'm-secret'];
    const app = ['-u', 'app', '-P', 'a-secret'];
    const s = sub(port, [...app, '-t', '$hw/#', '-t', '$ke/#', '-t', 'app/#']);
    await sync(s, port, 'app/sync', app);
    await pub(port, [...mapper, '-t', '$ke/events/device/default/remote/data/update', '-m', 'mapper-remote']);
    await pub(port, [...mapper, '-t', '$ke/events/device/default/local/data/update', '-m', 'mapper-local']);
    await pub(port, [...app, '-t', '$ke/events/device/default/remote/data/update', '-m', 'app-remote']);
    const actual = '{"twin":{"v":{"actual":{"value":"1"}}},"tag":"%s"}';
    await pub(port, [...app, '-t', '$hw/events/device/default/remote/twin/update', '-m', actual.replace('%s', 'app-actual')]);
    await pub(port, [...mapper, '-t', '$hw/events/device/default/remote/twin/update', '-m', actual.replace('%s', 'mapper-actual')]);
    await pub(port, [...app, '-t', '$hw/events/device/default/remote/twin/update', '-m', '{"twin":{"v":{"expected":{"value":"1"}}},"tag":"app-expected"}']);
    await sync(s, port, 'app/sync', app);
    const out = s.output();
    assert.match(out, /mapper-remote/);
    assert.match(out, /mapper-actual/);
    assert.match(out, /app-expected/);
    assert.doesNotMatch(out, /mapper-local/, 'a locally served device\'s data/update is the gateway\'s alone');
    assert.doesNotMatch(out, /app-remote/);
    assert.doesNotMatch(out, /app-actual/);
  });
});

describe('broker.aclFile (mosquitto ACL format)', () => {
  it('grants per user, per pattern (%u, %c) and denies what no line grants', async () => {
    const passwd = join(dir, 'passwd-acl');
    execFileSync('mosquitto_passwd', ['-c', '-b', passwd, 'alice', 'a']);
    execFileSync('mosquitto_passwd', ['-b', passwd, 'bob', 'b']);
    const acl = join(dir, 'acl');
    writeFileSync(
      acl,
      [
        '# alice writes her own topics; bob reads app/ but not app/secret',
        'user alice',
        'topic readwrite app/alice/#',
        'topic write app/sync',
        'user bob',
        'topic read app/#',
        'topic deny app/secret',
        'pattern write clients/%c/status',
        'pattern read users/%u/#',
        '',
      ].join('\n'),
    );
    const { b, port, refused } = await broker({ passwordFile: passwd, aclFile: acl });
    const alice = ['-u', 'alice', '-P', 'a'];
    const bob = sub(port, ['-u', 'bob', '-P', 'b', '-t', 'app/#', '-t', 'users/#', '-t', 'clients/#']);
    await sync(bob, port, 'app/sync', alice);
    await pub(port, [...alice, '-t', 'app/alice/x', '-m', 'alice-own']);
    await pub(port, [...alice, '-t', 'app/bob/x', '-m', 'alice-not-hers']);
    await pub(port, [...alice, '-i', 'dev1', '-t', 'clients/dev1/status', '-m', 'own-client-id']);
    await pub(port, [...alice, '-i', 'dev1', '-t', 'clients/dev2/status', '-m', 'other-client-id']);
    for (const t of ['app/secret', 'users/bob/inbox', 'users/alice/inbox']) {
      b.aedes.publish({ cmd: 'publish', topic: t, payload: Buffer.from(`gw:${t}`), qos: 0, retain: false, dup: false }, () => {});
    }
    await sync(bob, port, 'app/sync', alice);
    const out = bob.output();
    assert.match(out, /alice-own/);
    assert.doesNotMatch(out, /alice-not-hers/);
    assert.doesNotMatch(out, /own-client-id|other-client-id/, 'bob has no read on clients/');
    assert.match(out, /users\/bob\/inbox gw:/);
    assert.doesNotMatch(out, /gw:app\/secret/, 'deny wins over read');
    assert.doesNotMatch(out, /users\/alice\/inbox/);
    assert.equal(await refused('publish'), 2, 'alice-not-hers and other-client-id');
  });
});

describe('broker.tls with client certificates', () => {
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const cert = (name: string, cn: string, ext?: string) => {
    ssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`);
    const extArgs = ext ? ['-extfile', join(dir, `${name}.ext`)] : [];
    if (ext) writeFileSync(join(dir, `${name}.ext`), ext);
    ssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.crt`, '-days', '1', ...extArgs);
  };

  it('takes a client whose certificate the CA signed (its CN is its user) and refuses one without', async () => {
    ssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '1', '-subj', '/CN=edgetwin-test-ca');
    cert('server', '127.0.0.1', 'subjectAltName=IP:127.0.0.1\n');
    cert('mapper', 'mapper');
    cert('viewer', 'viewer');
    const f = (n: string) => join(dir, n);
    const { b, port } = await broker({ tls: { cert: f('server.crt'), key: f('server.key'), ca: f('ca.crt'), requireClientCert: true }, mapperUsers: ['mapper'] });
    assert.match(b.url, /^mqtts:\/\//);
    const as = (name: string) => ['--cafile', f('ca.crt'), '--cert', f(`${name}.crt`), '--key', f(`${name}.key`)];
    const s = sub(port, [...as('viewer'), '-t', '$ke/#', '-t', 'app/#']);
    await sync(s, port, 'app/sync', as('viewer'));
    await pub(port, [...as('mapper'), '-t', '$ke/events/device/default/remote/data/update', '-m', 'cert-mapper']);
    await pub(port, [...as('viewer'), '-t', '$ke/events/device/default/remote/data/update', '-m', 'cert-viewer']);
    const noCert = await pub(port, ['--cafile', f('ca.crt'), '-t', 'app/x', '-m', 'no-cert']);
    assert.notEqual(noCert.code, 0, 'a client without a certificate is refused');
    await sync(s, port, 'app/sync', as('viewer'));
    assert.match(s.output(), /cert-mapper/, 'the CN "mapper" is a mapper user');
    assert.doesNotMatch(s.output(), /cert-viewer|no-cert/);
  });
});

describe('secure by default', () => {
  it('refuses to listen beyond loopback without a password file or client certificates', async () => {
    await assert.rejects(startEmbeddedBroker({ port: await freePort(), log: silentLogger, settings: { host: '0.0.0.0' } }), (err: Error & { format?: () => string }) => {
      assert.match(err.format!(), /0\.0\.0\.0 with no authentication.*set broker\.passwordFile/);
      return true;
    });
  });

  it('takes a tls block without a certificate as an error, never as a plain listener', async () => {
    await assert.rejects(
      startEmbeddedBroker({ port: await freePort(), log: silentLogger, settings: { host: '0.0.0.0', tls: { requireClientCert: true } } }),
      /broker\.tls needs both cert and key/,
    );
  });

  it('beyond loopback with users and no broker.tls, serves MQTT over TLS with a self-signed certificate, and no plain MQTT', async () => {
    const passwd = join(dir, 'passwd-exposed');
    execFileSync('mosquitto_passwd', ['-c', '-b', passwd, 'alice', 'alice-secret']);
    // The machine's own address where it has one (the certificate must name it); else every address, reached through loopback.
    const lan = Object.values(networkInterfaces()).flat().find((a) => a && a.family === 'IPv4' && !a.internal)?.address;
    const tlsDir = join(dir, 'exposed-tls');
    const b = await startEmbeddedBroker({ port: await freePort(), log: silentLogger, settings: { host: lan ?? '0.0.0.0', passwordFile: passwd }, tlsDir });
    brokers.push(b);
    const address = lan ?? '127.0.0.1';
    const port = String(b.port);
    assert.match(b.url, /^mqtts:\/\//);
    assert.equal(b.certFile, join(tlsDir, 'broker.crt'));
    const tls = ['--cafile', b.certFile!, '-u', 'alice', '-P', 'alice-secret'];
    const s = mosquittoSub(['-h', address, '-p', port, ...tls, '-t', 'app/#']);
    subs.push(s);
    const marker = `over-tls-${Math.random().toString(36).slice(2)}`;
    await waitFor('a message over TLS', async () => {
      const r = await mosquittoRun('mosquitto_pub', ['-h', address, '-p', port, ...tls, '-t', 'app/tls', '-m', marker]);
      assert.equal(r.code, 0, r.output);
      return s.lines.includes(`app/tls ${marker}`);
    }, 30_000, 300);
    const plain = await mosquittoRun('mosquitto_pub', ['-h', address, '-p', port, '-u', 'alice', '-P', 'alice-secret', '-t', 'app/tls', '-m', 'plain']);
    assert.notEqual(plain.code, 0, 'plain MQTT is refused');
    const untrusted = await mosquittoRun('mosquitto_pub', ['-h', address, '-p', port, '--capath', '/nonexistent', '-u', 'alice', '-P', 'alice-secret', '-t', 'app/tls', '-m', 'untrusted']);
    assert.notEqual(untrusted.code, 0, 'a client that does not trust the certificate does not connect');
    // A last marker over TLS: anything the refused clients had published would have arrived before it.
    const last = `${marker}-last`;
    assert.equal((await mosquittoRun('mosquitto_pub', ['-h', address, '-p', port, ...tls, '-q', '1', '-t', 'app/tls', '-m', last])).code, 0);
    await waitFor('the last marker', () => s.lines.includes(`app/tls ${last}`));
    assert.ok(!s.lines.some((l) => l.endsWith(' plain') || l.endsWith(' untrusted')), s.output());
  });

  it('beyond loopback with neither broker.tls nor a directory for a self-signed certificate, refuses to start rather than serve plain MQTT', async () => {
    const passwd = join(dir, 'passwd-no-tls');
    execFileSync('mosquitto_passwd', ['-c', '-b', passwd, 'alice', 'alice-secret']);
    await assert.rejects(startEmbeddedBroker({ port: await freePort(), log: silentLogger, settings: { host: '0.0.0.0', passwordFile: passwd } }), (err: Error & { format?: () => string }) => {
      assert.match(err.format!(), /serves only TLS.*broker\.tls\.cert/s);
      return true;
    });
  });

  it('`edgetwin run --broker-host 0.0.0.0` exits with a message naming what to set, and no stack trace', async () => {
    const r = await cli(['run', '--no-live', '--broker-host', '0.0.0.0', '--mqtt-port', String(await freePort()), '--api-port', String(await freePort()), '--data-dir', join(dir, 'data')]);
    assert.equal(r.code, 2);
    assert.match(r.stderr + r.stdout, /broker\.passwordFile/);
    assert.doesNotMatch(r.stderr + r.stdout, /\n\s+at /);
  });
});
