// The stand-in's API conventions, checked over HTTPS with its own CA and token: what each
// client library relies on (status codes and reasons, list pages, watch resumption and 410,
// selectors, patch formats, finalizers, garbage collection, the status subresource, node
// lifecycle). The real clients (kubectl, python, client-node) are driven in test/kube-standin-*.
import assert from 'node:assert/strict';
import { request } from 'node:https';
import { after, before, describe, it } from 'node:test';
import { waitFor } from '../../../core/testing.ts';
import { startKubeApiServer, type KubeApiServer } from './index.ts';

type Obj = Record<string, any>;

interface Reply {
  status: number;
  body: Obj;
  headers: Record<string, unknown>;
}

function call(s: KubeApiServer, method: string, path: string, body?: unknown, headers: Record<string, string> = {}, token = s.token): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    const req = request(`${s.url}${path}`, {
      method, ca: s.caPem,
      // Content-Length, because node sends no body framing for DELETE without it.
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json', ...(data !== undefined ? { 'Content-Length': String(Buffer.byteLength(data)) } : {}), ...headers },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode ?? 0, body: text.startsWith('{') ? JSON.parse(text) : { text }, headers: res.headers });
      });
    });
    req.on('error', reject);
    if (data !== undefined) req.write(data);
    req.end();
  });
}

/** Opens a watch and collects its events until `count` arrived or the stream ends. */
function watchEvents(s: KubeApiServer, path: string, count: number): Promise<Obj[]> {
  return new Promise((resolve, reject) => {
    const events: Obj[] = [];
    const req = request(`${s.url}${path}`, { ca: s.caPem, headers: { Authorization: `Bearer ${s.token}` } }, (res) => {
      let buf = '';
      res.on('data', (c) => {
        buf += c.toString('utf8');
        let nl;
        while ((nl = buf.indexOf('\n')) >= 0) {
          events.push(JSON.parse(buf.slice(0, nl)));
          buf = buf.slice(nl + 1);
          if (events.length >= count) {
            req.destroy();
            resolve(events);
          }
        }
      });
      res.on('end', () => resolve(events));
      res.on('error', () => resolve(events));
    });
    req.on('error', (err) => (events.length >= count ? resolve(events) : reject(err)));
    req.end();
  });
}

const WIDGET_CRD = {
  apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition',
  metadata: { name: 'widgets.example.edgetwin.io' },
  spec: {
    group: 'example.edgetwin.io', scope: 'Namespaced',
    names: { plural: 'widgets', singular: 'widget', kind: 'Widget', shortNames: ['wg'] },
    versions: [{
      name: 'v1beta1', served: true, storage: true, subresources: { status: {} },
      schema: { openAPIV3Schema: { type: 'object', properties: {
        spec: { type: 'object', required: ['nodeName'], properties: { nodeName: { type: 'string' }, configData: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } },
        status: { type: 'object', properties: { state: { type: 'string' } } },
      } } },
    }],
  },
};
const WIDGETS = '/apis/example.edgetwin.io/v1beta1/namespaces/default/widgets';

describe('kube-apiserver stand-in', () => {
  let s: KubeApiServer;
  before(async () => {
    s = await startKubeApiServer({ historyLimit: 5, leaseGraceMs: 300, bookmarkIntervalMs: 100 });
    assert.equal((await call(s, 'POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', WIDGET_CRD)).status, 201);
  });
  after(async () => s?.stop());

  it('refuses a missing or wrong bearer token with 401 Unauthorized', async () => {
    const r = await call(s, 'GET', '/api/v1/namespaces', undefined, {}, 'wrong');
    assert.equal(r.status, 401);
    assert.equal(r.body.reason, 'Unauthorized');
  });

  it('serves a CRD once created and marks it Established and NamesAccepted', async () => {
    const crd = (await call(s, 'GET', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.edgetwin.io')).body;
    const conds = Object.fromEntries(crd.status.conditions.map((c: Obj) => [c.type, c.status]));
    assert.deepEqual(conds, { NamesAccepted: 'True', Established: 'True' });
    const disc = (await call(s, 'GET', '/apis/example.edgetwin.io/v1beta1')).body;
    assert.deepEqual(disc.resources.map((r: Obj) => r.name), ['widgets', 'widgets/status']);
    assert.equal((await call(s, 'GET', WIDGETS)).body.kind, 'WidgetList');
  });

  it('answers create, get and update with the Kubernetes codes: 201, 409 AlreadyExists, 404 NotFound, 409 Conflict on a stale resourceVersion', async () => {
    const cm = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'occ' }, data: { a: '1' } };
    const created = await call(s, 'POST', '/api/v1/namespaces/default/configmaps', cm);
    assert.equal(created.status, 201);
    const dup = await call(s, 'POST', '/api/v1/namespaces/default/configmaps', cm);
    assert.equal(dup.status, 409);
    assert.equal(dup.body.reason, 'AlreadyExists');
    assert.equal((await call(s, 'GET', '/api/v1/namespaces/default/configmaps/none')).body.reason, 'NotFound');
    const rv = created.body.metadata.resourceVersion;
    const writesBefore = s.store.writesByResource.get('/configmaps') ?? 0;
    const first = await call(s, 'PUT', '/api/v1/namespaces/default/configmaps/occ', { ...created.body, data: { a: '2' } });
    assert.equal(s.store.writesByResource.get('/configmaps'), writesBefore + 1, 'writes are counted per resource');
    assert.equal(first.status, 200);
    assert.ok(Number(first.body.metadata.resourceVersion) > Number(rv), 'resourceVersions increase');
    const stale = await call(s, 'PUT', '/api/v1/namespaces/default/configmaps/occ', { ...created.body, data: { a: '3' } });
    assert.equal(stale.status, 409);
    assert.equal(stale.body.reason, 'Conflict');
    const missingNs = await call(s, 'POST', '/api/v1/namespaces/nowhere/configmaps', { metadata: { name: 'x' } });
    assert.equal(missingNs.status, 404);
    assert.match(missingNs.body.message, /namespaces "nowhere" not found/);
  });

  it('applies merge, JSON and strategic merge patches to a pod, and refuses strategic merge for a custom resource with 415', async () => {
    const pod = { metadata: { name: 'pp' }, spec: { containers: [{ name: 'a', image: 'one' }, { name: 'b', image: 'two' }] } };
    assert.equal((await call(s, 'POST', '/api/v1/namespaces/default/pods', pod)).status, 201);
    const path = '/api/v1/namespaces/default/pods/pp';
    const smp = await call(s, 'PATCH', path, { spec: { containers: [{ name: 'b', image: 'three' }] } }, { 'Content-Type': 'application/strategic-merge-patch+json' });
    assert.deepEqual(smp.body.spec.containers.map((c: Obj) => `${c.name}=${c.image}`), ['a=one', 'b=three'], 'containers merged by name');
    const merge = await call(s, 'PATCH', path, { metadata: { labels: { tier: 'edge' } } }, { 'Content-Type': 'application/merge-patch+json' });
    assert.equal(merge.body.metadata.labels.tier, 'edge');
    const json = await call(s, 'PATCH', path, [{ op: 'remove', path: '/spec/containers/0' }], { 'Content-Type': 'application/json-patch+json' });
    assert.deepEqual(json.body.spec.containers.map((c: Obj) => c.name), ['b']);
    await call(s, 'POST', WIDGETS, { apiVersion: 'example.edgetwin.io/v1beta1', kind: 'Widget', metadata: { name: 'smp' }, spec: { nodeName: 'n' } });
    const refused = await call(s, 'PATCH', `${WIDGETS}/smp`, { spec: { nodeName: 'm' } }, { 'Content-Type': 'application/strategic-merge-patch+json' });
    assert.equal(refused.status, 415);
    assert.equal(refused.body.reason, 'UnsupportedMediaType');
    assert.equal((await call(s, 'PUT', '/api/v1/namespaces', {})).status, 405);
  });

  it('validates custom resources against the CRD schema: 422 Invalid naming the field, unknown fields pruned with a warning or refused under Strict', async () => {
    const bad = await call(s, 'POST', WIDGETS, { apiVersion: 'example.edgetwin.io/v1beta1', kind: 'Widget', metadata: { name: 'bad' }, spec: { nodeName: 5 } });
    assert.equal(bad.status, 422);
    assert.equal(bad.body.reason, 'Invalid');
    assert.equal(bad.body.details.causes[0].field, 'spec.nodeName');
    const extra = { apiVersion: 'example.edgetwin.io/v1beta1', kind: 'Widget', metadata: { name: 'extra' }, spec: { nodeName: 'n', color: 'red', configData: { free: { form: 1 } } } };
    const pruned = await call(s, 'POST', WIDGETS, extra);
    assert.equal(pruned.status, 201);
    assert.equal(pruned.body.spec.color, undefined, 'undeclared field pruned');
    assert.deepEqual(pruned.body.spec.configData, { free: { form: 1 } }, 'x-kubernetes-preserve-unknown-fields keeps what it holds');
    assert.match(String(pruned.headers.warning), /unknown field \\"spec.color\\"/);
    const strict = await call(s, 'POST', `${WIDGETS}?fieldValidation=Strict`, { ...extra, metadata: { name: 'strict' } });
    assert.equal(strict.status, 400);
    assert.match(strict.body.message, /unknown field "spec.color"/);
  });

  it('server-side applies a custom resource (merged into the live object), and refuses a CRD whose schema cannot compile', async () => {
    const apply = (body: Obj) => call(s, 'PATCH', `${WIDGETS}/applied?fieldManager=test`, JSON.stringify(body), { 'Content-Type': 'application/apply-patch+yaml' });
    const created = await apply({ apiVersion: 'example.edgetwin.io/v1beta1', kind: 'Widget', metadata: { name: 'applied' }, spec: { nodeName: 'n', configData: { a: 1 } } });
    assert.equal(created.status, 201);
    const merged = await apply({ apiVersion: 'example.edgetwin.io/v1beta1', kind: 'Widget', metadata: { name: 'applied' }, spec: { configData: { b: 2 } } });
    assert.equal(merged.status, 200);
    assert.deepEqual(merged.body.spec, { nodeName: 'n', configData: { a: 1, b: 2 } });
    const noManager = await call(s, 'PATCH', `${WIDGETS}/applied`, '{}', { 'Content-Type': 'application/apply-patch+yaml' });
    assert.equal(noManager.status, 400);
    const broken = structuredClone(WIDGET_CRD) as Obj;
    broken.metadata.name = 'brokens.example.edgetwin.io';
    Object.assign(broken.spec.names, { plural: 'brokens', singular: 'broken', kind: 'Broken', shortNames: [] });
    broken.spec.versions[0].schema.openAPIV3Schema.properties.spec.properties.nodeName = { type: 'no-such-type' };
    const refused = await call(s, 'POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', broken);
    assert.equal(refused.status, 422);
    assert.equal(refused.body.details.causes[0].field, 'spec.versions[0].schema.openAPIV3Schema');
    assert.equal((await call(s, 'GET', '/apis/example.edgetwin.io/v1beta1/namespaces/default/brokens')).status, 404, 'a refused CRD serves nothing');
  });

  it('keeps status and spec apart when the CRD has a status subresource', async () => {
    const created = await call(s, 'POST', WIDGETS, { apiVersion: 'example.edgetwin.io/v1beta1', kind: 'Widget', metadata: { name: 'st' }, spec: { nodeName: 'n' }, status: { state: 'dropped' } });
    assert.equal(created.body.status, undefined, 'status on create is dropped');
    const st = await call(s, 'PATCH', `${WIDGETS}/st/status`, { spec: { nodeName: 'ignored' }, status: { state: 'online' } }, { 'Content-Type': 'application/merge-patch+json' });
    assert.equal(st.body.status.state, 'online');
    assert.equal(st.body.spec.nodeName, 'n', '/status changes only status');
    assert.equal(st.body.metadata.generation, 1, 'a status change does not bump generation');
    const main = await call(s, 'PATCH', `${WIDGETS}/st`, { spec: { nodeName: 'm' }, status: { state: 'ignored' } }, { 'Content-Type': 'application/merge-patch+json' });
    assert.equal(main.body.status.state, 'online', 'the main resource ignores status');
    assert.equal(main.body.metadata.generation, 2);
  });

  it('filters lists with label selectors (=, !=, in, notin, exists, !) and field selectors, and refuses an unsupported field label', async () => {
    const mk = (name: string, labels: Obj, nodeName: string) => call(s, 'POST', '/api/v1/namespaces/default/pods', { metadata: { name, labels }, spec: { nodeName, containers: [{ name: 'c', image: 'i' }] } });
    await mk('sel-a', { app: 'x', tier: 'edge' }, 'gw-a');
    await mk('sel-b', { app: 'y' }, 'gw-b');
    await mk('sel-c', { app: 'z', tier: 'cloud' }, 'gw-a');
    const names = async (q: string) => (await call(s, 'GET', `/api/v1/pods?${q}`)).body.items.map((p: Obj) => p.metadata.name).filter((n: string) => n.startsWith('sel-'));
    assert.deepEqual(await names('labelSelector=app%3Dx'), ['sel-a']);
    assert.deepEqual(await names('labelSelector=app!%3Dx'), ['sel-b', 'sel-c']);
    assert.deepEqual(await names('labelSelector=app%20in%20(x,z)'), ['sel-a', 'sel-c']);
    assert.deepEqual(await names('labelSelector=app%20notin%20(x,z)'), ['sel-b']);
    assert.deepEqual(await names('labelSelector=tier'), ['sel-a', 'sel-c']);
    assert.deepEqual(await names('labelSelector=!tier'), ['sel-b']);
    assert.deepEqual(await names('fieldSelector=spec.nodeName%3Dgw-a'), ['sel-a', 'sel-c']);
    assert.deepEqual(await names('fieldSelector=spec.nodeName%3Dgw-a,metadata.name!%3Dsel-a'), ['sel-c']);
    assert.deepEqual(await names('fieldSelector=status.phase%3DPending&labelSelector=app%3Dy'), ['sel-b']);
    const unsupported = await call(s, 'GET', '/api/v1/pods?fieldSelector=spec.image%3Dx');
    assert.equal(unsupported.status, 400);
  });

  it('pages lists with limit and continue from one consistent snapshot', async () => {
    for (let i = 0; i < 5; i++) await call(s, 'POST', '/api/v1/namespaces/default/secrets', { metadata: { name: `page-${i}` }, stringData: { k: `v${i}` } });
    const first = (await call(s, 'GET', '/api/v1/namespaces/default/secrets?limit=2')).body;
    assert.equal(first.items.length, 2);
    assert.ok(first.metadata.continue);
    assert.equal(first.items[0].data.k, Buffer.from('v0').toString('base64'), 'stringData stored as data');
    await call(s, 'POST', '/api/v1/namespaces/default/secrets', { metadata: { name: 'page-00-late' } });
    const seen = [...first.items];
    let token = first.metadata.continue;
    while (token) {
      const page = (await call(s, 'GET', `/api/v1/namespaces/default/secrets?limit=2&continue=${token}`)).body;
      assert.equal(page.metadata.resourceVersion, first.metadata.resourceVersion);
      seen.push(...page.items);
      token = page.metadata.continue;
    }
    assert.deepEqual(seen.map((x) => x.metadata.name), ['page-0', 'page-1', 'page-2', 'page-3', 'page-4']);
    const stale = await call(s, 'GET', '/api/v1/namespaces/default/secrets?limit=2&continue=eyJpZCI6Im5vbmUifQ');
    assert.equal(stale.status, 410);
  });

  it('resumes a watch from a resourceVersion, sends bookmarks, and answers an expired one with a 410 Expired ERROR event', async () => {
    const list = (await call(s, 'GET', '/api/v1/namespaces/default/configmaps')).body;
    const events = watchEvents(s, `/api/v1/namespaces/default/configmaps?watch=1&allowWatchBookmarks=true&resourceVersion=${list.metadata.resourceVersion}`, 4);
    await call(s, 'POST', '/api/v1/namespaces/default/configmaps', { metadata: { name: 'w1' } });
    await call(s, 'PATCH', '/api/v1/namespaces/default/configmaps/w1', { data: { x: '1' } }, { 'Content-Type': 'application/merge-patch+json' });
    await call(s, 'DELETE', '/api/v1/namespaces/default/configmaps/w1');
    const got = await events;
    const typed = got.filter((e) => e.type !== 'BOOKMARK');
    assert.deepEqual(typed.map((e) => e.type), ['ADDED', 'MODIFIED', 'DELETED']);
    const bookmark = await watchEvents(s, `/api/v1/namespaces/default/configmaps?watch=true&allowWatchBookmarks=true&resourceVersion=${s.store.resourceVersion}`, 1);
    assert.equal(bookmark[0].type, 'BOOKMARK');
    assert.equal(bookmark[0].object.metadata.resourceVersion, String(s.store.resourceVersion));
    // historyLimit is 5: six more writes push the list's resourceVersion out of the history.
    for (let i = 0; i < 6; i++) await call(s, 'POST', '/api/v1/namespaces/default/configmaps', { metadata: { name: `old-${i}` } });
    const expired = await watchEvents(s, `/api/v1/namespaces/default/configmaps?watch=1&resourceVersion=${list.metadata.resourceVersion}`, 1);
    assert.equal(expired[0].type, 'ERROR');
    assert.equal(expired[0].object.code, 410);
    assert.equal(expired[0].object.reason, 'Expired');
  });

  it('ends a watch after timeoutSeconds', async () => {
    const events = await watchEvents(s, `/api/v1/namespaces/default/events?watch=1&timeoutSeconds=1&resourceVersion=${s.store.resourceVersion}`, 1);
    assert.deepEqual(events, []);
  });

  it('deletes an object with finalizers only when its finalizers are gone, and collects objects whose owner is gone', async () => {
    const owner = (await call(s, 'POST', WIDGETS, { apiVersion: 'example.edgetwin.io/v1beta1', kind: 'Widget', metadata: { name: 'owner', finalizers: ['example.edgetwin.io/cleanup'] }, spec: { nodeName: 'n' } })).body;
    await call(s, 'POST', '/api/v1/namespaces/default/configmaps', {
      metadata: { name: 'owned', ownerReferences: [{ apiVersion: 'example.edgetwin.io/v1beta1', kind: 'Widget', name: 'owner', uid: owner.metadata.uid }] },
    });
    const deleting = await call(s, 'DELETE', `${WIDGETS}/owner`);
    assert.equal(deleting.status, 200);
    assert.ok(deleting.body.metadata.deletionTimestamp, 'deletionTimestamp set while finalizers remain');
    assert.equal((await call(s, 'GET', `${WIDGETS}/owner`)).status, 200);
    assert.equal((await call(s, 'GET', '/api/v1/namespaces/default/configmaps/owned')).status, 200, 'the owner still exists, so its dependent stays');
    const released = await call(s, 'PATCH', `${WIDGETS}/owner`, [{ op: 'remove', path: '/metadata/finalizers' }], { 'Content-Type': 'application/json-patch+json' });
    assert.equal(released.status, 200);
    assert.equal((await call(s, 'GET', `${WIDGETS}/owner`)).status, 404);
    await waitFor('the garbage collector to delete the owned ConfigMap', async () => (await call(s, 'GET', '/api/v1/namespaces/default/configmaps/owned')).status === 404);
  });

  it('orphans dependents with propagationPolicy Orphan and deletes them first with Foreground', async () => {
    const owner = async (name: string) => (await call(s, 'POST', WIDGETS, { apiVersion: 'example.edgetwin.io/v1beta1', kind: 'Widget', metadata: { name }, spec: { nodeName: 'n' } })).body;
    const dependent = (name: string, o: Obj) => call(s, 'POST', '/api/v1/namespaces/default/configmaps', {
      metadata: { name, ownerReferences: [{ apiVersion: 'example.edgetwin.io/v1beta1', kind: 'Widget', name: o.metadata.name, uid: o.metadata.uid }] },
    });
    const kept = await owner('orphaner');
    await dependent('orphaned', kept);
    await call(s, 'DELETE', `${WIDGETS}/orphaner`, { kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: 'Orphan' });
    const orphan = await call(s, 'GET', '/api/v1/namespaces/default/configmaps/orphaned');
    assert.equal(orphan.status, 200);
    assert.equal(orphan.body.metadata.ownerReferences, undefined, 'the owner reference is removed, the object kept');
    const first = await owner('foreground');
    await dependent('fg-dependent', first);
    await call(s, 'DELETE', `${WIDGETS}/foreground?propagationPolicy=Foreground`);
    assert.equal((await call(s, 'GET', '/api/v1/namespaces/default/configmaps/fg-dependent')).status, 404);
    assert.equal((await call(s, 'GET', `${WIDGETS}/foreground`)).status, 404);
  });

  it('deletes a pod bound to a node gracefully: Terminating until a delete with grace period 0, as from its kubelet', async () => {
    await call(s, 'POST', '/api/v1/nodes', { metadata: { name: 'gw-pods' } });
    await call(s, 'POST', '/api/v1/namespaces/default/pods', { metadata: { name: 'graceful' }, spec: { nodeName: 'gw-pods', containers: [{ name: 'c', image: 'i' }] } });
    const first = await call(s, 'DELETE', '/api/v1/namespaces/default/pods/graceful');
    assert.equal(first.body.metadata.deletionGracePeriodSeconds, 30);
    assert.ok(first.body.metadata.deletionTimestamp);
    assert.equal((await call(s, 'GET', '/api/v1/namespaces/default/pods/graceful')).status, 200);
    await call(s, 'DELETE', '/api/v1/namespaces/default/pods/graceful', { gracePeriodSeconds: 0 });
    assert.equal((await call(s, 'GET', '/api/v1/namespaces/default/pods/graceful')).status, 404);
    await call(s, 'POST', '/api/v1/namespaces/default/pods', { metadata: { name: 'unbound' }, spec: { containers: [{ name: 'c', image: 'i' }] } });
    await call(s, 'DELETE', '/api/v1/namespaces/default/pods/unbound');
    assert.equal((await call(s, 'GET', '/api/v1/namespaces/default/pods/unbound')).status, 404, 'a pod on no node goes at once');
  });

  it('streams the current objects then an initial-events-end bookmark with sendInitialEvents', async () => {
    await call(s, 'POST', '/api/v1/namespaces/default/serviceaccounts', { metadata: { name: 'initial' } });
    const events = await watchEvents(s, '/api/v1/namespaces/default/serviceaccounts?watch=1&sendInitialEvents=true&allowWatchBookmarks=true&resourceVersionMatch=NotOlderThan', 2);
    assert.equal(events[0].type, 'ADDED');
    assert.equal(events[0].object.metadata.name, 'initial');
    assert.equal(events[1].type, 'BOOKMARK');
    assert.equal(events[1].object.metadata.annotations['k8s.io/initial-events-end'], 'true');
  });

  it('stops serving a CRD\'s resource, and deletes its objects, when the CRD is deleted', async () => {
    const crd = structuredClone(WIDGET_CRD);
    crd.metadata.name = 'gadgets.example.edgetwin.io';
    Object.assign(crd.spec.names, { plural: 'gadgets', singular: 'gadget', kind: 'Gadget', shortNames: [] });
    await call(s, 'POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd);
    const gadgets = '/apis/example.edgetwin.io/v1beta1/namespaces/default/gadgets';
    assert.equal((await call(s, 'POST', gadgets, { apiVersion: 'example.edgetwin.io/v1beta1', kind: 'Gadget', metadata: { name: 'g' }, spec: { nodeName: 'n' } })).status, 201);
    const watching = watchEvents(s, `${gadgets}?watch=1&resourceVersion=${s.store.resourceVersion}`, 10);
    await waitFor('the watch to be open', () => (s.store as unknown as { subscribers: Set<unknown> }).subscribers.size > 0);
    await call(s, 'DELETE', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/gadgets.example.edgetwin.io');
    assert.deepEqual((await watching).map((e) => `${e.type} ${e.object.metadata.name}`), ['DELETED g'], 'the watch sees the object go, then ends');
    assert.equal((await call(s, 'GET', gadgets)).status, 404);
    assert.deepEqual(s.store.list('example.edgetwin.io/gadgets'), []);
    assert.equal((await call(s, 'GET', WIDGETS)).status, 200, 'the other CRD of the group is still served');
  });

  it('marks a node whose lease lapses Unknown (NotReady), as the node lifecycle controller does', async () => {
    const renewTime = new Date().toISOString();
    await call(s, 'POST', '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases', { metadata: { name: 'gw-lease' }, spec: { holderIdentity: 'gw-lease', renewTime } });
    await call(s, 'POST', '/api/v1/nodes', { metadata: { name: 'gw-lease' }, status: { conditions: [{ type: 'Ready', status: 'True', lastHeartbeatTime: renewTime }] } });
    const ready = await waitFor('the node to go Unknown after its 300 ms lease grace', async () => {
      const node = (await call(s, 'GET', '/api/v1/nodes/gw-lease')).body;
      const c = node.status.conditions.find((x: Obj) => x.type === 'Ready');
      return c.status === 'Unknown' ? c : undefined;
    });
    assert.equal(ready.reason, 'NodeStatusUnknown');
  });

  it('empties and removes a deleted namespace', async () => {
    await call(s, 'POST', '/api/v1/namespaces', { metadata: { name: 'doomed' } });
    await call(s, 'POST', '/api/v1/namespaces/doomed/configmaps', { metadata: { name: 'inside' } });
    const del = await call(s, 'DELETE', '/api/v1/namespaces/doomed');
    assert.equal(del.body.status.phase, 'Terminating');
    await waitFor('the namespace to be gone', async () => (await call(s, 'GET', '/api/v1/namespaces/doomed')).status === 404);
    assert.equal((await call(s, 'GET', '/api/v1/namespaces/doomed/configmaps/inside')).status, 404);
  });

  it('renders Table output with printer columns when asked for as=Table', async () => {
    const t = (await call(s, 'GET', '/api/v1/nodes', undefined, { Accept: 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json' })).body;
    assert.equal(t.kind, 'Table');
    assert.deepEqual(t.columnDefinitions.filter((c: Obj) => c.priority === 0).map((c: Obj) => c.name), ['Name', 'Status', 'Roles', 'Age', 'Version']);
    const row = t.rows.find((r: Obj) => r.cells[0] === 'gw-lease');
    assert.equal(row.cells[1], 'NotReady', 'a Ready condition of Unknown prints NotReady');
  });
});
