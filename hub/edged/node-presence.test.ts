// Node presence and the MetaManager pod source, with the real MetaManager on SQLite and an uplink
// that records what would go up (the link's outbox is tested in hub/edgehub).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { createLogger } from '../../core/log.ts';
import { waitFor } from '../../core/testing.ts';
import { Groups, newMessage, Operations, Sources } from '../message/index.ts';
import { MetaManager } from '../metamanager/metamanager.ts';
import { LinkStatusSink, MetaPodSource } from './meta-source.ts';
import { EDGE_ROLE_LABEL, NodePresence, RUNTIME_CONDITION, type NodeStatusBody, type PresenceUplink } from './node-presence.ts';
import type { RuntimeView, SourceEvent } from './source.ts';

const log = createLogger({ level: 'silent' });

type Sent = { key: string; route: { source: string; group: string; operation: string; resource: string }; content: unknown };

function recorder(): PresenceUplink & { sent: Sent[]; waiting: Map<string, Sent> } {
  const sent: Sent[] = [];
  const waiting = new Map<string, Sent>();
  return {
    sent,
    waiting,
    latest(key, msg) {
      const s = { key, ...msg };
      sent.push(s);
      waiting.set(key, s);
    },
  };
}

const statusOf = (s: Sent) => (JSON.parse(s.content as string) as { status: NodeStatusBody }).status;

describe('NodePresence', () => {
  it('registers the node with the edge role, nodeInfo, capacity and conditions; a devices-only gateway has no runtime condition', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'edgetwin-presence-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const up = recorder();
    const p = new NodePresence({ nodeName: 'gw-1', version: '1.2.3', uplink: up, log, dataDir: dir, address: '10.0.0.5', statusIntervalMs: 60_000, leaseIntervalMs: 60_000 });
    await p.start();
    t.after(() => p.stop());
    const reg = up.sent.find((s) => s.key === 'node/register')!;
    assert.deepEqual(reg.route, { source: 'edged', group: 'meta', operation: 'insert', resource: 'default/node/gw-1' });
    const node = reg.content as { metadata: { name: string; labels: Record<string, string> }; status: NodeStatusBody };
    assert.equal(node.metadata.name, 'gw-1');
    assert.equal(node.metadata.labels[EDGE_ROLE_LABEL], '');
    assert.equal(node.status.nodeInfo.kubeletVersion, 'v1.32.10-edgetwin-1.2.3');
    assert.equal(node.status.nodeInfo.operatingSystem, 'linux');
    assert.ok(node.status.nodeInfo.architecture);
    assert.equal(node.status.nodeInfo.containerRuntimeVersion, '');
    assert.match(node.status.capacity.memory!, /^\d+Ki$/);
    assert.ok(Number(node.status.capacity.cpu) >= 1);
    assert.equal(node.status.capacity.pods, '110');
    assert.deepEqual(node.status.addresses[0], { type: 'InternalIP', address: '10.0.0.5' });
    assert.deepEqual(node.status.conditions.map((c) => c.type).sort(), ['DiskPressure', 'MemoryPressure', 'PIDPressure', 'Ready']);
    assert.equal(node.status.conditions.find((c) => c.type === 'Ready')!.status, 'True');

    const patch = up.sent.find((s) => s.key === 'node/status')!;
    assert.deepEqual(patch.route, { source: 'edged', group: 'meta', operation: 'patch', resource: 'default/nodepatch/gw-1' });
    assert.equal(typeof patch.content, 'string', 'KubeEdge sends the patch as JSON text');
    const lease = up.sent.find((s) => s.key === 'node/lease')!;
    assert.deepEqual(lease.route, { source: 'edged', group: 'meta', operation: 'update', resource: 'kube-node-lease/lease/gw-1' });
    const spec = (lease.content as { spec: { holderIdentity: string; leaseDurationSeconds: number; renewTime: string } }).spec;
    assert.equal(spec.holderIdentity, 'gw-1');
    assert.equal(spec.leaseDurationSeconds, 40);
    assert.match(spec.renewTime, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
  });

  it('renews the lease every interval; sends the status when it changes, not when only heartbeats would, and again after the report interval or a reconnect', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'edgetwin-presence-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const up = recorder();
    let view: RuntimeView = { reachable: false, endpoint: 'unix:///x.sock', message: 'connect ENOENT' };
    const p = new NodePresence({
      nodeName: 'gw-2', version: '0.1.0', uplink: up, log, dataDir: dir, address: '10.0.0.6',
      runtime: { view: () => view, images: async () => [{ names: ['docker.io/library/busybox:1'], sizeBytes: 1234 }] },
      statusIntervalMs: 50, leaseIntervalMs: 50, reportIntervalMs: 3_600_000,
    });
    await p.start();
    t.after(() => p.stop());
    const statuses = () => up.sent.filter((s) => s.key === 'node/status');
    const first = statusOf(statuses()[0]!);
    const rt = first.conditions.find((c) => c.type === RUNTIME_CONDITION)!;
    assert.equal(rt.status, 'False');
    assert.match(rt.message, /containerd does not answer at unix:\/\/\/x\.sock: connect ENOENT/);
    assert.deepEqual(first.images, [], 'no images from an unreachable runtime');
    await waitFor('three lease renewals', () => up.sent.filter((s) => s.key === 'node/lease').length >= 3, 10_000, 10);
    const leaseTimes = new Set(up.sent.filter((s) => s.key === 'node/lease').map((s) => (s.content as { spec: { renewTime: string } }).spec.renewTime));
    assert.ok(leaseTimes.size >= 2, 'each renewal carries its own time');
    assert.equal(statuses().length, 1, 'nothing changed: no second status');

    view = { reachable: true, endpoint: 'unix:///x.sock', runtimeName: 'containerd', runtimeVersion: '1.7.24' };
    await waitFor('a status after the runtime came', () => statuses().length >= 2, 10_000, 10);
    const second = statusOf(statuses()[1]!);
    assert.equal(second.conditions.find((c) => c.type === RUNTIME_CONDITION)!.status, 'True');
    assert.equal(second.nodeInfo.containerRuntimeVersion, 'containerd://1.7.24');
    assert.deepEqual(second.images, [{ names: ['docker.io/library/busybox:1'], sizeBytes: 1234 }]);
    const rtSecond = second.conditions.find((c) => c.type === RUNTIME_CONDITION)!;
    assert.equal(rtSecond.lastTransitionTime, rtSecond.lastHeartbeatTime, 'the transition is when it became True');
    const readyFirst = first.conditions.find((c) => c.type === 'Ready')!;
    assert.equal(second.conditions.find((c) => c.type === 'Ready')!.lastTransitionTime, readyFirst.lastTransitionTime, 'Ready did not transition');

    const before = statuses().length;
    p.refresh();
    await waitFor('a status after refresh (a reconnect)', () => statuses().length > before, 10_000, 10);
  });

  it('sends the status at least every report interval even when nothing changed', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'edgetwin-presence-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const up = recorder();
    const p = new NodePresence({ nodeName: 'gw-3', version: '0.1.0', uplink: up, log, dataDir: dir, address: '10.0.0.7', statusIntervalMs: 20, leaseIntervalMs: 60_000, reportIntervalMs: 200 });
    await p.start();
    t.after(() => p.stop());
    await waitFor('three status reports', () => up.sent.filter((s) => s.key === 'node/status').length >= 3, 10_000, 10);
  });
});

describe('MetaPodSource and LinkStatusSink', () => {
  const pod = (name: string, node: string, rv: string) => ({
    apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'apps', uid: `uid-${name}`, resourceVersion: rv },
    spec: { nodeName: node, containers: [{ name: 'main', image: 'busybox' }] },
  });
  const msg = (op: string, resource: string, content: unknown, rv?: string) =>
    newMessage({ source: Sources.EDGECONTROLLER, group: Groups.RESOURCE, operation: op, resource }, content, rv ? { resourceVersion: rv } : {});

  it("serves this node's pods, ConfigMaps and Secrets from MetaManager, tells of changes, and survives a reopen", (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'edgetwin-metasource-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    let db = new Database(join(dir, 'cloud.db'));
    let meta = new MetaManager(db, log);
    const source = new MetaPodSource(meta, 'gw-1');
    const events: SourceEvent[] = [];
    const off = source.onChange((e) => events.push(e));
    meta.apply(msg(Operations.INSERT, 'apps/configmap/cfg', { metadata: { name: 'cfg', namespace: 'apps', resourceVersion: '5' }, data: { level: 'info' } }, '5'));
    meta.apply(msg(Operations.UPDATE, 'apps/secret/pw', { metadata: { name: 'pw', namespace: 'apps', resourceVersion: '6' }, data: { pw: 'c2VjcmV0' } }, '6'));
    meta.apply(msg(Operations.INSERT, 'apps/pod/web', pod('web', 'gw-1', '7'), '7'));
    meta.apply(msg(Operations.INSERT, 'apps/pod/elsewhere', pod('elsewhere', 'gw-9', '8'), '8'));
    assert.deepEqual(source.pods().map((p) => p.metadata.name), ['web'], "another node's pod never runs here");
    assert.equal(source.configMap('apps', 'cfg')?.data?.level, 'info');
    assert.equal(source.secret('apps', 'pw')?.data?.pw, 'c2VjcmV0');
    assert.equal(source.configMap('apps', 'nope'), undefined);
    assert.deepEqual(events.map((e) => `${e.kind} ${e.namespace}/${e.name}`), ['configmap apps/cfg', 'secret apps/pw', 'pod apps/web', 'pod apps/elsewhere']);
    meta.apply(msg(Operations.DELETE, 'apps/pod/web', null));
    assert.deepEqual(source.pods(), [], 'a deleted pod is gone at once');
    assert.equal(events.at(-1)!.name, 'web');
    off();
    meta.apply(msg(Operations.INSERT, 'apps/pod/web', pod('web', 'gw-1', '9'), '9'));
    assert.equal(events.length, 5, 'no events after unsubscribing');
    db.close();

    // A restarted gateway (the cloud unreachable) reads the same copy.
    db = new Database(join(dir, 'cloud.db'));
    meta = new MetaManager(db, log);
    const again = new MetaPodSource(meta, 'gw-1');
    assert.deepEqual(again.pods().map((p) => p.metadata.name), ['web']);
    assert.equal(again.configMap('apps', 'cfg')?.data?.level, 'info');
    db.close();
  });

  it('sends the newest status per pod as a podpatch, and one kubelet delete per removed pod', () => {
    const up = recorder();
    const views: RuntimeView[] = [];
    const sink = new LinkStatusSink(up, (v) => views.push(v));
    const ref = { namespace: 'apps', name: 'web', uid: 'uid-web' };
    sink.podStatus(ref, { phase: 'Pending', conditions: [], containerStatuses: [] }, '{"metadata":{"uid":"uid-web"},"status":{"phase":"Pending"}}');
    sink.podStatus(ref, { phase: 'Running', conditions: [], containerStatuses: [] }, '{"metadata":{"uid":"uid-web"},"status":{"phase":"Running"}}');
    assert.equal(up.waiting.size, 1, 'the second status replaces the first while waiting');
    const waiting = up.waiting.get('podpatch/uid-web')!;
    assert.deepEqual(waiting.route, { source: 'edged', group: 'meta', operation: 'patch', resource: 'apps/podpatch/web' });
    assert.match(waiting.content as string, /Running/);
    sink.podRemoved(ref);
    sink.podRemoved(ref);
    const deletes = up.sent.filter((s) => s.route.operation === 'delete');
    assert.equal(deletes.length, 1);
    assert.deepEqual(deletes[0]!.route, { source: 'edged', group: 'meta', operation: 'delete', resource: 'apps/pod/web' });
    assert.deepEqual(deletes[0]!.content, { metadata: { namespace: 'apps', name: 'web', uid: 'uid-web' } });
    sink.runtime({ reachable: true, endpoint: 'unix:///x' });
    assert.equal(views.length, 1);
  });
});
