// Gateway settings: flag > file > default, paths relative to the config file, and a bad file
// stops the start with the file, line and key named.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { EdgetwinError } from '../core/errors.ts';
import { closest, readPassword, resolveConfig } from './config.ts';

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

  it('turns edged on with --cloud (or cloud.url) unless the file says edged.enabled: false; cloud.node.* are seconds', () => {
    assert.equal(resolveConfig({}).edged.enabled, false);
    const linked = resolveConfig({ cloud: 'wss://cloud.example:10000' });
    assert.equal(linked.edged.enabled, true);
    assert.deepEqual(linked.cloud?.node, { statusMs: 10_000, reportMs: 300_000, leaseMs: 10_000 });
    const off = resolveConfig({ cloud: 'wss://cloud.example:10000', config: file('edged-off.yaml', 'edged:\n  enabled: false\ncloud:\n  node: { statusUpdate: 2, statusReport: 60, lease: 0.5 }\n') });
    assert.equal(off.edged.enabled, false);
    assert.deepEqual(off.cloud?.node, { statusMs: 2_000, reportMs: 60_000, leaseMs: 500 });
    assert.equal(resolveConfig({ config: file('cloud-url.yaml', 'cloud:\n  url: wss://c.example:10000\n') }).edged.enabled, true);
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
      assert.match(e.format(), /bad\.yaml:3: mqtt\.port: expected a whole number, got "high" \(see mqtt\.port in docs\/configuration\.md\)/);
      return true;
    });
    const unknown = file('unknown.yaml', 'nodeName: gw\napi:\n  prot: 1\n');
    assert.throws(() => resolveConfig({ config: unknown }), (e: EdgetwinError) => {
      assert.match(e.format(), /unknown\.yaml:3: unknown config key "api\.prot" \(did you mean "api\.port"\?/);
      return true;
    });
    assert.throws(() => resolveConfig({ config: join(dir, 'missing.yaml') }), /the config file does not exist/);
  });

  it('suggests the closest known key only when it is near', () => {
    const known = ['api.port', 'api.host', 'mqtt.port', 'mqtt.url', 'dataDir'];
    assert.equal(closest('api.prot', known), 'api.port');
    assert.equal(closest('datadir', known), 'dataDir');
    assert.equal(closest('mqtt.hots', known), 'mqtt.port');
    assert.equal(closest('completely.different', known), undefined);
  });

  it('refuses a flag value it cannot use, naming the flag, and a devices path that does not exist only when asked', () => {
    const flagOf = (fn: () => unknown) => {
      try {
        fn();
      } catch (e) {
        assert.ok(e instanceof EdgetwinError, String(e));
        assert.ok(e.hint, 'a hint');
        return e.where.flag;
      }
      assert.fail('expected an error');
    };
    assert.equal(flagOf(() => resolveConfig({ logLevel: 'loud' })), '--log-level');
    assert.equal(flagOf(() => resolveConfig({ mqttUrl: 'foo://bar' })), '--mqtt-url');
    assert.equal(flagOf(() => resolveConfig({ mqttUrl: 'http://broker:1883' })), '--mqtt-url');
    assert.equal(flagOf(() => resolveConfig({ devices: [join(dir, 'none')] }, { requireDevicePaths: true })), '--devices');
    for (const url of ['mqtt://h:1883', 'mqtts://h', 'tcp://h:1', 'ssl://h', 'ws://h/mqtt', 'wss://h/mqtt']) assert.equal(resolveConfig({ mqttUrl: url }).mqtt.url, url);
    const saved = process.env.EDGETWIN_LOG_LEVEL;
    process.env.EDGETWIN_LOG_LEVEL = 'chatty';
    try {
      assert.equal(flagOf(() => resolveConfig({})), 'environment variable EDGETWIN_LOG_LEVEL');
    } finally {
      if (saved === undefined) delete process.env.EDGETWIN_LOG_LEVEL;
      else process.env.EDGETWIN_LOG_LEVEL = saved;
    }
  });

  it('reads the broker password from its file without the trailing newline', () => {
    assert.equal(readPassword(file('pw', 's3cret\n')), 's3cret');
    assert.throws(() => readPassword(join(dir, 'nope')), /cannot read mqtt.passwordFile/);
  });

  it('reads the api block: host, token file, TLS files relative to the file, allowed hosts; flags win', () => {
    const config = file('api.yaml', 'api:\n  host: 0.0.0.0\n  tokenFile: secrets/token\n  allowedHosts: [gw.plant.example]\n  tls: { cert: tls/api.pem, key: tls/api.key, clientCa: tls/ca.pem }\n');
    const c = resolveConfig({ config });
    assert.equal(c.api.host, '0.0.0.0');
    assert.equal(c.api.tokenFile, join(dir, 'secrets/token'));
    assert.deepEqual(c.api.allowedHosts, ['gw.plant.example']);
    assert.deepEqual(c.api.tls, { cert: join(dir, 'tls/api.pem'), key: join(dir, 'tls/api.key'), clientCa: join(dir, 'tls/ca.pem') });
    const flagged = resolveConfig({ config, apiHost: '127.0.0.1', apiTokenFile: 'other-token' });
    assert.equal(flagged.api.host, '127.0.0.1');
    assert.equal(flagged.api.tokenFile, resolve('other-token'));
    const bad = file('api-bad.yaml', 'api:\n  tls:\n    ca: x.pem\n');
    assert.throws(() => resolveConfig({ config: bad }), (e: EdgetwinError) => /api-bad\.yaml:\d+/.test(e.format()) && /unknown config key "api\.tls\.ca"/.test(e.format()));
  });

  it('the cloud link: --cloud or cloud.url, KubeEdge-shaped defaults, seconds in the file, a bad URL named', () => {
    assert.equal(resolveConfig({}).cloud, undefined, 'no cloud: a standalone gateway');
    const d = resolveConfig({ cloud: 'wss://cloud.example:10000' }).cloud!;
    assert.deepEqual(d, {
      url: 'wss://cloud.example:10000', projectId: 'e632aba927ea4ac2b575ec1603d56f10', qps: 100, burst: 200, heartbeatMs: 15_000,
      resendMs: 30_000, reconnect: { firstMs: 1000, maxMs: 30_000 }, serviceBus: { allowedPorts: [] },
      node: { statusMs: 10_000, reportMs: 300_000, leaseMs: 10_000 },
    });
    const config = file('cloud.yaml', 'cloud:\n  url: wss://10.0.0.5:10000\n  qps: 30\n  burst: 60\n  heartbeat: 0.5\n  reconnect: { first: 0.1, max: 2 }\n  serviceBus: { allowedPorts: [8080] }\n');
    const c = resolveConfig({ config });
    assert.equal(c.cloud?.url, 'wss://10.0.0.5:10000');
    assert.equal(c.cloud?.heartbeatMs, 500);
    assert.deepEqual(c.cloud?.reconnect, { firstMs: 100, maxMs: 2000 });
    assert.deepEqual(c.cloud?.serviceBus.allowedPorts, [8080]);
    assert.equal(c.nodeNameGiven, false);
    assert.equal(resolveConfig({ config, cloud: 'wss://other:10000' }).cloud?.url, 'wss://other:10000', 'the flag wins');
    assert.throws(() => resolveConfig({ cloud: 'http://cloud:10000' }), (e: EdgetwinError) => /not a wss:\/\/ URL/.test(e.message) && e.where.flag === '--cloud');
    assert.throws(() => resolveConfig({ config: file('bad-cloud.yaml', 'cloud:\n  heartbeat: -1\n') }), (e: EdgetwinError) => /bad-cloud\.yaml:2/.test(e.format()) && /cloud\.heartbeat/.test(e.format()));
  });
});
