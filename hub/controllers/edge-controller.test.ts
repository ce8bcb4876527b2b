// EdgeController against the Kubernetes API stand-in, with a recording link in place of CloudHub:
// what goes to which node (and in which order), and which edge writes are applied or refused.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { silentLogger } from '../../core/log.ts';
import { waitFor } from '../../core/testing.ts';
import type { Offer } from '../cloudhub/queue.ts';
import { newMessage, type Message } from '../message/index.ts';
import { startKubeApiServer, type KubeApiServer } from '../testing/kube-apiserver/index.ts';
import { UpstreamDispatch } from './dispatch.ts';
import { EDGE_NODE_LABEL, EdgeController, podReferences, podStatusPatch } from './edge-controller.ts';
import { collectionPath, loadKube, objectPath, type KubeClient } from './kube.ts';

describe('EdgeController', () => {
  let api: KubeApiServer;
  let kube: KubeClient;
  let controller: EdgeController;
  const dispatch = new UpstreamDispatch();
  const sent: Array<{ node: string; msg: Message }> = [];
  const to = (node: string) => sent.filter((s) => s.node === node).map((s) => `${s.msg.route.operation} ${s.msg.route.resource}`);
  const up = (node: string, operation: string, resource: string, content: unknown) =>
    dispatch.dispatch(node, newMessage({ source: 'edged', group: 'meta', operation, resource: `node/${node}/${resource}` }, content));
  const post = (path: string, body: unknown) => kube.request('POST', path, { body });
  const pod = (name: string, node: string) => ({
    apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'default' },
    spec: {
      nodeName: node,
      containers: [{ name: 'main', image: 'busybox', env: [{ name: 'L', valueFrom: { configMapKeyRef: { name: 'cfg', key: 'level' } } }], envFrom: [{ secretRef: { name: 'pw' } }] }],
      volumes: [{ name: 'v', configMap: { name: 'files' } }],
    },
  });

  before(async () => {
    api = await startKubeApiServer({ leaseGraceMs: 60_000 });
    kube = loadKube(api.kubeconfigPath);
    for (const [name, labels] of [['gw-a', { [EDGE_NODE_LABEL]: '' }], ['gw-b', { [EDGE_NODE_LABEL]: '' }], ['cloud-1', {}]] as const) {
      await post('/api/v1/nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name, labels } });
    }
    await post(collectionPath('', 'v1', 'configmaps', 'default'), { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cfg', namespace: 'default' }, data: { level: 'info' } });
    await post(collectionPath('', 'v1', 'configmaps', 'default'), { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'unrelated', namespace: 'default' }, data: {} });
    await post(collectionPath('', 'v1', 'secrets', 'default'), { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'pw', namespace: 'default' }, stringData: { pw: 'x' } });
    const link = {
      async send(node: string, msg: Message): Promise<Offer> {
        sent.push({ node, msg });
        return 'queued';
      },
      isConnected: () => true,
      connectedNodes: () => ['gw-a', 'gw-b'],
      onConnection: () => {},
    };
    controller = new EdgeController({ kube, link, dispatch, namespace: 'edgetwin', config: {}, registry: new Registry(), log: silentLogger }, { resyncMs: 0 });
    await controller.start();
  });
  after(async () => {
    await controller?.stop();
    await api?.stop();
  });

  it('finds what a pod references: configMap and secret volumes, env and envFrom', () => {
    assert.deepEqual(podReferences(pod('x', 'gw-a') as never).sort(), ['default/configmap/cfg', 'default/configmap/files', 'default/secret/pw']);
  });

  it("sends a pod of an edge node to that node only, after what it references; others' pods nowhere", async () => {
    await post(collectionPath('', 'v1', 'pods', 'default'), pod('web', 'gw-a'));
    await post(collectionPath('', 'v1', 'pods', 'default'), pod('cloudy', 'cloud-1'));
    await waitFor('the pod to gw-a', () => to('gw-a').includes('insert node/gw-a/default/pod/web'));
    const a = to('gw-a').filter((r) => !r.includes('/null/node/'));
    assert.deepEqual(a, ['insert node/gw-a/default/configmap/cfg', 'update node/gw-a/default/secret/pw', 'insert node/gw-a/default/pod/web'], 'the missing ConfigMap "files" is not invented');
    const podMsg = sent.find((s) => s.msg.route.resource === 'node/gw-a/default/pod/web')!.msg;
    assert.equal(podMsg.route.source, 'edgecontroller');
    assert.equal(podMsg.route.group, 'resource');
    assert.equal(podMsg.header.resourceversion, (podMsg.content as { metadata: { resourceVersion: string } }).metadata.resourceVersion);
    assert.ok(to('gw-a').includes('update node/gw-a/null/node/gw-a'), 'the node object goes to its node');
    assert.ok(!sent.some((s) => s.msg.route.resource.includes('cloudy')), 'a pod of a non-edge node goes nowhere');
    assert.ok(!to('gw-b').some((r) => r.includes('/pod/')));

    // A change of a referenced ConfigMap goes to the nodes whose pods use it; an unrelated one nowhere.
    const before = sent.length;
    await kube.request('PATCH', objectPath('', 'v1', 'configmaps', 'default', 'cfg'), { body: { data: { level: 'debug' } }, contentType: 'application/merge-patch+json' });
    await kube.request('PATCH', objectPath('', 'v1', 'configmaps', 'default', 'unrelated'), { body: { data: { x: '1' } }, contentType: 'application/merge-patch+json' });
    await waitFor('the ConfigMap update to gw-a', () => sent.slice(before).some((s) => s.msg.route.resource === 'node/gw-a/default/configmap/cfg' && s.msg.route.operation === 'update'));
    assert.ok(!sent.slice(before).some((s) => s.msg.route.resource.includes('unrelated')));
  });

  it('applies what the node sends for itself and refuses what it sends for others; a final delete of a pod already gone is done', async () => {
    // Register and status patch of its own node; a lease, created then renewed.
    await up('gw-b', 'insert', 'default/node/gw-b', { metadata: { name: 'gw-b', labels: { zone: 'hall-2' } }, status: { nodeInfo: { kubeletVersion: 'v1.32.10-edgetwin-0.1.0' } } });
    let node = await kube.request<{ metadata: { labels: Record<string, string> }; status: { nodeInfo: Record<string, string> } }>('GET', '/api/v1/nodes/gw-b');
    assert.equal(node.metadata.labels.zone, 'hall-2');
    assert.equal(node.metadata.labels[EDGE_NODE_LABEL], '');
    await up('gw-b', 'patch', 'default/nodepatch/gw-b', JSON.stringify({ status: { conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'ok', lastHeartbeatTime: new Date().toISOString() }] } }));
    node = await kube.request('GET', '/api/v1/nodes/gw-b');
    assert.equal((node.status as unknown as { conditions: Array<{ type: string; status: string }> }).conditions.find((c) => c.type === 'Ready')?.status, 'True');
    const renew = (t: string) => up('gw-b', 'update', 'kube-node-lease/lease/gw-b', { spec: { holderIdentity: 'gw-b', leaseDurationSeconds: 40, renewTime: t } });
    await renew('2026-01-01T00:00:00.000000Z');
    await renew('2026-01-01T00:00:10.000000Z');
    const lease = await kube.request<{ spec: { renewTime: string } }>('GET', '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/gw-b');
    assert.equal(lease.spec.renewTime, '2026-01-01T00:00:10.000000Z');

    // Another node's objects: refused, nothing written.
    await assert.rejects(up('gw-b', 'insert', 'default/node/gw-a', { metadata: { name: 'gw-a' } }), /may register only itself/);
    await assert.rejects(up('gw-b', 'update', 'kube-node-lease/lease/gw-a', { spec: {} }), /may renew only its own lease/);
    await assert.rejects(up('gw-b', 'patch', 'default/podpatch/web', JSON.stringify({ status: { phase: 'Failed' } })), /bound to gw-a, not to gw-b/);
    await assert.rejects(up('gw-b', 'delete', 'default/pod/web', { metadata: { name: 'web' } }), /bound to gw-a, not to gw-b/);

    // Its own pod: the whole status replaces the old (no leftover waiting beside running).
    const web = await kube.request<{ metadata: { uid: string } }>('GET', objectPath('', 'v1', 'pods', 'default', 'web'));
    const status = (state: unknown) => JSON.stringify({ metadata: { uid: web.metadata.uid }, status: { phase: 'Running', containerStatuses: [{ name: 'main', state }] } });
    await up('gw-a', 'patch', 'default/podpatch/web', status({ waiting: { reason: 'ContainerCreating' } }));
    await up('gw-a', 'patch', 'default/podpatch/web', status({ running: { startedAt: '2026-01-01T00:00:00Z' } }));
    const got = await kube.request<{ status: { phase: string; containerStatuses: Array<{ state: Record<string, unknown> }> } }>('GET', objectPath('', 'v1', 'pods', 'default', 'web'));
    assert.equal(got.status.phase, 'Running');
    assert.deepEqual(Object.keys(got.status.containerStatuses[0]!.state), ['running']);
    await assert.rejects(up('gw-a', 'patch', 'default/podpatch/web', JSON.stringify({ metadata: { uid: 'an-old-uid' }, status: { phase: 'Failed' } })), /which is gone/);

    // kubectl delete: the pod waits for its node; the node's final delete removes it.
    await kube.request('DELETE', objectPath('', 'v1', 'pods', 'default', 'web'));
    await waitFor('the deletion to reach gw-a as an update', () => sent.some((s) => s.node === 'gw-a' && s.msg.route.resource === 'node/gw-a/default/pod/web' && (s.msg.content as { metadata?: { deletionTimestamp?: string } })?.metadata?.deletionTimestamp));
    await up('gw-a', 'delete', 'default/pod/web', { metadata: { name: 'web', namespace: 'default', uid: web.metadata.uid } });
    await waitFor('the delete to reach gw-a', () => sent.some((s) => s.node === 'gw-a' && s.msg.route.resource === 'node/gw-a/default/pod/web' && s.msg.route.operation === 'delete'));
    await assert.rejects(kube.request('GET', objectPath('', 'v1', 'pods', 'default', 'web')), /NotFound/);
    await waitFor('the informer to forget web', async () => {
      try {
        await up('gw-a', 'patch', 'default/podpatch/web', JSON.stringify({ status: { phase: 'Running' } }));
        return false;
      } catch (err) {
        return /does not exist/.test((err as Error).message);
      }
    });
    await up('gw-a', 'delete', 'default/pod/web', { metadata: { name: 'web', namespace: 'default', uid: web.metadata.uid } });
  });

  it("applies a KubeEdge edge's strategic-merge patch as one", () => {
    const smp = '{"status":{"$setElementOrder/conditions":[{"type":"Ready"}],"conditions":[{"type":"Ready","status":"True"}]}}';
    assert.equal(podStatusPatch(smp, JSON.parse(smp)).contentType, 'application/strategic-merge-patch+json');
    const full = '{"status":{"phase":"Running"}}';
    const p = podStatusPatch(full, JSON.parse(full));
    assert.equal(p.contentType, 'application/merge-patch+json');
    assert.equal((p.body as { status: Record<string, unknown> }).status.reason, null);
  });
});
