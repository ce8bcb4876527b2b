// The `broker` block of the config file: defaults, paths relative to the file, flag over file,
// and a bad key named with its line.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EdgetwinError } from '../core/errors.ts';
import { resolveConfig } from './config.ts';

const dir = mkdtempSync(join(tmpdir(), 'edgetwin-config-broker-'));
const file = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};

describe('gateway configuration: broker', () => {
  it('defaults to loopback, 1 MB packets, 16 MB per client queue and no users', () => {
    const b = resolveConfig({}).broker;
    assert.equal(b.host, '127.0.0.1');
    assert.equal(b.maxPacketBytes, 1024 * 1024);
    assert.equal(b.maxQueueBytes, 16 * 1024 * 1024);
    assert.equal(b.passwordFile, undefined);
    assert.deepEqual(b.mapperUsers, []);
  });

  it('reads the block with paths relative to the file; --broker-host wins over the file', () => {
    const config = file('gw.yaml', 'broker:\n  host: 0.0.0.0\n  maxPacketBytes: 65536\n  passwordFile: passwd\n  aclFile: acl\n  mapperUsers: [mapper]\n  tls: { cert: s.crt, key: s.key, ca: ca.crt, requireClientCert: true }\n');
    const b = resolveConfig({ config }).broker;
    assert.equal(b.host, '0.0.0.0');
    assert.equal(b.maxPacketBytes, 65536);
    assert.equal(b.maxQueueBytes, 16 * 1024 * 1024, 'unset keys keep their defaults');
    assert.equal(b.passwordFile, join(dir, 'passwd'));
    assert.equal(b.aclFile, join(dir, 'acl'));
    assert.deepEqual(b.mapperUsers, ['mapper']);
    assert.deepEqual(b.tls, { cert: join(dir, 's.crt'), key: join(dir, 's.key'), ca: join(dir, 'ca.crt'), requireClientCert: true });
    assert.equal(resolveConfig({ config, brokerHost: '192.0.2.7' }).broker.host, '192.0.2.7');
  });

  it('names the file, line and key of a bad broker setting', () => {
    const config = file('bad.yaml', 'broker:\n  maxPacketBytes: 1\n');
    assert.throws(() => resolveConfig({ config }), (err: EdgetwinError) => {
      assert.match(err.format(), /bad\.yaml:2: broker\.maxPacketBytes: 1 is below the minimum 64/);
      return true;
    });
    const unknown = file('unknown.yaml', 'broker:\n  maxQueue: 5\n');
    assert.throws(() => resolveConfig({ config: unknown }), /unknown config key "broker\.maxQueue"/);
  });
});
