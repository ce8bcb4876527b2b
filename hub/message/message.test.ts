import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  cloudResource, compareResourceVersion, errorTo, isDelete, isNewer, needsAck, newMessage, objectKey, OK,
  parseEdgeResource, parseFrame, prefixNode, responseTo, trimNode,
} from './index.ts';

const podInsert = () => newMessage(
  { source: 'edgecontroller', group: 'resource', operation: 'insert', resource: 'node/edge-1/default/pod/nginx' },
  { metadata: { name: 'nginx', namespace: 'default', uid: 'u-1', resourceVersion: '12' } },
  { resourceVersion: '12' },
);

describe('envelope', () => {
  it('serialises with KubeEdge JSON keys and a millisecond timestamp', () => {
    const before = Date.now();
    const m = podInsert();
    const wire = JSON.parse(JSON.stringify(m));
    assert.deepEqual(Object.keys(wire).sort(), ['content', 'header', 'route']);
    assert.match(wire.header.msg_id, /^[0-9a-f-]{36}$/);
    assert.equal(wire.header.resourceversion, '12');
    assert.ok(wire.header.timestamp >= before && wire.header.timestamp < before + 60_000);
  });

  it('a response copies source, group and resource and points at the original', () => {
    const orig = podInsert();
    const ack = responseTo(orig, OK);
    assert.equal(ack.header.parent_msg_id, orig.header.msg_id);
    assert.deepEqual(ack.route, { source: 'edgecontroller', group: 'resource', operation: 'response', resource: orig.route.resource });
    assert.equal(ack.content, 'OK');
    assert.notEqual(ack.header.msg_id, orig.header.msg_id);
  });

  it('an error reply carries the reason and the parent id', () => {
    const orig = podInsert();
    const err = errorTo(orig, 'no such thing');
    assert.equal(err.route.operation, 'error');
    assert.equal(err.content, 'no such thing');
    assert.equal(err.header.parent_msg_id, orig.header.msg_id);
  });
});

describe('resources', () => {
  it('trims node/{node}/ for the edge and puts it back on the way up', () => {
    const r = cloudResource('edge-1', 'default', 'pod', 'nginx');
    assert.equal(r, 'node/edge-1/default/pod/nginx');
    assert.deepEqual(trimNode(r), { node: 'edge-1', resource: 'default/pod/nginx' });
    assert.equal(prefixNode('edge-1', 'default/pod/nginx'), r);
    assert.equal(trimNode('default/pod/nginx'), undefined);
    assert.equal(trimNode('node//x'), undefined);
  });

  it('parses the edge form, with what follows the name', () => {
    assert.deepEqual(parseEdgeResource('default/device/thermo/twin/edge_updated'), { namespace: 'default', type: 'device', name: 'thermo', rest: 'twin/edge_updated' });
    assert.deepEqual(parseEdgeResource('default/pod'), { namespace: 'default', type: 'pod' });
    assert.equal(parseEdgeResource('nonsense'), undefined);
  });
});

describe('resource versions', () => {
  it('compares numbers of any length exactly', () => {
    assert.equal(compareResourceVersion('9', '10')! < 0, true);
    assert.equal(compareResourceVersion('18446744073709551616', '18446744073709551615')! > 0, true);
    assert.equal(compareResourceVersion('007', '7'), 0);
  });
  it('never throws on versions that are not numbers', () => {
    assert.equal(compareResourceVersion('abc', '10'), undefined);
    assert.equal(isNewer('abc', '10'), true);
    assert.equal(isNewer('abc', 'abc'), false);
    assert.equal(isNewer('5', '10'), false);
    assert.equal(isNewer('11', '10'), true);
    assert.equal(isNewer('1', undefined), true);
  });
});

describe('delivery classes', () => {
  it('pods, configmaps, devices need an ACK; membership, lease, responses do not', () => {
    assert.equal(needsAck(podInsert()), true);
    const dev = newMessage({ source: 'devicecontroller', group: 'resource', operation: 'insert', resource: 'node/n/default/device/d' }, {});
    assert.equal(needsAck(dev), true);
    const member = newMessage({ source: 'devicecontroller', group: 'twin', operation: 'update', resource: 'node/n/membership' }, {});
    assert.equal(needsAck(member), false);
    const lease = newMessage({ source: 'edgecontroller', group: 'resource', operation: 'update', resource: 'node/n/kube-node-lease/lease/n' }, {});
    assert.equal(needsAck(lease), false);
    const nodeUpdate = newMessage({ source: 'edgecontroller', group: 'resource', operation: 'update', resource: 'node/n/default/node/n' }, {});
    assert.equal(needsAck(nodeUpdate), true);
    const nodeQuery = newMessage({ source: 'edgecontroller', group: 'resource', operation: 'query', resource: 'node/n/default/node/n' }, {});
    assert.equal(needsAck(nodeQuery), false);
    assert.equal(needsAck(responseTo(podInsert(), OK)), false);
    const user = newMessage({ source: 'router_servicebus', group: 'user', operation: 'GET', resource: 'node/n/8080:/x' }, {});
    assert.equal(needsAck(user), false);
  });
  it('keys by object UID, else by resource; knows deletes', () => {
    assert.equal(objectKey(podInsert()), 'u-1');
    const bare = newMessage({ source: 's', group: 'resource', operation: 'delete', resource: 'default/pod/x' }, null);
    assert.equal(objectKey(bare), 'default/pod/x');
    assert.equal(isDelete(bare), true);
    const terminating = newMessage({ source: 's', group: 'resource', operation: 'update', resource: 'r' }, { metadata: { deletionTimestamp: '2026-01-01T00:00:00Z' } });
    assert.equal(isDelete(terminating), true);
    assert.equal(isDelete(podInsert()), false);
  });
});

describe('frames', () => {
  it('accepts a well-formed frame', () => {
    const r = parseFrame(JSON.stringify(podInsert()));
    assert.equal(r.ok, true);
  });
  it('refuses what is not JSON, too big, or not an envelope, with a reason', () => {
    const notJson = parseFrame('hello');
    assert.equal(notJson.ok, false);
    assert.match(!notJson.ok ? notJson.reason : '', /not JSON/);
    const big = parseFrame('x'.repeat(2000), 1000);
    assert.match(!big.ok ? big.reason : '', /over the limit of 1000 bytes/);
    const shape = parseFrame(JSON.stringify({ header: { msg_id: 'a' }, route: { source: 's', group: 'g', resource: 'r' } }));
    assert.equal(shape.ok, false);
    assert.match(!shape.ok ? shape.reason : '', /operation/);
    assert.equal(!shape.ok ? shape.partial?.header.msg_id : undefined, 'a');
  });
});
