// The controller framework against the Kubernetes API stand-in: the informer lists and watches,
// comes back after the API server restarts (re-list: nothing lost, nothing duplicated), re-lists
// after 410 Gone, retries with backoff while the server is down; upstream dispatch by resource.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { KubernetesObject } from '@kubernetes/client-node';
import { silentLogger } from '../../core/log.ts';
import { freePort, waitFor } from '../../core/testing.ts';
import { newMessage } from '../message/index.ts';
import { kubeconfigYaml, startKubeApiServer, type KubeApiServer } from '../testing/kube-apiserver/index.ts';
import { makeServingCerts } from '../testing/kube-apiserver/certs.ts';
import { UpstreamDispatch } from './dispatch.ts';
import { Informer } from './informer.ts';
import { collectionPath, KubeApiError, loadKube, objectPath, type KubeClient } from './kube.ts';

describe('controller framework', () => {
  let api: KubeApiServer;
  let kube: KubeClient;
  before(async () => {
    api = await startKubeApiServer({ historyLimit: 20 });
    kube = loadKube(api.kubeconfigPath);
  });
  after(async () => {
    await api.stop();
  });

  const cm = (name: string, v: string) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'default' }, data: { v } });

  it('a kubeconfig that does not exist is an error naming it', () => {
    assert.throws(() => loadKube('/nonexistent/kubeconfig'), /kubeconfig \/nonexistent\/kubeconfig/);
  });

  it('request: a refused call is a KubeApiError with status and reason', async () => {
    await assert.rejects(kube.request('GET', objectPath('', 'v1', 'configmaps', 'default', 'nope')), (e: KubeApiError) => e.status === 404 && e.reason === 'NotFound');
  });

  it('request: calls share one TLS connection (client-node would make a new agent, so a new handshake, per call)', async () => {
    const certs = makeServingCerts();
    let handshakes = 0;
    const server = createServer({ cert: certs.certPem, key: certs.keyPem }, (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"kind":"Status","status":"Success"}');
    });
    server.on('secureConnection', () => handshakes++);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    const dir = mkdtempSync(join(tmpdir(), 'edgetwin-kube-keepalive-'));
    try {
      const file = join(dir, 'kubeconfig');
      writeFileSync(file, kubeconfigYaml(`https://127.0.0.1:${(server.address() as AddressInfo).port}`, certs.caPem, 'token'));
      const client = loadKube(file);
      for (let i = 0; i < 5; i++) await client.request('PATCH', `/api/v1/namespaces/default/pods/p${i}/status`, { body: { status: {} }, contentType: 'application/merge-patch+json' });
      assert.equal(handshakes, 1);
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('informer: lists, watches, survives an API server restart and a 410 without losing or duplicating', async () => {
    const path = collectionPath('', 'v1', 'configmaps');
    await kube.request('POST', collectionPath('', 'v1', 'configmaps', 'default'), { body: cm('a', '1') });
    const informer = new Informer<KubernetesObject & { data?: Record<string, string> }>(kube, { path, resyncMs: 100, backoff: { firstMs: 50, maxMs: 200 }, log: silentLogger });
    const adds: string[] = [];
    const deletes: string[] = [];
    let resyncs = 0;
    informer.on({ add: (o) => adds.push(o.metadata!.name!), delete: (o) => deletes.push(o.metadata!.name!), resync: () => resyncs++ });
    await informer.start();
    try {
      assert.ok(informer.hasSynced);
      assert.deepEqual(adds, ['a']);
      await kube.request('POST', collectionPath('', 'v1', 'configmaps', 'default'), { body: cm('b', '1') });
      await waitFor('b by watch', () => informer.get('default', 'b'));
      await waitFor('a resync', () => resyncs >= 2);

      // Restart: the watch breaks; changes made meanwhile arrive (by a resumed watch or a re-list).
      await api.restart();
      await kube.request('DELETE', objectPath('', 'v1', 'configmaps', 'default', 'a'));
      await kube.request('POST', collectionPath('', 'v1', 'configmaps', 'default'), { body: cm('c', '1') });
      await waitFor('c after restart', () => informer.get('default', 'c'), 30_000);
      await waitFor('a deleted after restart', () => deletes.includes('a'), 30_000);
      assert.equal(adds.filter((n) => n === 'b').length, 1, 'b was not added twice');
      assert.equal(deletes.filter((n) => n === 'a').length, 1);

      // 410: watches held while more changes than the history keeps happen.
      const lists410 = informer.lists;
      api.holdWatches();
      for (let i = 0; i < 30; i++) {
        await kube.request('PATCH', objectPath('', 'v1', 'configmaps', 'default', 'b'), { body: { data: { v: String(i) } }, contentType: 'application/merge-patch+json' });
      }
      api.releaseWatches();
      await waitFor('b at its last value', () => informer.get('default', 'b')?.data?.v === '29', 30_000);
      assert.ok(informer.lists > lists410, 'a 410 made the informer list again');
      assert.deepEqual(informer.list().map((o) => o.metadata!.name).sort(), ['b', 'c']);
    } finally {
      await informer.stop();
    }
  });

  it('a cloud pointed at a cluster without the CRDs stops with a message saying to install them', async () => {
    const { startCloud } = await import('../cloudhub/cloud.ts');
    const { tempDir } = await import('../../twin/testing.ts');
    const state = tempDir('edgetwin-nocrd-');
    try {
      await assert.rejects(startCloud({ stateDir: state.dir, listen: '127.0.0.1', port: await freePort(), joinPort: await freePort(), httpPort: await freePort(), advertise: ['127.0.0.1'], log: silentLogger, kubernetes: api.kubeconfigPath }),
        /does not serve objectsyncs\.reliablesyncs\.kubeedge\.io: install the CRDs first \(edgetwin cloud install-crds/);
    } finally {
      state.remove();
    }
  });

  it('upstream dispatch: the first route that claims the resource gets it; unclaimed is false', async () => {
    const d = new UpstreamDispatch();
    const got: string[] = [];
    d.register({ controller: 'devices', matches: (r) => r.startsWith('device/') && r.endsWith('/twin/edge_updated'), handle: async (n, _m, r) => { got.push(`${n}:${r}`); } });
    assert.equal(await d.dispatch('gw-a', newMessage({ source: 'twin', group: 'resource', operation: 'update', resource: 'node/gw-a/device/default/t1/twin/edge_updated' }, {})), true);
    assert.equal(await d.dispatch('gw-a', newMessage({ source: 'edged', group: 'resource', operation: 'update', resource: 'node/gw-a/default/podstatus/p' }, {})), false);
    assert.deepEqual(got, ['gw-a:device/default/t1/twin/edge_updated']);
  });
});
