// The join client and certificate rotation against the real cloud (hub/cloudhub/cloud.ts, in
// process), then EdgeHub on that cloud's CloudHub with the certificate join got.

import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { freePort, waitFor } from '../../core/testing.ts';
import { silentLogger } from '../../core/log.ts';
import { startCloud, type Cloud } from '../cloudhub/cloud.ts';
import { EdgeLink, nodeIdentity } from '../edge.ts';
import { DEFAULT_PROJECT_ID } from '../edgehub/edgehub.ts';
import { newMessage, type Message } from '../message/index.ts';
import { device, property, tempDir } from '../../twin/testing.ts';
import { TwinStore } from '../../twin/store.ts';
import { DeviceTwin } from '../../twin/twin.ts';
import { join, parseToken } from './client.ts';
import { nodeFiles } from './node-files.ts';
import { CertRotation } from './rotation.ts';
import { createJoinToken } from './token.ts';

describe('edgetwin join against the cloud', () => {
  const state = tempDir('edgetwin-cloud-');
  const data = tempDir('edgetwin-edge-');
  let cloud: Cloud;
  let server: string;
  const upstream: [string, Message][] = [];

  before(async () => {
    cloud = await startCloud({ stateDir: state.dir, listen: '127.0.0.1', port: await freePort(), joinPort: await freePort(), httpPort: await freePort(), advertise: ['127.0.0.1'], log: silentLogger });
    cloud.onUpstream((node, msg) => {
      upstream.push([node, msg]);
    });
    server = `127.0.0.1:${cloud.ports.join}`;
  });
  after(async () => {
    await cloud.close();
    state.remove();
    data.remove();
  });

  it('joins with a good token: CA pinned by its hash, key 0600, certificate for system:node:{node}', async () => {
    const token = await createJoinToken(cloud.ca);
    const r = await join({ cloud: server, token, nodeName: 'gw-1', dataDir: data.dir });
    assert.equal(r.nodeName, 'gw-1');
    const files = nodeFiles(data.dir);
    assert.equal(statSync(files.key).mode & 0o777, 0o600);
    assert.equal(readFileSync(files.ca, 'utf8'), cloud.ca.certPem);
    const cert = new X509Certificate(readFileSync(files.cert));
    assert.match(cert.subject, /CN=system:node:gw-1/);
    assert.match(cert.subject, /O=system:nodes/);
    assert.ok(cert.verify(new X509Certificate(cloud.ca.certPem).publicKey));
    assert.deepEqual(JSON.parse(readFileSync(files.info, 'utf8')), { joinServer: server });
  });

  it("refuses the served CA when its hash is not the token's", async () => {
    const token = await createJoinToken(cloud.ca);
    const wrong = `${'0'.repeat(64)}.${parseToken(token).jwt}`;
    const other = tempDir('edgetwin-edge-');
    try {
      await assert.rejects(join({ cloud: server, token: wrong, nodeName: 'gw-2', dataDir: other.dir }), /does not match the token/);
    } finally {
      other.remove();
    }
  });

  it('shows the cloud\'s reason for an expired or a tampered token', async () => {
    const expired = await createJoinToken(cloud.ca, 1000, Date.now() - 3_600_000);
    await assert.rejects(join({ cloud: server, token: expired, nodeName: 'gw-2', dataDir: data.dir + '-x' }), /HTTP 401: .*expired/);
    const good = await createJoinToken(cloud.ca);
    const last = good.at(-2) === 'A' ? 'B' : 'A';
    const tampered = `${good.slice(0, -2)}${last}${good.at(-1)}`;
    await assert.rejects(join({ cloud: server, token: tampered, nodeName: 'gw-2', dataDir: data.dir + '-x' }), /HTTP 401: .*(signature|malformed)/);
  });

  it('says so when the join server cannot be reached', async () => {
    const closed = await freePort();
    const token = await createJoinToken(cloud.ca);
    await assert.rejects(join({ cloud: `127.0.0.1:${closed}`, token, nodeName: 'gw-2', dataDir: data.dir + '-x' }), /cannot reach the join server at https:\/\/127\.0\.0\.1:\d+\/ca\.crt: ECONNREFUSED/);
  });

  it('EdgeHub connects to CloudHub with that certificate; objects are stored and ACKed; reports reach the cloud', async () => {
    const store = TwinStore.open(data.dir);
    const twin = new DeviceTwin({ store, log: silentLogger, nodeName: 'gw-1' });
    twin.setDevices([device('thermo', [property('temp', { accessMode: 'ReadOnly' })])]);
    const id = nodeIdentity(data.dir, undefined);
    const link = new EdgeLink({
      config: { url: `wss://127.0.0.1:${cloud.ports.cloudhub}`, projectId: DEFAULT_PROJECT_ID, qps: 100, burst: 200, heartbeatMs: 500, reconnect: { firstMs: 100, maxMs: 500 }, resendMs: 5000, serviceBus: { allowedPorts: [] } },
      dataDir: data.dir, twin, log: silentLogger, registry: new Registry(), ...id,
    });
    link.start();
    try {
      await waitFor('the node session', () => cloud.hub.isConnected('gw-1'));
      const cm = newMessage(
        { source: 'edgecontroller', group: 'resource', operation: 'insert', resource: 'node/gw-1/default/configmap/settings' },
        { metadata: { name: 'settings', namespace: 'default', uid: 'cm-1', resourceVersion: '3' }, data: { a: '1' } },
        { resourceVersion: '3' },
      );
      assert.equal(await cloud.send('gw-1', cm), 'queued');
      await waitFor('the configmap in MetaManager', () => link.meta.get('default/configmap/settings'));
      // The cloud recorded the ACK: the same version again is not sent again.
      await waitFor('the cloud to record the ACK', async () => (await cloud.send('gw-1', { ...cm, header: { ...cm.header, msg_id: 'again' } })) === 'stale');

      twin.report([{ device: 'default/thermo', property: 'temp', value: 30, time: Date.now(), quality: 'good' }]);
      await twin.flush();
      const [node, up] = await waitFor('the report at the cloud', () => upstream.find(([, m]) => m.route.resource.endsWith('/twin/edge_updated')));
      assert.equal(node, 'gw-1');
      assert.equal(up.route.resource, 'node/gw-1/device/default/thermo/twin/edge_updated');
      await waitFor('the outbox to empty once the cloud answered', () => link.upstream.depth === 0);

      // Rotation: renewed with the current certificate (no token), then the link reconnects with the new one.
      const files = nodeFiles(data.dir);
      const serial = new X509Certificate(readFileSync(files.cert)).serialNumber;
      const connects = link.hub.connections;
      let renewed = 0;
      const rotation = new CertRotation({ files, joinServer: server, log: silentLogger, at: 0, onRenewed: () => {
        renewed++;
        link.hub.reconnect('test rotation');
      } });
      rotation.start();
      try {
        await waitFor('the renewal', () => renewed >= 1);
      } finally {
        rotation.stop();
      }
      const fresh = new X509Certificate(readFileSync(files.cert));
      assert.notEqual(fresh.serialNumber, serial);
      assert.match(fresh.subject, /CN=system:node:gw-1/);
      assert.equal(statSync(files.key).mode & 0o777, 0o600);
      await waitFor('a new connection with the new certificate', () => link.hub.connections > connects && cloud.hub.isConnected('gw-1'));
    } finally {
      await link.close();
      await twin.close();
      store.close();
    }
  });
});
