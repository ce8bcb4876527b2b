// OPC UA security against a server with only secure endpoints (Basic256Sha256, Aes128_Sha256_RsaOaep,
// Aes256_Sha256_RsaPss; Sign or SignAndEncrypt) that refuses anonymous users: first the server's
// certificate is not trusted (a clear error naming where it went), then with mutually trusted
// certificates a username session and an X.509 user certificate work, and a wrong password is
// refused. The password never reaches the log.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { createLogger } from '../core/log.ts';
import { MapperHost } from '../mappers/sdk/index.ts';
import { makeDevice, RecordingSink, waitFor } from '../mappers/sdk/testing.ts';
import { opcuaLoader } from '../mappers/opcua/index.ts';
import { startTestServer, type TestServer } from '../mappers/opcua/testing/spawn.ts';

const PASSWORD = 's3cret-Pa55';
let server: TestServer;
const dir = mkdtempSync(join(tmpdir(), 'edgetwin-opcua-sec-'));
const dataDir = join(dir, 'data');
const clientPki = join(dataDir, 'pki', 'opcua');
const passwordFile = join(dir, 'password');
const wrongPasswordFile = join(dir, 'wrong');
const log: string[] = [];

before(async () => {
  writeFileSync(passwordFile, `${PASSWORD}\n`);
  writeFileSync(wrongPasswordFile, 'not-the-password\n');
  server = await startTestServer({ secureOnly: true, noAnonymous: true, user: `operator:${PASSWORD}` });
});
after(async () => {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function run(config: Record<string, unknown>, fn: (sink: RecordingSink, id: string, host: MapperHost) => Promise<void>, data = dataDir): Promise<void> {
  const sink = new RecordingSink();
  const destination = new Writable({ write(chunk, _enc, done) { log.push(String(chunk)); done(); } });
  const host = new MapperHost({ sink, drivers: [opcuaLoader], log: createLogger({ destination, level: 'debug' }), dataDir: data, backoff: { initialMs: 200, maxMs: 1000 } });
  const d = makeDevice({ name: 'secure', protocol: 'opcua', config: { url: server.url, ...config }, properties: [
    { name: 'setpoint', type: 'double', accessMode: 'ReadWrite', visitor: { nodeID: 'ns=1;s=Test.Double' } },
  ] });
  try {
    const { errors } = await host.apply([d]);
    assert.deepEqual(errors.map((e) => e.format()), []);
    await fn(sink, d.id, host);
  } finally {
    await host.close();
  }
}

const secure = { securityPolicy: 'Basic256Sha256', securityMode: 'SignAndEncrypt', userName: 'operator', password: passwordFile, timeout: 5 };

describe('opcua security', () => {
  test('an untrusted server certificate fails with an error that says where it went and how to trust it', async () => {
    await run(secure, async (sink, id) => {
      const offline = await waitFor(() => sink.states.find((s) => s.device === id && s.state === 'offline'), 'the connect to fail', 60_000);
      assert.match(offline.reason!, /server's certificate .* is not trusted/);
      assert.ok(offline.reason!.includes(join(clientPki, 'rejected')), `the reason names the rejected folder: ${offline.reason}`);
      assert.ok(offline.reason!.includes(join(clientPki, 'trusted', 'certs')), 'the reason says where to move it');
      await waitFor(() => existsSync(join(clientPki, 'rejected')) && readdirSync(join(clientPki, 'rejected')).length > 0 || undefined, 'the certificate in rejected/');
      assert.equal(sink.readings.some((r) => r.quality === 'good'), false);
    });
    assert.ok(existsSync(join(clientPki, 'own', 'certs', 'client_certificate.pem')), 'the client certificate lives under the data directory');
  });

  test('Basic256Sha256 SignAndEncrypt with mutually trusted certificates and a username', async () => {
    // What the error told the user to do: move the rejected server certificate to trusted/certs.
    for (const f of readdirSync(join(clientPki, 'rejected'))) renameSync(join(clientPki, 'rejected', f), join(clientPki, 'trusted', 'certs', f));
    mkdirSync(join(server.pki, 'trusted', 'certs'), { recursive: true });
    copyFileSync(join(clientPki, 'own', 'certs', 'client_certificate.pem'), join(server.pki, 'trusted', 'certs', 'edgetwin.pem'));
    await run(secure, async (sink, id, host) => {
      await waitFor(() => sink.latest(id, 'setpoint')?.quality === 'good' || undefined, `a good reading over the encrypted channel (state: ${sink.states.at(-1)?.reason})`, 60_000);
      const outcome = await host.write(id, 'setpoint', 42.5);
      assert.equal(outcome.ok, true, outcome.error?.message);
      assert.equal(outcome.readBack, 42.5);
    });
  });

  test('the other policies, in KubeEdge spelling, and Sign mode', async () => {
    for (const [securityPolicy, securityMode] of [['Aes128Sha256RsaOaep', 'SignAndEncrypt'], ['Aes256Sha256RsaPss', 'SignAndEncrypt'], ['Basic256Sha256', 'Sign']]) {
      await run({ ...secure, securityPolicy, securityMode }, async (sink, id) => {
        await waitFor(() => sink.latest(id, 'setpoint')?.quality === 'good' || undefined, `a good reading with ${securityPolicy} ${securityMode} (state: ${sink.states.at(-1)?.reason})`, 60_000);
      });
    }
  });

  test('an X.509 user certificate identity', async () => {
    const key = join(dir, 'user-key.pem');
    const cert = join(dir, 'user-cert.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=operator', '-addext', 'keyUsage=digitalSignature,nonRepudiation,keyEncipherment,dataEncipherment', '-addext', 'extendedKeyUsage=clientAuth'], { stdio: 'ignore', env: { PATH: process.env.PATH } });
    const { userName: _u, password: _p, ...withoutUser } = secure;
    await run({ ...withoutUser, userCertificate: cert, userPrivateKey: key }, async (sink, id) => {
      await waitFor(() => sink.latest(id, 'setpoint')?.quality === 'good' || undefined, `a good reading with an X.509 identity (state: ${sink.states.at(-1)?.reason})`, 60_000);
    });
  });

  test('KubeEdge certificate/privateKey: the client presents the given application certificate', async () => {
    // A data directory whose own certificate the server does not trust: only the given one can work.
    const data = join(dir, 'data-app-cert');
    mkdirSync(join(data, 'pki', 'opcua', 'trusted', 'certs'), { recursive: true });
    copyFileSync(server.certificate, join(data, 'pki', 'opcua', 'trusted', 'certs', 'server.pem'));
    const key = join(dir, 'app-key.pem');
    const cert = join(dir, 'app-cert.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=edgetwin-gateway',
      '-addext', 'subjectAltName=URI:urn:example:edgetwin-gateway,DNS:localhost', '-addext', 'keyUsage=digitalSignature,nonRepudiation,keyEncipherment,dataEncipherment',
      '-addext', 'extendedKeyUsage=clientAuth,serverAuth'], { stdio: 'ignore', env: { PATH: process.env.PATH } });
    copyFileSync(cert, join(server.pki, 'trusted', 'certs', 'app-cert.pem'));
    await run({ ...secure, certificate: cert, privateKey: key }, async (sink, id) => {
      await waitFor(() => sink.latest(id, 'setpoint')?.quality === 'good' || undefined, `a good reading with the given certificate (state: ${sink.states.at(-1)?.reason})`, 60_000);
    }, data);
  });

  test('a security setting the server does not offer is named in the reason', async () => {
    await run({ url: server.url, timeout: 5 }, async (sink, id) => {
      const offline = await waitFor(() => sink.states.find((s) => s.device === id && s.state === 'offline'), 'the connect to fail', 60_000);
      assert.match(offline.reason!, /offers no endpoint with securityPolicy None and securityMode None/);
    });
  });

  test('a server that does not trust the client certificate: the reason names the certificate to trust', async () => {
    const data = join(dir, 'data-untrusted-client');
    mkdirSync(join(data, 'pki', 'opcua', 'trusted', 'certs'), { recursive: true });
    copyFileSync(server.certificate, join(data, 'pki', 'opcua', 'trusted', 'certs', 'server.pem'));
    await run(secure, async (sink, id) => {
      const offline = await waitFor(() => sink.states.find((s) => s.device === id && s.state === 'offline'), 'the connect to fail', 60_000);
      assert.ok(offline.reason!.includes(join(data, 'pki', 'opcua', 'own', 'certs')), `the reason names the client certificate: ${offline.reason}`);
      assert.match(offline.reason!, /must trust the client certificate/);
    }, data);
  });

  test('an anonymous session the server refuses says what to set', async () => {
    const { userName: _u, password: _p, ...anonymous } = secure;
    await run(anonymous, async (sink, id) => {
      const offline = await waitFor(() => sink.states.find((s) => s.device === id && s.state === 'offline'), 'the session to be refused', 60_000);
      assert.match(offline.reason!, /does not accept anonymous users: set userName and password/);
    });
  });

  test('a wrong password is refused with a reason, and the device stays offline', async () => {
    await run({ ...secure, password: wrongPasswordFile }, async (sink, id) => {
      const offline = await waitFor(() => sink.states.find((s) => s.device === id && s.state === 'offline'), 'the session to be refused', 60_000);
      assert.match(offline.reason!, /refused the user identity operator/);
      assert.match(offline.reason!, /Bad(UserAccessDenied|IdentityTokenRejected|IdentityTokenInvalid)/);
      assert.equal(sink.readings.some((r) => r.quality === 'good'), false);
    });
  });

  test('the password never reaches the log', () => {
    assert.ok(log.length > 0, 'the driver logged');
    assert.ok(log.some((l) => l.includes('OPC UA session open') && l.includes('operator')), 'the session log names the user');
    assert.equal(log.filter((l) => l.includes(PASSWORD)).length, 0);
  });
});
