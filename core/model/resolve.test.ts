// Merging a Device with its DeviceModel: overrides, cycles, extensions, warnings, fingerprints.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadFromTexts, type ModelLoad } from './load.ts';
import type { PropertySpec } from '../device.ts';

/** file:line of a source, without the per-field positions. */
const at = (s: { file: string; line: number } | undefined) => s && { file: s.file, line: s.line };

const MODEL = `apiVersion: devices.kubeedge.io/v1beta1
kind: DeviceModel
metadata:
  name: line-model
spec:
  protocol: modbus
  protocolConfigData:
    communicateMode: TCP
    port: "502"
    timeout: 1000
  visitors:
    - propertyName: speed
      configData: { register: HoldingRegister, offset: 0, scale: 0.1, deadband: 0.5 }
    - propertyName: count
      configData: { register: InputRegister, offset: 4 }
  properties:
    - name: speed
      description: belt speed
      type: FLOAT
      accessMode: ReadWrite
      minimum: "0"
      maximum: "2.5"
      unit: m/s
    - name: count
      type: INT
      accessMode: ReadOnly
    - name: running
      type: BOOLEAN
      accessMode: ReadWrite
    - name: frames
      type: STREAM
`;

const DEVICE = `apiVersion: devices.kubeedge.io/v1beta1
kind: Device
metadata:
  name: line-1
  namespace: default
spec:
  deviceModelRef:
    name: line-model
  nodeName: edge-a
  protocol:
    protocolName: Modbus
    configData:
      ip: 10.0.0.5
      port: "1502"
  properties:
    - name: speed
      collectCycle: 500
      reportCycle: 10000000000
      reportToCloud: true
      desired:
        value: "1.5"
      visitors:
        protocolName: modbus
        configData: { offset: 2, reconcile: enforce }
    - name: running
      desired:
        value: "true"
      visitors:
        configData: { register: CoilRegister, offset: 0 }
      pushMethod:
        mqtt: { address: "tcp://127.0.0.1:1883", topic: line/running, qos: 1 }
        dbMethod:
          influxdb2: { url: "http://127.0.0.1:8086" }
  stateReport:
    reportToCloud: true
    reportCycle: 5000
status:
  twins:
    - propertyName: speed
      reported: { value: "1.2" }
`;

function load(...texts: [string, string][]): ModelLoad {
  return loadFromTexts(texts.map(([file, text]) => ({ file, text })));
}

function property(r: ModelLoad, name: string): PropertySpec {
  const p = r.devices[0]?.properties.find((x) => x.name === name);
  assert.ok(p, `no property ${name}: ${r.errors.map((e) => e.format()).join('\n')}`);
  return p;
}

const lineOf = (text: string, needle: string) => text.split('\n').findIndex((l) => l.includes(needle)) + 1;

test('the model gives each property its type, access mode, limits and unit', () => {
  const r = load(['m.yaml', MODEL], ['d.yaml', DEVICE]);
  assert.deepEqual(r.errors, []);
  const speed = property(r, 'speed');
  assert.deepEqual([speed.type, speed.accessMode, speed.minimum, speed.maximum, speed.unit, speed.description],
    ['float', 'ReadWrite', 0, 2.5, 'm/s', 'belt speed']);
  assert.equal(property(r, 'count').accessMode, 'ReadOnly');
  assert.equal(property(r, 'running').type, 'boolean');
});

test('device configData overrides the model key by key, for the protocol and for each visitor', () => {
  const r = load(['m.yaml', MODEL], ['d.yaml', DEVICE]);
  const d = r.devices[0];
  assert.equal(d.protocol, 'modbus');
  assert.deepEqual(d.protocolConfig, { communicateMode: 'TCP', port: '1502', timeout: 1000, ip: '10.0.0.5' });
  assert.deepEqual(property(r, 'speed').visitor, { register: 'HoldingRegister', offset: 2, scale: 0.1, deadband: 0.5, reconcile: 'enforce' });
  assert.deepEqual(property(r, 'running').visitor, { register: 'CoilRegister', offset: 0 });
});

test('a model property with a model visitor runs without the device listing it; one with neither is left out', () => {
  const r = load(['m.yaml', MODEL], ['d.yaml', DEVICE]);
  assert.deepEqual(r.devices[0].properties.map((p) => p.name), ['speed', 'running', 'count']);
  const count = property(r, 'count');
  assert.deepEqual(count.visitor, { register: 'InputRegister', offset: 4 });
  assert.deepEqual(at(count.source), { file: 'm.yaml', line: lineOf(MODEL, '- name: count') });
});

test('deadband and reconcile come from visitor configData and stay in the visitor', () => {
  const r = load(['m.yaml', MODEL], ['d.yaml', DEVICE]);
  const speed = property(r, 'speed');
  assert.equal(speed.deadband, 0.5);
  assert.equal(speed.reconcile, 'enforce');
  assert.equal(property(r, 'running').reconcile, 'once');
  assert.equal(property(r, 'running').deadband, undefined);
});

test('cycles are milliseconds; absent means 1000; nanoseconds are converted with a warning naming file:line', () => {
  const r = load(['m.yaml', MODEL], ['d.yaml', DEVICE]);
  const speed = property(r, 'speed');
  assert.equal(speed.collectCycle, 500);
  assert.equal(speed.reportCycle, 10000);
  assert.equal(speed.reportToCloud, true);
  const running = property(r, 'running');
  assert.deepEqual([running.collectCycle, running.reportCycle, running.reportToCloud], [1000, 1000, false]);
  const w = r.warnings.find((x) => x.where.path?.endsWith('reportCycle'));
  assert.ok(w);
  assert.equal(w.format(), `d.yaml:${lineOf(DEVICE, 'reportCycle: 10000000000')}: default/line-1 property speed: spec.properties[0].reportCycle: ` +
    'reportCycle 10000000000 read as nanoseconds: 10000 ms (edgetwin cycles are milliseconds; write reportCycle: 10000)');
});

test('a zero cycle means 1000 ms', () => {
  const r = load(['m.yaml', MODEL], ['d.yaml', DEVICE.replace('collectCycle: 500', 'collectCycle: 0')]);
  assert.equal(property(r, 'speed').collectCycle, 1000);
});

test('desired values are typed by the model', () => {
  const r = load(['m.yaml', MODEL], ['d.yaml', DEVICE]);
  assert.equal(property(r, 'speed').desired, 1.5);
  assert.equal(property(r, 'running').desired, true);
  assert.equal(property(r, 'count').desired, undefined);
});

test('unsupported fields load with a warning naming device and property', () => {
  const r = load(['m.yaml', MODEL], ['d.yaml', DEVICE.replace('  properties:\n', '  properties:\n    - name: frames\n')]);
  assert.deepEqual(r.errors, []);
  const frames = property(r, 'frames');
  assert.match(frames.unsupported ?? '', /STREAM is not supported yet/);
  const running = property(r, 'running');
  assert.deepEqual(running.pushMethod, { mqtt: { address: 'tcp://127.0.0.1:1883', topic: 'line/running', qos: 1 } });
  assert.equal(running.unsupported, undefined);
  const messages = r.warnings.map((w) => w.format());
  assert.ok(messages.some((m) => /^d\.yaml:\d+: default\/line-1 property frames: spec\.properties\[0\]: type STREAM is not supported yet/.test(m)), messages.join('\n'));
  assert.ok(messages.some((m) => m.startsWith(`d.yaml:${lineOf(DEVICE, 'dbMethod:') + 1}: default/line-1 property running: `
    + 'spec.properties[2].pushMethod.dbMethod: pushMethod.dbMethod is not supported yet')), messages.join('\n'));
});

test('pushMethod.otel is a warning too', () => {
  const text = DEVICE.replace('        dbMethod:\n          influxdb2: { url: "http://127.0.0.1:8086" }\n', '        otel: { endpointURL: "http://127.0.0.1:4318" }\n');
  const r = load(['m.yaml', MODEL], ['d.yaml', text]);
  assert.deepEqual(r.warnings.filter((w) => /otel/.test(w.message)).map((w) => w.where.property), ['running']);
});

test('legacy status.twins and stateReport load with no error or warning, and a DeviceStatus document is accepted', () => {
  const status = 'apiVersion: devices.kubeedge.io/v1beta1\nkind: DeviceStatus\nmetadata:\n  name: line-1\nstatus:\n  twins: []\n';
  const r = load(['m.yaml', MODEL], ['d.yaml', DEVICE], ['s.yaml', status]);
  assert.deepEqual(r.errors, []);
  assert.deepEqual(r.warnings.map((w) => w.where.path), ['spec.properties[0].reportCycle', 'spec.properties[1].pushMethod.dbMethod']);
  assert.equal(r.devices.length, 1);
});

test('protocol names are canonical: ble is bluetooth, plugin names pass through lower-cased', () => {
  for (const [given, canonical] of [['BLE', 'bluetooth'], ['opcua', 'opcua'], ['Serial', 'serial'], ['MyCanBus', 'mycanbus']]) {
    const r = load(['m.yaml', MODEL.replace('protocol: modbus', `protocol: ${given}`)], ['d.yaml', DEVICE.replace('protocolName: Modbus', `protocolName: ${given}`)]);
    assert.equal(r.devices[0].protocol, canonical);
  }
});

test('a device protocol other than its model\'s is used, with a warning', () => {
  const r = load(['m.yaml', MODEL], ['d.yaml', DEVICE.replace('protocolName: Modbus', 'protocolName: virtual')]);
  assert.equal(r.devices[0].protocol, 'virtual');
  assert.match(r.warnings.map((w) => w.format()).join('\n'), /protocol "virtual" differs from its model's protocol "modbus"/);
});

test('an unknown field is a warning, and the device still loads', () => {
  const r = load(['m.yaml', MODEL], ['d.yaml', DEVICE.replace('  nodeName: edge-a\n', '  nodeName: edge-a\n  nodename: edge-b\n')]);
  assert.equal(r.devices.length, 1);
  assert.match(r.warnings.map((w) => w.format()).join('\n'), /d\.yaml:10: default\/line-1: spec\.nodename: unknown field "nodename" is ignored/);
});

test('device and properties carry their source; node name and methods are kept', () => {
  const text = DEVICE.replace('  stateReport:', '  methods:\n    - name: start\n      propertyNames: [running, speed]\n  stateReport:');
  const r = load(['m.yaml', MODEL], ['d.yaml', text]);
  const d = r.devices[0];
  assert.deepEqual(at(d.source), { file: 'd.yaml', line: 1 });
  assert.deepEqual(at(property(r, 'running').source), { file: 'd.yaml', line: lineOf(text, '- name: running') });
  assert.equal(d.nodeName, 'edge-a');
  assert.equal(d.model, 'line-model');
  assert.deepEqual(d.methods, [{ name: 'start', propertyNames: ['running', 'speed'] }]);
});

test('the fingerprint ignores where a device sits in its file and changes with what it does', () => {
  const base = load(['m.yaml', MODEL], ['d.yaml', DEVICE]).devices[0].fingerprint;
  assert.match(base, /^[0-9a-f]{64}$/);
  const moved = load(['m.yaml', `# a comment\n\n${MODEL}`], ['other.yaml', `# header\n${DEVICE}`]).devices[0];
  assert.equal(moved.fingerprint, base);
  assert.notEqual(moved.source?.line, 1);
  const edits = [
    DEVICE.replace('collectCycle: 500', 'collectCycle: 600'),
    DEVICE.replace('ip: 10.0.0.5', 'ip: 10.0.0.6'),
    DEVICE.replace('offset: 2,', 'offset: 3,'),
  ];
  for (const text of edits) assert.notEqual(load(['m.yaml', MODEL], ['d.yaml', text]).devices[0].fingerprint, base);
  // A new desired value goes through the twin's reconcile; the device need not restart for it.
  assert.equal(load(['m.yaml', MODEL], ['d.yaml', DEVICE.replace('value: "1.5"', 'value: "1.6"')]).devices[0].fingerprint, base);
  assert.notEqual(load(['m.yaml', MODEL.replace('unit: m/s', 'unit: mm/s')], ['d.yaml', DEVICE]).devices[0].fingerprint, base);
});

test('collectCycle 0 keeps meaning 1000 ms and a cycle below 10 ms is taken; each is warned with file:line', () => {
  const device = DEVICE.replace('collectCycle: 500', 'collectCycle: 0').replace('reportCycle: 10000000000', 'reportCycle: 1');
  const r = load(['m.yaml', MODEL], ['d.yaml', device]);
  assert.deepEqual(r.errors, []);
  const speed = property(r, 'speed');
  assert.equal(speed.collectCycle, 1000);
  assert.equal(speed.reportCycle, 1);
  const zero = r.warnings.find((x) => x.where.path?.endsWith('collectCycle'));
  assert.ok(zero, 'a warning for collectCycle 0');
  assert.equal(zero.format(), `d.yaml:${lineOf(device, 'collectCycle: 0')}: default/line-1 property speed: spec.properties[0].collectCycle: ` +
    'collectCycle 0 means the default, 1000 ms (write collectCycle: 1000 to say so, or remove the key)');
  const short = r.warnings.find((x) => x.where.path?.endsWith('reportCycle'));
  assert.ok(short, 'a warning for reportCycle 1');
  assert.match(short.format(), new RegExp(`^d\\.yaml:${lineOf(device, 'reportCycle: 1')}: .*reportCycle 1 ms is below 10 ms`));
  // Absent cycles are the default without a word.
  assert.equal(r.warnings.filter((x) => /Cycle/.test(x.message) && x.where.device === 'default/line-1' && !x.where.path?.includes('properties[0]')).length, 0);
});

test('devices of one model share the model\'s field sources, and each still points at its own file for its own fields', () => {
  const second = DEVICE.replace('name: line-1', 'name: line-2').replace('ip: 10.0.0.5', 'ip: 10.0.0.6');
  const r = load(['m.yaml', MODEL], ['d.yaml', DEVICE], ['d2.yaml', second]);
  assert.deepEqual(r.errors, []);
  const [a, b] = ['line-1', 'line-2'].map((n) => r.devices.find((d) => d.name === n)?.properties.find((p) => p.name === 'speed')?.source?.fields);
  assert.ok(a && b);
  // One object for both devices: the model was written once.
  assert.equal(a.type, b.type);
  assert.equal(a.scale, b.scale);
  assert.deepEqual(a.type, { file: 'm.yaml', line: lineOf(MODEL, 'type: FLOAT'), path: 'spec.properties[0].type' });
  // The device's own visitor keys stay per device.
  assert.notEqual(a.offset, b.offset);
  assert.deepEqual([a.offset?.file, b.offset?.file], ['d.yaml', 'd2.yaml']);
});
