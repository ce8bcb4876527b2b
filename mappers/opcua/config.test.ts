// OPC UA configuration checks as a user meets them at load: KubeEdge spellings accepted, deprecated
// policies refused with the reason, inconsistent security and identity fields named.

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../core/log.ts';
import { MapperHost } from '../sdk/index.ts';
import { makeDevice, RecordingSink } from '../sdk/testing.ts';
import { opcuaLoader } from './index.ts';

const dir = mkdtempSync(join(tmpdir(), 'edgetwin-opcua-config-'));
const passwordFile = join(dir, 'password');
writeFileSync(passwordFile, 'secret\n');
after(() => rmSync(dir, { recursive: true, force: true }));

async function check(config: Record<string, unknown>, visitor: Record<string, unknown> = { nodeID: 'ns=2;s=Line1.Temperature' }): Promise<string[]> {
  const host = new MapperHost({ sink: new RecordingSink(), drivers: [opcuaLoader], log: silentLogger, dataDir: dir });
  try {
    const d = makeDevice({ name: 'plc', protocol: 'opcua', config, properties: [{ name: 'temperature', type: 'double', visitor }] });
    const { errors } = await host.check([d]);
    return errors.map((e) => e.format());
  } finally {
    await host.close();
  }
}

const url = 'opc.tcp://plc.local:4840';

test('KubeEdge and OPC UA spellings of the supported policies are accepted', async () => {
  for (const securityPolicy of ['None', 'Basic256Sha256', 'Aes128_Sha256_RsaOaep', 'Aes128Sha256RsaOaep', 'Aes256_Sha256_RsaPss', 'Aes256Sha256RsaPss']) {
    const mode = securityPolicy === 'None' ? {} : { securityMode: 'Sign' };
    assert.deepEqual(await check({ url, securityPolicy, ...mode, userName: 'operator', password: passwordFile, timeout: 3 }), [], securityPolicy);
  }
});

test('Basic128Rsa15 and Basic256 are refused as deprecated', async () => {
  for (const securityPolicy of ['Basic128Rsa15', 'Basic256']) {
    const [error, ...rest] = await check({ url, securityPolicy, securityMode: 'SignAndEncrypt' });
    assert.equal(rest.length, 0);
    assert.match(error!, /securityPolicy/);
    assert.match(error!, new RegExp(`${securityPolicy} is deprecated`));
  }
});

test('inconsistent security and identity fields are named', async () => {
  assert.match((await check({ url, securityMode: 'Sign' })).join('\n'), /securityMode: securityMode Sign needs a securityPolicy/);
  assert.match((await check({ url, securityPolicy: 'Basic256Sha256', securityMode: 'None' })).join('\n'), /securityMode/);
  assert.match((await check({ url, userName: 'operator' })).join('\n'), /password: .*path to a file/);
  assert.match((await check({ url, userName: 'operator', password: join(dir, 'absent') })).join('\n'), /password names the file .*absent, which does not exist/);
  assert.match((await check({ url, certificate: passwordFile })).join('\n'), /privateKey/);
  assert.match((await check({ url: 'http://plc.local' })).join('\n'), /url/);
  assert.match((await check({ url, securityMode: 'Encrypt' })).join('\n'), /securityMode: "Encrypt" is not one of None, Sign, SignAndEncrypt/);
});

test('a relative password path is relative to the YAML file that declares the device', async () => {
  const host = new MapperHost({ sink: new RecordingSink(), drivers: [opcuaLoader], log: silentLogger, dataDir: dir });
  try {
    const d = (file: string) => makeDevice({ name: 'plc', protocol: 'opcua', file, config: { url, userName: 'operator', password: 'password' }, properties: [{ name: 't', type: 'double', visitor: { nodeID: 'i=2258' } }] });
    assert.deepEqual((await host.check([d(join(dir, 'devices.yaml'))])).errors.map((e) => e.format()), []);
    const elsewhere = (await host.check([d(join(dir, 'sub', 'devices.yaml'))])).errors.map((e) => e.format()).join('\n');
    assert.match(elsewhere, new RegExp(`password names the file ${join(dir, 'sub', 'password')}, which does not exist`));
  } finally {
    await host.close();
  }
});

test('visitors: standard nodeID notation or a browse path', async () => {
  for (const nodeID of ['ns=2;s=Line1.Temperature', 'ns=3;i=1001', 'i=2258', 'nsu=urn:plant:line;s=Speed', 'ns=1;g=09087e75-8e5e-499b-954f-f2a9603db28a']) {
    assert.deepEqual(await check({ url }, { nodeID, samplingInterval: 250, queueSize: 5 }), [], nodeID);
  }
  assert.deepEqual(await check({ url }, { browsePath: '/Objects/2:Line/2:Temperature' }), []);
  assert.deepEqual(await check({ url }, { browseName: 'Temperature' }), []);
  const bad = (await check({ url }, { nodeID: 'Line1.Temperature' })).join('\n');
  assert.match(bad, /temperature/);
  assert.match(bad, /nodeID "Line1.Temperature" is not in standard notation/);
  assert.match((await check({ url }, {})).join('\n'), /nodeID/);
  assert.match((await check({ url }, { nodeID: 'i=1', queueSize: 0 })).join('\n'), /queueSize/);
});
