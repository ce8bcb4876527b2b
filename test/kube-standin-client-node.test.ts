// @kubernetes/client-node 1.4, the library the cloud controllers use, against the Kubernetes
// API stand-in: an informer (makeInformer) that sees ADDED/MODIFIED/DELETED and keeps a cache
// equal to the server's after the stand-in restarts and after its watch falls out of the
// history (410 Gone, re-list); optimistic concurrency (409); garbage collection of an owned
// status object when its owner is deleted.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ApiException, CoreV1Api, CustomObjectsApi, KubeConfig, makeInformer, PatchStrategy, setHeaderOptions, type KubernetesObject } from '@kubernetes/client-node';
import { waitFor } from '../core/testing.ts';
import { startKubeApiServer, type KubeApiServer } from '../hub/testing/kube-apiserver/index.ts';
import { GROUP, TEST_DEVICE_CRD, TEST_DEVICE_STATUS_CRD, testDevice, VERSION } from './helpers/kube-standin-fixtures.ts';

type Device = KubernetesObject & { spec: { nodeName: string } };

describe('@kubernetes/client-node against the kube-apiserver stand-in', () => {
  let s: KubeApiServer;
  let kc: KubeConfig;
  let custom: CustomObjectsApi;
  let core: CoreV1Api;
  const where = { group: GROUP, version: VERSION, namespace: 'default', plural: 'testdevices' };
  // client-node sends JSON patch unless told otherwise; these patches are merge patches.
  const asMergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

  before(async () => {
    s = await startKubeApiServer({ historyLimit: 20 });
    kc = new KubeConfig();
    kc.loadFromFile(s.kubeconfigPath);
    custom = kc.makeApiClient(CustomObjectsApi);
    core = kc.makeApiClient(CoreV1Api);
    const crds = s.registry.catalog.find('apiextensions.k8s.io', 'v1', 'customresourcedefinitions')!;
    for (const crd of [TEST_DEVICE_CRD, TEST_DEVICE_STATUS_CRD]) s.registry.create(crds, '', structuredClone(crd));
  });
  after(async () => s?.stop());

  it('an informer sees adds, updates and deletes, and its cache matches the server after a restart and after a 410', async () => {
    let lists = 0;
    const informer = makeInformer<Device>(kc, `/apis/${GROUP}/${VERSION}/namespaces/default/testdevices`, async () => {
      lists++;
      return custom.listNamespacedCustomObject(where);
    });
    const seen: string[] = [];
    informer.on('add', (o) => seen.push(`add ${o.metadata!.name} ${o.spec.nodeName}`));
    informer.on('update', (o) => seen.push(`update ${o.metadata!.name} ${o.spec.nodeName}`));
    informer.on('delete', (o) => seen.push(`delete ${o.metadata!.name}`));
    // What a controller does on a watch error (the stand-in down): start again after a pause.
    let stopped = false;
    informer.on('error', () => setTimeout(() => { if (!stopped) void informer.start(); }, 100));
    await informer.start();
    try {
      await custom.createNamespacedCustomObject({ ...where, body: testDevice('inf-1', 'gw-a') });
      await custom.patchNamespacedCustomObject({ ...where, name: 'inf-1', body: { spec: { nodeName: 'gw-b' } } }, asMergePatch);
      await custom.createNamespacedCustomObject({ ...where, body: testDevice('inf-2', 'gw-a') });
      await custom.deleteNamespacedCustomObject({ ...where, name: 'inf-2' });
      await waitFor('the informer to see add, update and delete', () => seen.includes('delete inf-2'));
      assert.deepEqual(seen, ['add inf-1 gw-a', 'update inf-1 gw-b', 'add inf-2 gw-a', 'delete inf-2']);

      const devices = s.registry.catalog.find(GROUP, VERSION, 'testdevices')!;
      const serverState = () => s.registry.list(devices, 'default').map((o) => `${o.metadata.name} ${o.spec.nodeName}`).sort();
      const cacheState = () => informer.list('default').map((o) => `${o.metadata!.name} ${o.spec.nodeName}`).sort();

      // Restart: connections and watch history are lost. A change the informer missed while its
      // watch was down leaves it behind the restarted server's history, so it must re-list.
      const listsBeforeRestart = lists;
      s.holdWatches();
      s.registry.patch(devices, 'default', 'inf-1', 'application/merge-patch+json', { spec: { nodeName: 'gw-restart' } });
      await s.restart();
      s.registry.create(devices, 'default', testDevice('inf-3', 'gw-c'));
      s.releaseWatches();
      await waitFor('the informer to re-list after the restart', () => lists > listsBeforeRestart && cacheState().join() === serverState().join());
      assert.deepEqual(cacheState(), ['inf-1 gw-restart', 'inf-3 gw-c']);

      // 410: the informer's watch is held while more events happen than the history keeps.
      const listsBefore410 = lists;
      s.holdWatches();
      s.registry.patch(devices, 'default', 'inf-3', 'application/merge-patch+json', { spec: { nodeName: 'gw-after-410' } });
      const configmaps = s.registry.catalog.find('', 'v1', 'configmaps')!;
      for (let i = 0; i < 25; i++) s.registry.create(configmaps, 'default', { metadata: { name: `push-out-${i}` } });
      s.releaseWatches();
      await waitFor('the informer to re-list after 410 Gone', () => lists > listsBefore410 && cacheState().join() === serverState().join());
      assert.deepEqual(cacheState(), ['inf-1 gw-restart', 'inf-3 gw-after-410']);
      const names = informer.list('default').map((o) => o.metadata!.name);
      assert.equal(new Set(names).size, names.length, 'no object twice in the cache');
    } finally {
      stopped = true;
      await informer.stop();
    }
  });

  it('refuses an update with a stale resourceVersion with 409 Conflict', async () => {
    const created = await core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'occ' }, data: { v: '1' } } });
    await core.replaceNamespacedConfigMap({ name: 'occ', namespace: 'default', body: { ...created, data: { v: '2' } } });
    await assert.rejects(
      core.replaceNamespacedConfigMap({ name: 'occ', namespace: 'default', body: { ...created, data: { v: '3' } } }),
      (err: unknown) => err instanceof ApiException && err.code === 409 && /the object has been modified/.test(String(err.body)),
    );
    assert.equal((await core.readNamespacedConfigMap({ name: 'occ', namespace: 'default' })).data?.v, '2');
  });

  it('garbage-collects a status object owned by a deleted device', async () => {
    const owner = await custom.createNamespacedCustomObject({ ...where, body: testDevice('gc-owner', 'gw-a') }) as Device;
    const statuses = { ...where, plural: 'testdevicestatuses' };
    await custom.createNamespacedCustomObject({
      ...statuses,
      body: {
        apiVersion: `${GROUP}/${VERSION}`, kind: 'TestDeviceStatus',
        metadata: { name: 'gc-owner', ownerReferences: [{ apiVersion: `${GROUP}/${VERSION}`, kind: 'TestDevice', name: 'gc-owner', uid: owner.metadata!.uid!, controller: true, blockOwnerDeletion: true }] },
      },
    });
    await custom.patchNamespacedCustomObjectStatus({ ...statuses, name: 'gc-owner', body: { status: { state: 'online' } } }, asMergePatch);
    await custom.deleteNamespacedCustomObject({ ...where, name: 'gc-owner' });
    await waitFor('the owned status object to be collected', async () => {
      try {
        await custom.getNamespacedCustomObject({ ...statuses, name: 'gc-owner' });
        return false;
      } catch (err) {
        return err instanceof ApiException && err.code === 404;
      }
    });
  });
});
