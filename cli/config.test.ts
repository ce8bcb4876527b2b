// Gateway settings: flag > file > default, paths relative to the config file, and a bad file
// stops the start with the file, line and key named.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { EdgetwinError } from '../core/errors.ts';
import { readPassword, resolveConfig } from './config.ts';

const dir = mkdtempSync(join(tmpdir(), 'edgetwin-config-'));
const file = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};

describe('gateway configuration', () => {
  it('uses the defaults of design.md with no file and no flags', () => {
    const c = resolveConfig({});
    assert.equal(c.mqtt.port, 1883);
    assert.equal(c.mqtt.url, undefined);
    assert.equal(c.api.port, 7180);
    assert.equal(c.api.host, '127.0.0.1');
    assert.equal(c.dataDir, resolve('./edgetwin-data'));
    assert.equal(c.nodeName, hostname());
  });

  it('takes the file over the defaults and flags over the file; file paths are relative to the file', () => {
    const config = file('gw.yaml', 'devices: [devices]\ndataDir: data\nnodeName: line-3\nmqtt:\n  port: 11883\n  username: gw\n  passwordFile: secret\n  tls: { ca: ca.pem }\napi:\n  port: 17000\n');
    const fromFile = resolveConfig({ config });
    assert.deepEqual(fromFile.devices, [join(dir, 'devices')]);
    assert.equal(fromFile.dataDir, join(dir, 'data'));
    assert.equal(fromFile.nodeName, 'line-3');
    assert.equal(fromFile.mqtt.port, 11883);
    assert.equal(fromFile.mqtt.passwordFile, join(dir, 'secret'));
    assert.equal(fromFile.mqtt.tls?.ca, join(dir, 'ca.pem'));
    assert.equal(fromFile.api.port, 17000);
    const flagged = resolveConfig({ config, nodeName: 'cli-node', apiPort: 18000, mqttUrl: 'mqtt://10.0.0.1:1883', devices: ['x.yaml'] });
    assert.equal(flagged.nodeName, 'cli-node');
    assert.equal(flagged.api.port, 18000);
    assert.equal(flagged.mqtt.url, 'mqtt://10.0.0.1:1883');
    assert.deepEqual(flagged.devices, ['x.yaml']);
  });

  it('a --mqtt-port flag means the embedded broker even when the file names an external one', () => {
    const config = file('ext.yaml', 'mqtt:\n  url: mqtt://broker:1883\n');
    assert.equal(resolveConfig({ config }).mqtt.url, 'mqtt://broker:1883');
    assert.equal(resolveConfig({ config, mqttPort: 1999 }).mqtt.url, undefined);
  });

  it('names the file, line and key of an unknown key or a wrong type', () => {
    const bad = file('bad.yaml', 'nodeName: gw\nmqtt:\n  port: "high"\n');
    assert.throws(() => resolveConfig({ config: bad }), (e: EdgetwinError) => {
      assert.match(e.format(), /bad\.yaml:3: mqtt\.port: must be integer/);
      return true;
    });
    const unknown = file('unknown.yaml', 'nodeName: gw\napi:\n  prot: 1\n');
    assert.throws(() => resolveConfig({ config: unknown }), (e: EdgetwinError) => {
      assert.match(e.format(), /unknown\.yaml:\d+: api: must NOT have additional properties "prot"/);
      return true;
    });
    assert.throws(() => resolveConfig({ config: join(dir, 'missing.yaml') }), /cannot read config file/);
  });

  it('reads the broker password from its file without the trailing newline', () => {
    assert.equal(readPassword(file('pw', 's3cret\n')), 's3cret');
    assert.throws(() => readPassword(join(dir, 'nope')), /cannot read mqtt.passwordFile/);
  });

  it('the cloud link: --cloud or cloud.url, KubeEdge-shaped defaults, seconds in the file, a bad URL named', () => {
    assert.equal(resolveConfig({}).cloud, undefined, 'no cloud: a standalone gateway');
    const d = resolveConfig({ cloud: 'wss://cloud.example:10000' }).cloud!;
    assert.deepEqual(d, {
      url: 'wss://cloud.example:10000', projectId: 'e632aba927ea4ac2b575ec1603d56f10', qps: 100, burst: 200, heartbeatMs: 15_000,
      resendMs: 30_000, reconnect: { firstMs: 1000, maxMs: 30_000 }, serviceBus: { allowedPorts: [] },
    });
    const config = file('cloud.yaml', 'cloud:\n  url: wss://10.0.0.5:10000\n  qps: 30\n  burst: 60\n  heartbeat: 0.5\n  reconnect: { first: 0.1, max: 2 }\n  serviceBus: { allowedPorts: [8080] }\n');
    const c = resolveConfig({ config });
    assert.equal(c.cloud?.url, 'wss://10.0.0.5:10000');
    assert.equal(c.cloud?.heartbeatMs, 500);
    assert.deepEqual(c.cloud?.reconnect, { firstMs: 100, maxMs: 2000 });
    assert.deepEqual(c.cloud?.serviceBus.allowedPorts, [8080]);
    assert.equal(c.nodeNameGiven, false);
    assert.equal(resolveConfig({ config, cloud: 'wss://other:10000' }).cloud?.url, 'wss://other:10000', 'the flag wins');
    assert.throws(() => resolveConfig({ cloud: 'http://cloud:10000' }), (e: EdgetwinError) => /not a wss:\/\/ URL/.test(e.message) && e.where.path === 'cloud.url');
    assert.throws(() => resolveConfig({ config: file('bad-cloud.yaml', 'cloud:\n  heartbeat: -1\n') }), (e: EdgetwinError) => e.where.path === 'cloud.heartbeat');
  });
});
