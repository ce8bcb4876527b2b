// External broker mode with TLS and a username/password: mosquitto with its own CA, a server
// certificate for 127.0.0.1 and a password file, all made by the test in a temp dir.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import mqtt from 'mqtt';
import { silentLogger } from '../core/log.ts';
import { MqttEventBus } from '../twin/eventbus.ts';
import { TwinStore } from '../twin/store.ts';
import { AppClient, device, property, startMosquitto, tempDir } from '../twin/testing.ts';
import { DeviceTwin } from '../twin/twin.ts';

function makeCerts(dir: string): void {
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '1', '-subj', '/CN=edgetwin-test-ca');
  ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1');
  writeFileSync(join(dir, 'ext.cnf'), 'subjectAltName=IP:127.0.0.1\n');
  ssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.crt', '-days', '1', '-extfile', 'ext.cnf');
  execFileSync('mosquitto_passwd', ['-b', '-c', join(dir, 'passwd'), 'gateway', 's3cret'], { stdio: 'ignore' });
}

it('connects to an external broker over TLS with a username and password', async () => {
  const certs = tempDir('edgetwin-tls-');
  makeCerts(certs.dir);
  const f = (n: string) => join(certs.dir, n);
  const broker = await startMosquitto(undefined, [
    `cafile ${f('ca.crt')}`, `certfile ${f('server.crt')}`, `keyfile ${f('server.key')}`,
    'allow_anonymous false', `password_file ${f('passwd')}`,
    // Run as root, mosquitto drops to user "mosquitto", which cannot read a private temp dir.
    `user ${userInfo().username}`,
  ].join('\n'));
  const url = broker.url.replace('mqtt://', 'mqtts://');
  const ca = readFileSync(f('ca.crt'), 'utf8');
  const tmp = tempDir();
  const store = TwinStore.open(tmp.dir);
  const twin = new DeviceTwin({ store, log: silentLogger, nodeName: 'edge-tls' });
  twin.setDevices([device('thermo', [property('t')])]);
  const bus = new MqttEventBus({ twin, url, username: 'gateway', password: 's3cret', tls: { ca }, nodeName: 'edge-tls', log: silentLogger });
  try {
    await bus.start();
    assert.equal(bus.connected, true);
    await assert.rejects(mqtt.connectAsync(url, { ca, reconnectPeriod: 0 }), /Not authorized|Bad username or password/i, 'anonymous clients are refused');
    const app = await AppClient.connect(url, undefined, { username: 'gateway', password: 's3cret', ca });
    app.publish('$hw/events/device/default/thermo/twin/get', { event_id: 'tls-1' });
    const r = await app.next('$hw/events/device/default/thermo/twin/get/result', (j) => j.event_id === 'tls-1');
    assert.deepEqual(r.twin.t.metadata, { type: 'int' });
    await app.close();
  } finally {
    await bus.stop();
    await twin.close();
    store.close();
    await broker.stop();
    tmp.remove();
    certs.remove();
  }
});
