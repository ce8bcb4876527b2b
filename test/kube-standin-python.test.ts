// Debian's python3-kubernetes, a second independent client, against the Kubernetes API
// stand-in: the same kubeconfig (CA data + bearer token), list with selectors and pages, create,
// patch (core and custom objects, the status subresource), optimistic concurrency, watch
// resumed from a list's resourceVersion, and the 410 that tells a watcher it fell behind.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { startKubeApiServer, type KubeApiServer } from '../hub/testing/kube-apiserver/index.ts';
import { run, TEST_DEVICE_CRD } from './helpers/kube-standin-fixtures.ts';

const PYTHON = '/usr/bin/python3';
const probe = spawnSync(PYTHON, ['-c', 'import kubernetes'], { encoding: 'utf8' });
const skip = probe.status === 0 ? false : `${PYTHON} cannot import kubernetes (apt-get install python3-kubernetes): ${probe.error?.message ?? probe.stderr.trim()}`;
if (skip) console.log(`# skipped: ${skip}`);

// Each step prints one JSON line: [step, result]. The test reads them back and checks each.
const SCRIPT = String.raw`
import json, sys
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

config.load_kube_config(config_file=sys.argv[1])
core = client.CoreV1Api()
custom = client.CustomObjectsApi()
G, V, P = "fixtures.edgetwin.io", "v1beta1", "testdevices"

def out(step, value):
    print(json.dumps([step, value]), flush=True)

def status_of(fn):
    try:
        fn()
        return None
    except ApiException as e:
        return {"status": e.status, "reason": json.loads(e.body).get("reason")}

out("namespaces", sorted(n.metadata.name for n in core.list_namespace().items))
for i in range(3):
    core.create_namespaced_config_map("default", {"metadata": {"name": "py-%d" % i, "labels": {"app": "py", "idx": str(i)}}, "data": {"i": str(i)}})
out("selected", [c.metadata.name for c in core.list_namespaced_config_map("default", label_selector="app=py,idx notin (1)").items])
first = core.list_namespaced_config_map("default", label_selector="app=py", limit=2)
rest = core.list_namespaced_config_map("default", label_selector="app=py", limit=2, _continue=first.metadata._continue)
out("pages", [[c.metadata.name for c in first.items], [c.metadata.name for c in rest.items], rest.metadata._continue])
out("patched", core.patch_namespaced_config_map("py-0", "default", {"data": {"extra": "yes"}}).data)
out("duplicate", status_of(lambda: core.create_namespaced_config_map("default", {"metadata": {"name": "py-0"}})))
stale = core.read_namespaced_config_map("py-1", "default")
core.patch_namespaced_config_map("py-1", "default", {"data": {"i": "changed"}})
out("stale_replace", status_of(lambda: core.replace_namespaced_config_map("py-1", "default", stale)))

listed = custom.list_namespaced_custom_object(G, V, "default", P)
rv = listed["metadata"]["resourceVersion"]
custom.create_namespaced_custom_object(G, V, "default", P, {"apiVersion": G + "/" + V, "kind": "TestDevice", "metadata": {"name": "py-dev"}, "spec": {"nodeName": "gw-a"}})
custom.patch_namespaced_custom_object(G, V, "default", P, "py-dev", {"spec": {"nodeName": "gw-b"}})
custom.patch_namespaced_custom_object_status(G, V, "default", P, "py-dev", {"status": {"state": "online"}})
got = custom.get_namespaced_custom_object(G, V, "default", P, "py-dev")
out("custom", {"nodeName": got["spec"]["nodeName"], "state": got["status"]["state"]})
out("invalid", status_of(lambda: custom.create_namespaced_custom_object(G, V, "default", P, {"apiVersion": G + "/" + V, "kind": "TestDevice", "metadata": {"name": "py-bad"}, "spec": {}})))
custom.delete_namespaced_custom_object(G, V, "default", P, "py-dev")

events = []
w = watch.Watch()
for ev in w.stream(custom.list_namespaced_custom_object, G, V, "default", P, resource_version=rv, timeout_seconds=2):
    events.append([ev["type"], ev["object"]["metadata"]["name"], ev["object"].get("spec", {}).get("nodeName")])
    if ev["type"] == "DELETED":
        w.stop()
out("watch", events)

# The stand-in keeps 20 events: 25 writes later, rv is too old to resume from.
for i in range(25):
    core.create_namespaced_config_map("default", {"metadata": {"name": "filler-%d" % i}})
try:
    for ev in watch.Watch().stream(custom.list_namespaced_custom_object, G, V, "default", P, resource_version=rv, timeout_seconds=2):
        pass
    out("expired", None)
except ApiException as e:
    out("expired", {"status": e.status})
`;

describe('python3-kubernetes against the kube-apiserver stand-in', { skip }, () => {
  let s: KubeApiServer;
  before(async () => {
    s = await startKubeApiServer({ historyLimit: 20 });
    const crds = s.registry.catalog.find('apiextensions.k8s.io', 'v1', 'customresourcedefinitions')!;
    s.registry.create(crds, '', structuredClone(TEST_DEVICE_CRD));
  });
  after(async () => s?.stop());

  it('lists, pages, creates, patches, watches and meets 409/410/422 as a Kubernetes client expects', async () => {
    const r = await run(PYTHON, ['-', s.kubeconfigPath], {}, SCRIPT, 120_000);
    assert.equal(r.code, 0, `the python client failed:\n${r.stderr}`);
    const steps = Object.fromEntries(r.stdout.trim().split('\n').map((l) => JSON.parse(l) as [string, unknown]));
    assert.deepEqual(steps.namespaces, ['default', 'kube-node-lease', 'kube-public', 'kube-system']);
    assert.deepEqual(steps.selected, ['py-0', 'py-2']);
    assert.deepEqual(steps.pages, [['py-0', 'py-1'], ['py-2'], null]);
    assert.deepEqual(steps.patched, { i: '0', extra: 'yes' });
    assert.deepEqual(steps.duplicate, { status: 409, reason: 'AlreadyExists' });
    assert.deepEqual(steps.stale_replace, { status: 409, reason: 'Conflict' });
    assert.deepEqual(steps.custom, { nodeName: 'gw-b', state: 'online' });
    assert.deepEqual(steps.invalid, { status: 422, reason: 'Invalid' });
    assert.deepEqual(steps.watch, [['ADDED', 'py-dev', 'gw-a'], ['MODIFIED', 'py-dev', 'gw-b'], ['MODIFIED', 'py-dev', 'gw-b'], ['DELETED', 'py-dev', 'gw-b']]);
    assert.deepEqual(steps.expired, { status: 410 });
  });
});
