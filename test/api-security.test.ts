// The local API under hostile clients, against real `edgetwin run` processes (issue 9, defects 2
// and 5): cross-site requests and DNS rebinding refused, 405 with Allow, an exposed API that
// will not start without credentials, bearer tokens, TLS client certificates, malformed URLs,
// oversized values, and credentials in an MQTT URL that never come back out.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { chmodSync, cpSync, existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { freePort, waitFor } from '../core/testing.ts';
import { cli, ROOT, startGatewayProcess, type GatewayProcess } from './helpers/gateway-process.ts';

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  json: { code?: string; message?: string; [k: string]: unknown };
}

/** One raw request: the test decides every header, Host included (fetch would not let it). */
function call(
  url: string,
  method: string,
  path: string,
  opts: { headers?: Record<string, string>; body?: string; tls?: { ca?: string; cert?: string; key?: string } } = {},
): Promise<Answer> {
  const u = new URL(path, url);
  return new Promise((resolve, reject) => {
    const req = (u.protocol === 'https:' ? httpsRequest : httpRequest)(
      { host: u.hostname, port: u.port, path, method, headers: opts.headers ?? {}, ...(opts.tls ?? {}) },
      (res) => {
        let text = '';
        res.on('data', (d) => (text += d));
        res.on('end', () => {
          let json = {};
          try {
            json = JSON.parse(text);
          } catch {
            // /metrics is text; the test reads .text then.
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
        });
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** The SHA-256 fingerprint of the certificate a TLS server presents (no trust asked: the test compares it). */
function peerFingerprint(url: string): Promise<string> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: u.hostname, port: Number(u.port), rejectUnauthorized: false }, () => {
      const fp = socket.getPeerCertificate().fingerprint256;
      socket.end();
      resolve(fp);
    });
    socket.on('error', reject);
  });
}

const quickstart = () => {
  const dir = mkdtempSync(join(tmpdir(), 'edgetwin-apisec-'));
  cpSync(join(ROOT, 'examples', 'quickstart', 'packaging-line.yaml'), join(dir, 'packaging-line.yaml'));
  return dir;
};
const JSON_TYPE = { 'content-type': 'application/json' };
const STOP = '/api/v1/devices/default/packaging-line/methods/stop';
const STOP_BODY = '{"values":{"running":"false","speed":"0"}}';

describe('local API on loopback (the default): cross-site, rebinding, methods, bad input', () => {
  let gw: GatewayProcess;
  let host: string;
  before(async () => {
    gw = await startGatewayProcess({ devices: [quickstart()] });
    host = new URL(gw.apiUrl).host;
  });
  after(async () => {
    await gw?.stop();
  });

  const running = async () => {
    const t = await call(gw.apiUrl, 'GET', '/api/v1/devices/default/packaging-line/twin');
    const p = (t.json.properties as Record<string, { desired?: { value: unknown }; reported?: { value?: unknown } }>).running!;
    return p;
  };

  it('refuses the cross-site POST of the issue with 403, and the line keeps running', async () => {
    await waitFor('the line reported running', async () => (await running()).reported?.value === true);
    const r = await call(gw.apiUrl, 'POST', STOP, { headers: { origin: 'http://evil.example', 'content-type': 'text/plain' }, body: STOP_BODY });
    assert.equal(r.status, 403, r.text);
    assert.equal(r.json.code, 'ET_FORBIDDEN_ORIGIN');
    assert.match(r.json.message!, /evil\.example/);
    // Each guard holds on its own: a foreign Origin with JSON, and our own Origin with text/plain.
    const jsonFromEvil = await call(gw.apiUrl, 'POST', STOP, { headers: { origin: 'http://evil.example', ...JSON_TYPE }, body: STOP_BODY });
    assert.equal(jsonFromEvil.status, 403);
    const plainFromUs = await call(gw.apiUrl, 'POST', STOP, { headers: { origin: `http://${host}`, 'content-type': 'text/plain' }, body: STOP_BODY });
    assert.equal(plainFromUs.status, 403);
    assert.equal(plainFromUs.json.code, 'ET_FORBIDDEN_CONTENT_TYPE');
    const noType = await call(gw.apiUrl, 'PUT', '/api/v1/devices/default/packaging-line/twin/desired/speed', { body: '{"value":"10"}' });
    assert.equal(noType.status, 403, 'a write without a content type is refused too');
    const p = await running();
    assert.equal(p.desired, undefined, 'no desired value was set by a refused request');
    assert.equal(p.reported?.value, true);
    // The same request from the API's own page, as JSON, is served: the guard refuses only strangers.
    const ours = await call(gw.apiUrl, 'POST', STOP, { headers: { origin: `http://${host}`, ...JSON_TYPE }, body: STOP_BODY });
    assert.equal(ours.status, 200, ours.text);
    assert.equal((await running()).desired?.value, false);
  });

  it('refuses a Host that is not ours (DNS rebinding) and takes the loopback names', async () => {
    const port = new URL(gw.apiUrl).port;
    for (const h of ['evil.example', `evil.example:${port}`, `127.0.0.1:1`]) {
      const r = await call(gw.apiUrl, 'GET', '/api/v1/devices', { headers: { host: h } });
      assert.equal(r.status, 403, `Host ${h}: ${r.text}`);
      assert.equal(r.json.code, 'ET_FORBIDDEN_HOST');
      assert.match(r.json.message!, /api\.allowedHosts/);
    }
    const rebound = await call(gw.apiUrl, 'POST', STOP, { headers: { host: `attacker.example:${port}`, origin: `http://attacker.example:${port}`, ...JSON_TYPE }, body: STOP_BODY });
    assert.equal(rebound.status, 403, 'a rebound page posting JSON to its own origin is still refused by Host');
    for (const h of [`localhost:${port}`, `127.0.0.1:${port}`, `LOCALHOST:${port}`]) {
      assert.equal((await call(gw.apiUrl, 'GET', '/api/v1/devices', { headers: { host: h } })).status, 200, `Host ${h}`);
    }
  });

  it('answers 405 with Allow for a known path asked with the wrong method', async () => {
    const twin = await call(gw.apiUrl, 'DELETE', '/api/v1/devices/default/packaging-line/twin', { headers: JSON_TYPE });
    assert.equal(twin.status, 405);
    assert.equal(twin.headers.allow, 'GET');
    const desired = await call(gw.apiUrl, 'GET', '/api/v1/devices/default/packaging-line/twin/desired/speed');
    assert.equal(desired.status, 405);
    assert.equal(desired.headers.allow, 'PUT');
    const health = await call(gw.apiUrl, 'POST', '/healthz', { headers: JSON_TYPE, body: '{}' });
    assert.equal(health.status, 405);
    assert.equal(health.headers.allow, 'GET');
    assert.equal((await call(gw.apiUrl, 'GET', '/api/v1/nothing')).status, 404);
  });

  it('answers a malformed percent-encoding with 400 and a message, not a 500 and a stack', async () => {
    for (const path of ['/api/v1/devices/default/packaging%ZZline/twin', '/api/v1/devices/default/%E0%A4%A/twin']) {
      const r = await call(gw.apiUrl, 'GET', path);
      assert.equal(r.status, 400, `${path}: ${r.text}`);
      assert.equal(r.json.code, 'ET_BAD_REQUEST');
      assert.match(r.json.message!, /percent-encoding/);
    }
    assert.doesNotMatch(gw.log(), /"level":50/, 'no error-level line for a client mistake');
    assert.doesNotMatch(gw.log(), /URIError/);
  });

  it('refuses a 60,000-byte value as MQTT does (KubeEdge 512-byte limit), and a 129-byte property name', async () => {
    const big = 'x'.repeat(60_000);
    const put = await call(gw.apiUrl, 'PUT', '/api/v1/devices/default/packaging-line/twin/desired/batch', { headers: JSON_TYPE, body: JSON.stringify({ value: big }) });
    assert.equal(put.status, 400, put.text.slice(0, 200));
    assert.match(put.json.message!, /longer than 512 bytes/);
    const method = await call(gw.apiUrl, 'POST', STOP, { headers: JSON_TYPE, body: JSON.stringify({ values: { running: 'x'.repeat(513) } }) });
    assert.equal(method.status, 400);
    const key = await call(gw.apiUrl, 'PUT', `/api/v1/devices/default/packaging-line/twin/desired/${'k'.repeat(129)}`, { headers: JSON_TYPE, body: '{"value":"1"}' });
    assert.equal(key.status, 400);
    assert.match(key.json.message!, /longer than 128 bytes/);
    const t = await call(gw.apiUrl, 'GET', '/api/v1/devices/default/packaging-line/twin');
    const batch = (t.json.properties as Record<string, { desired?: { value: string } }>).batch!;
    assert.notEqual(batch.desired?.value, big, 'the oversized value was not stored');
    const ok = await call(gw.apiUrl, 'PUT', '/api/v1/devices/default/packaging-line/twin/desired/batch', { headers: JSON_TYPE, body: JSON.stringify({ value: 'b'.repeat(512) }) });
    assert.equal(ok.status, 200, 'exactly 512 bytes is within the limit');
  });
});

describe('local API beyond loopback', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'edgetwin-apisec-expose-'));
  });

  it('refuses to start on 0.0.0.0 without a token or client certificates, naming the setting, before touching anything', async () => {
    const dataDir = join(dir, 'never-created');
    const [mqttPort, apiPort] = [await freePort(), await freePort()];
    const r = await cli(['run', '--devices', quickstart(), '--data-dir', dataDir, '--mqtt-port', String(mqttPort), '--api-port', String(apiPort), '--api-host', '0.0.0.0', '--no-live']);
    assert.equal(r.code, 2, r.stderr);
    const out = r.stdout + r.stderr;
    assert.match(out, /the local API listens on 0\.0\.0\.0, beyond loopback.*\(api\.host\)/);
    assert.match(out, /api\.tokenFile/);
    assert.match(out, /--api-token-file/);
    assert.doesNotMatch(out, /\n\s+at /, 'no stack trace');
    assert.equal(existsSync(dataDir), false, 'the data directory was not created: nothing started');
  });

  it('refuses a token file that is too short, naming the file and how to make one', async () => {
    const weak = join(dir, 'weak-token');
    writeFileSync(weak, 'abc\n', { mode: 0o600 });
    const r = await cli(['run', '--devices', quickstart(), '--data-dir', join(dir, 'd2'), '--api-port', String(await freePort()), '--mqtt-port', String(await freePort()), '--api-token-file', weak, '--no-live']);
    assert.equal(r.code, 2);
    assert.match(r.stdout + r.stderr, /the API token must be one line of at least 16 characters[^]*weak-token[^]*openssl rand -hex 32/);
  });

  describe('with a bearer token on 0.0.0.0 (HTTPS with a self-signed certificate)', () => {
    let gw: GatewayProcess;
    let tokenFile: string;
    let certFile: string;
    const token = 'f3b1c0de5a17e4d2c9b8a7f6e5d4c3b2';
    const dataDir = join(mkdtempSync(join(tmpdir(), 'edgetwin-apisec-tls-')), 'data');
    /** TLS options that trust the gateway's own certificate, as `curl --cacert {dataDir}/tls/api.crt` does. */
    const trust = () => ({ ca: readFileSync(certFile, 'utf8') });
    const start = async (apiPort?: number) =>
      startGatewayProcess({
        devices: [quickstart()],
        dataDir,
        apiPort,
        extra: ['--api-host', '0.0.0.0', '--api-token-file', tokenFile],
        apiScheme: 'https',
        // The certificate exists once the API listens; until then the check has nothing to trust.
        ready: async (url) => existsSync(certFile) && (await call(url, 'GET', '/healthz', { tls: trust() })).status === 200,
      });
    before(async () => {
      tokenFile = join(dir, 'api-token');
      certFile = join(dataDir, 'tls', 'api.crt');
      writeFileSync(tokenFile, token + '\n');
      chmodSync(tokenFile, 0o600);
      gw = await start();
    });
    after(async () => {
      await gw?.stop();
    });

    it('answers 401 with WWW-Authenticate without the token or with a wrong one, 200 with it', async () => {
      const none = await call(gw.apiUrl, 'GET', '/api/v1/devices', { tls: trust() });
      assert.equal(none.status, 401);
      assert.match(String(none.headers['www-authenticate']), /^Bearer realm="edgetwin"/);
      assert.equal(none.json.code, 'ET_UNAUTHORIZED');
      const wrong = await call(gw.apiUrl, 'GET', '/api/v1/devices', { headers: { authorization: `Bearer ${token.slice(0, -1)}0` }, tls: trust() });
      assert.equal(wrong.status, 401);
      assert.match(String(wrong.headers['www-authenticate']), /invalid_token/);
      const metrics = await call(gw.apiUrl, 'GET', '/metrics', { tls: trust() });
      assert.equal(metrics.status, 401, '/metrics needs the token too');
      const unknown = await call(gw.apiUrl, 'GET', '/api/v1/secret-route', { tls: trust() });
      assert.equal(unknown.status, 401, 'no route is revealed to a caller without the token');
      const ok = await call(gw.apiUrl, 'GET', '/api/v1/devices', { headers: { authorization: `Bearer ${token}` }, tls: trust() });
      assert.equal(ok.status, 200, ok.text);
      const m = await call(gw.apiUrl, 'GET', '/metrics', { headers: { authorization: `Bearer ${token}` }, tls: trust() });
      assert.match(m.text, /edgetwin_api_requests_total\{route="refused",status="401"\}/);
      assert.doesNotMatch(gw.log(), new RegExp(token), 'the token is never logged');
    });

    it('serves no plain HTTP, and a client that does not trust the certificate fails the handshake', async () => {
      await assert.rejects(call(gw.apiUrl.replace('https:', 'http:'), 'GET', '/healthz'), 'plain HTTP gets no answer');
      await assert.rejects(call(gw.apiUrl, 'GET', '/healthz'), /self[- ]signed|unable to verify/i);
      const plainCli = await cli(['devices', '--api-url', gw.apiUrl.replace('https:', 'http:'), '--api-token-file', tokenFile]);
      assert.equal(plainCli.code, 1);
      assert.match(plainCli.stderr, /serves only https: pass --api-url https:\/\/\.\.\. with --api-ca/);
    });

    it('logs where the certificate is and its fingerprint; keeps it 0600 in a 0700 directory', async () => {
      const fingerprint = new X509Certificate(readFileSync(certFile)).fingerprint256;
      assert.ok(gw.log().includes(certFile), 'the log names the certificate file');
      assert.ok(gw.log().includes(fingerprint), 'the log shows the SHA-256 fingerprint');
      assert.equal(statSync(join(dataDir, 'tls')).mode & 0o777, 0o700);
      assert.equal(statSync(join(dataDir, 'tls', 'api.key')).mode & 0o777, 0o600);
    });

    it('the CLI works with --api-ca {dataDir}/tls/api.crt and --api-token-file, and says what to pass without them', async () => {
      const flags = ['--api-url', gw.apiUrl, '--api-ca', certFile, '--api-token-file', tokenFile];
      const list = await cli(['devices', '--json', ...flags]);
      assert.equal(list.code, 0, list.stderr);
      assert.deepEqual((JSON.parse(list.stdout) as { devices: { device: string }[] }).devices.map((d) => d.device), ['default/packaging-line']);
      const set = await cli(['twin', 'set', 'default/packaging-line', 'speed=42', ...flags]);
      assert.equal(set.code, 0, set.stderr);
      const get = await cli(['twin', 'get', 'default/packaging-line', '--json', ...flags]);
      assert.equal((JSON.parse(get.stdout) as { properties: { speed: { desired: { value: unknown } } } }).properties.speed.desired.value, 42);
      const without = await cli(['devices', '--api-url', gw.apiUrl, '--api-ca', certFile]);
      assert.equal(without.code, 1);
      assert.match(without.stderr, /bearer token.*--api-token-file/);
      const noCa = await cli(['devices', '--api-url', gw.apiUrl, '--api-token-file', tokenFile]);
      assert.equal(noCa.code, 1);
      assert.match(noCa.stderr, /--api-ca/);
    });

    it('/healthz: full on loopback without the token; only the status from elsewhere, over HTTPS on the machine\'s address', async () => {
      const local = await call(gw.apiUrl, 'GET', '/healthz', { tls: trust() });
      assert.equal(local.status, 200);
      assert.equal(local.json.nodeName, 'test-node');
      const lan = Object.values(networkInterfaces()).flat().find((a) => a && a.family === 'IPv4' && !a.internal);
      if (!lan) return; // this machine has no address beyond loopback to call from
      const remoteUrl = `https://${lan.address}:${new URL(gw.apiUrl).port}`;
      // The certificate names the machine's addresses: it verifies for this one too.
      const remote = await call(remoteUrl, 'GET', '/healthz', { tls: trust() });
      assert.equal(remote.status, 200, remote.text);
      assert.deepEqual(Object.keys(remote.json), ['status']);
      const remoteDevices = await call(remoteUrl, 'GET', '/api/v1/devices', { headers: { authorization: `Bearer ${token}` }, tls: trust() });
      assert.equal(remoteDevices.status, 200, 'the bind address answers with the token (its own address is an allowed Host)');
      await assert.rejects(call(`http://${lan.address}:${new URL(gw.apiUrl).port}`, 'GET', '/healthz'), 'no plain HTTP from the network either');
    });

    it('serves the same certificate after a restart (the same fingerprint)', async () => {
      const before = new X509Certificate(readFileSync(certFile)).fingerprint256;
      const served = async () => (await peerFingerprint(gw.apiUrl));
      assert.equal(await served(), before);
      const port = Number(new URL(gw.apiUrl).port);
      await gw.stop();
      gw = await start(port);
      assert.equal(await served(), before, 'the restarted gateway serves the certificate it made the first time');
      assert.equal(new X509Certificate(readFileSync(certFile)).fingerprint256, before);
    });
  });

  describe('with TLS client certificates', () => {
    let gw: GatewayProcess;
    let pki: Record<'ca' | 'cert' | 'key' | 'otherCert' | 'otherKey', string>;
    const openssl = (args: string[]) => {
      const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
      assert.equal(r.status, 0, `openssl ${args.join(' ')}: ${r.stderr}`);
    };
    /** A CA, a server certificate for 127.0.0.1, a client certificate from the CA and one from a stranger. */
    const makePki = () => {
      openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=edgetwin test CA']);
      writeFileSync(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
      openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1']);
      openssl(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', 'server.ext']);
      openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'client.key', '-out', 'client.csr', '-subj', '/CN=operator']);
      openssl(['x509', '-req', '-in', 'client.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'client.pem', '-days', '2']);
      openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'other.key', '-out', 'other.pem', '-days', '2', '-subj', '/CN=stranger']);
      const f = (n: string) => join(dir, n);
      return { ca: f('ca.pem'), cert: f('client.pem'), key: f('client.key'), otherCert: f('other.pem'), otherKey: f('other.key') };
    };
    const tlsOf = (cert: string, key: string) => ({ ca: readFileSync(pki.ca, 'utf8'), cert: readFileSync(cert, 'utf8'), key: readFileSync(key, 'utf8') });

    before(async () => {
      pki = makePki();
      // On 0.0.0.0 with client certificates and no token: certificates alone are enough to start.
      const config = join(dir, 'gw.yaml');
      writeFileSync(config, 'api:\n  host: 0.0.0.0\n  tls:\n    cert: server.pem\n    key: server.key\n    clientCa: ca.pem\n');
      gw = await startGatewayProcess({
        devices: [quickstart()],
        extra: ['--config', config],
        apiScheme: 'https',
        ready: async (url) => (await call(url, 'GET', '/healthz', { tls: tlsOf(pki.cert, pki.key) })).status === 200,
      });
    });
    after(async () => {
      await gw?.stop();
    });

    it('serves a client with a certificate from the CA and refuses one without or with a stranger\'s', async () => {
      const ok = await call(gw.apiUrl, 'GET', '/api/v1/devices', { tls: tlsOf(pki.cert, pki.key) });
      assert.equal(ok.status, 200, ok.text);
      await assert.rejects(call(gw.apiUrl, 'GET', '/api/v1/devices', { tls: { ca: readFileSync(pki.ca, 'utf8') } }), 'no client certificate: the handshake fails');
      await assert.rejects(call(gw.apiUrl, 'GET', '/api/v1/devices', { tls: tlsOf(pki.otherCert, pki.otherKey) }), 'a certificate from another CA: the handshake fails');
      const cross = await call(gw.apiUrl, 'POST', STOP, { tls: tlsOf(pki.cert, pki.key), headers: { origin: 'https://evil.example', ...JSON_TYPE }, body: STOP_BODY });
      assert.equal(cross.status, 403, 'a certificate does not excuse a foreign Origin');
    });

    it('the CLI talks https with --api-ca, --api-cert and --api-key, and names --api-ca when the CA is unknown', async () => {
      const flags = ['--api-url', gw.apiUrl, '--api-ca', pki.ca, '--api-cert', pki.cert, '--api-key', pki.key];
      const set = await cli(['twin', 'set', 'default/packaging-line', 'speed=33', ...flags]);
      assert.equal(set.code, 0, set.stderr);
      const get = await cli(['twin', 'get', 'default/packaging-line', '--json', ...flags]);
      assert.equal(get.code, 0, get.stderr);
      assert.equal((JSON.parse(get.stdout) as { properties: { speed: { desired: { value: unknown } } } }).properties.speed.desired.value, 33);
      const noCa = await cli(['devices', '--api-url', gw.apiUrl, '--api-cert', pki.cert, '--api-key', pki.key]);
      assert.equal(noCa.code, 1);
      assert.match(noCa.stderr, /--api-ca/);
    });
  });
});

describe('credentials in the MQTT URL (defect 5)', () => {
  let mosquitto: ChildProcess | undefined;
  let gw: GatewayProcess;
  const password = 'pw-Sup3rSecret-77';
  let brokerPort: number;

  const startMosquitto = async () => {
    const conf = join(mkdtempSync(join(tmpdir(), 'edgetwin-mosq-')), 'mosquitto.conf');
    writeFileSync(conf, `listener ${brokerPort} 127.0.0.1\nallow_anonymous true\n`);
    const child = spawn('/usr/sbin/mosquitto', ['-c', conf], { stdio: 'ignore' });
    await waitFor('mosquitto to listen', async () => {
      const r = spawnSync('/usr/bin/mosquitto_pub', ['-p', String(brokerPort), '-t', 'probe', '-m', 'x'], { timeout: 5000 });
      return r.status === 0;
    }, 20_000, 100);
    return child;
  };

  before(async () => {
    brokerPort = await freePort();
    mosquitto = await startMosquitto();
    gw = await startGatewayProcess({ devices: [quickstart()], extra: ['--mqtt-url', `mqtt://operator:${password}@127.0.0.1:${brokerPort}`] });
  });
  after(async () => {
    await gw?.stop();
    mosquitto?.kill();
  });

  it('connects, warns once recommending mqtt.passwordFile, and never shows the password in the log, /healthz or /metrics', async () => {
    await waitFor('the bus connected', () => /connected to the MQTT broker/.test(gw.log()), 20_000, 100);
    const health = await call(gw.apiUrl, 'GET', '/healthz');
    assert.equal(health.status, 200);
    assert.ok(!health.text.includes(password), health.text);
    assert.match(health.text, /operator:\*\*\*@127\.0\.0\.1/);
    const metrics = await call(gw.apiUrl, 'GET', '/metrics');
    assert.equal(metrics.status, 200);
    assert.ok(!metrics.text.includes(password));
    // The broker goes away: the reconnect warnings and errors quote the URL too.
    mosquitto!.kill();
    await waitFor('the bus noticed the broker is gone', () => /lost the MQTT broker/.test(gw.log()), 30_000, 100);
    const log = gw.log();
    assert.ok(!log.includes(password), 'the password is absent from every log line');
    assert.match(log, /mqtt\.passwordFile/);
    assert.equal(log.match(/carries a password/g)?.length, 1, 'one warning, not one per reconnect');
    assert.match(log, /operator:\*\*\*@127\.0\.0\.1/);
  });
});
