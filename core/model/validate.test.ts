// Every validation error a user can meet, with the file, line, path and a phrase that says what to do.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadFromTexts, type ModelLoad } from './load.ts';
import type { EdgetwinError } from '../errors.ts';

const MODEL = `apiVersion: devices.kubeedge.io/v1beta1
kind: DeviceModel
metadata:
  name: thermostat
  namespace: default
spec:
  protocol: virtual
  properties:
    - name: temperature
      type: FLOAT
      accessMode: ReadOnly
      unit: C
    - name: setpoint
      type: INT
      accessMode: ReadWrite
      minimum: "5"
      maximum: "90"
`;

function device(name: string, properties: string, extra = ''): string {
  return `apiVersion: devices.kubeedge.io/v1beta1
kind: Device
metadata:
  name: ${name}
spec:
  deviceModelRef:
    name: thermostat
  protocol:
    protocolName: virtual
${extra}  properties:
${properties}`;
}

/** 1-based line of the first line containing `needle`, searched from the line that is exactly `after`. */
function lineOf(text: string, needle: string, after?: string): number {
  const lines = text.split('\n');
  const start = after ? lines.findIndex((l) => l.trim() === after) : 0;
  const i = lines.findIndex((l, n) => n >= start && l.includes(needle));
  assert.ok(i >= 0, `fixture has no line with ${needle}`);
  return i + 1;
}

function load(...texts: [string, string][]): ModelLoad {
  return loadFromTexts(texts.map(([file, text]) => ({ file, text })));
}

function only(errors: EdgetwinError[]): EdgetwinError {
  assert.equal(errors.length, 1, errors.map((e) => e.format()).join('\n'));
  return errors[0];
}

test('a desired value above the maximum names file, line, device, property, path and the allowed range', () => {
  const text = `${MODEL}---\n${device('thermo-1', '    - name: setpoint\n      desired:\n        value: "95"\n')}`;
  const r = load(['examples/x.yaml', text]);
  const e = only(r.errors);
  const line = lineOf(text, 'value: "95"');
  assert.equal(e.format(), `examples/x.yaml:${line}: default/thermo-1 property setpoint: spec.properties[0].desired.value: ` +
    `95 is above maximum 90 (set a value within 5..90 or change the model's maximum)`);
  assert.equal(e.code, 'ET_MODEL_VALUE');
  assert.deepEqual(r.devices, []);
});

test('a desired value below the minimum says so', () => {
  const text = `${MODEL}---\n${device('thermo-1', '    - name: setpoint\n      desired:\n        value: "2"\n')}`;
  const e = only(load(['a.yaml', text]).errors);
  assert.match(e.format(), /^a\.yaml:\d+: default\/thermo-1 property setpoint: spec\.properties\[0\]\.desired\.value: 2 is below minimum 5 \(set a value within 5\.\.90/);
});

test('a desired value of the wrong type names the expected type', () => {
  const text = `${MODEL}---\n${device('thermo-1', '    - name: setpoint\n      desired:\n        value: warm\n')}`;
  const e = only(load(['a.yaml', text]).errors);
  assert.equal(e.where.line, lineOf(text, 'value: warm'));
  assert.equal(e.where.path, 'spec.properties[0].desired.value');
  assert.match(e.message, /expected a decimal integer: optional sign and digits, e.g. -42, got "warm" for a int property/);
});

test('a desired value is decimal only, quoted or not: YAML\'s 0x10, 0o17 and .inf are refused with their text', () => {
  for (const v of ['0x10', '"0x10"', '0o17', '"0b1111"', '.inf', '.nan']) {
    const text = `${MODEL}---\n${device('thermo-1', `    - name: setpoint\n      desired:\n        value: ${v}\n`)}`;
    const e = only(load(['a.yaml', text]).errors);
    assert.equal(e.where.line, lineOf(text, `value: ${v}`), v);
    assert.match(e.message, new RegExp(`expected a decimal integer: optional sign and digits, e.g. -42, got "${v.replace(/"/g, '').replace('.', '\\.')}"`), v);
  }
  // Decimal forms load; YAML's numbers elsewhere (configData) keep their meaning.
  const ok = `${MODEL}---\n${device('thermo-1', '    - name: setpoint\n      desired:\n        value: 12\n')}`;
  assert.deepEqual(load(['a.yaml', ok]).errors, []);
});

test('a desired value on a ReadOnly property is an error', () => {
  const text = `${MODEL}---\n${device('thermo-1', '    - name: temperature\n      desired:\n        value: "20"\n')}`;
  const e = only(load(['a.yaml', text]).errors);
  assert.equal(e.code, 'ET_READ_ONLY');
  assert.equal(e.where.property, 'temperature');
  assert.match(e.format(), /ReadOnly property \(remove desired, or make the property ReadWrite/);
});

test('an unknown kind says which kinds are accepted', () => {
  const text = 'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n';
  const e = only(load(['k.yaml', text]).errors);
  assert.equal(e.code, 'ET_MODEL_KIND');
  assert.equal(e.where.line, 2);
  assert.match(e.format(), /^k\.yaml:2: kind: unknown kind "Deployment": edgetwin loads Device, DeviceModel and DeviceStatus/);
});

test('an unsupported apiVersion says which one is accepted', () => {
  const text = MODEL.replace('v1beta1', 'v1alpha2');
  const e = only(load(['m.yaml', text]).errors);
  assert.equal(e.where.line, 1);
  assert.match(e.format(), /apiVersion "devices\.kubeedge\.io\/v1alpha2" is not supported: edgetwin accepts devices\.kubeedge\.io\/v1beta1/);
});

test('a device whose model is missing names the model, the namespace and the models that did load', () => {
  const text = device('thermo-1', '    - name: setpoint\n').replace('name: thermostat', 'name: thermostat-v2');
  const r = load(['m.yaml', MODEL], ['d.yaml', text]);
  const e = only(r.errors);
  assert.equal(e.code, 'ET_MODEL_MISSING');
  assert.equal(e.where.line, lineOf(text, 'name: thermostat-v2'));
  assert.equal(e.where.path, 'spec.deviceModelRef.name');
  assert.match(e.format(), /DeviceModel "thermostat-v2" not found in namespace default \(define a DeviceModel named thermostat-v2 .*loaded models: default\/thermostat\)/);
});

test('a model in another namespace is pointed out', () => {
  const text = device('thermo-1', '    - name: setpoint\n').replace('name: thermo-1', 'name: thermo-1\n  namespace: plant');
  const e = only(load(['m.yaml', MODEL], ['d.yaml', text]).errors);
  assert.equal(e.where.device, 'plant/thermo-1');
  assert.match(e.format(), /looked up in its device's namespace; found default\/thermostat/);
});

test('a property not in the model lists the properties it has', () => {
  const text = `${MODEL}---\n${device('thermo-1', '    - name: setpoint\n    - name: humidity\n')}`;
  const e = only(load(['a.yaml', text]).errors);
  assert.equal(e.code, 'ET_MODEL_PROPERTY');
  assert.equal(e.where.line, lineOf(text, '- name: humidity'));
  assert.equal(e.format(), `a.yaml:${e.where.line}: default/thermo-1 property humidity: spec.properties[1].name: ` +
    `property "humidity" is not in model default/thermostat (fix the name or add it to the model's spec.properties; known: temperature, setpoint)`);
});

test('a collectCycle that is not a number is a schema error with a hint', () => {
  const text = `${MODEL}---\n${device('thermo-1', '    - name: setpoint\n      collectCycle: abc\n')}`;
  const e = only(load(['a.yaml', text]).errors);
  assert.equal(e.code, 'ET_MODEL_SCHEMA');
  assert.equal(e.format(), `a.yaml:${lineOf(text, 'collectCycle: abc')}: default/thermo-1 property setpoint: spec.properties[0].collectCycle: ` +
    `expected a whole number, got "abc" (milliseconds between reads, a whole number such as 1000)`);
});

test('properties that are not a list say how to write a list', () => {
  const text = `${MODEL}---\n${device('thermo-1', '    name: setpoint\n')}`;
  const e = only(load(['a.yaml', text]).errors);
  assert.equal(e.where.path, 'spec.properties');
  assert.equal(e.where.line, lineOf(text, 'properties:', 'kind: Device'));
  assert.match(e.format(), /expected a list, got a map \(write a YAML list: each item starts with "- name: \.\.\."\)/);
});

test('a lower-case property type lists the KubeEdge types', () => {
  const text = MODEL.replace('type: INT', 'type: int');
  const e = only(load(['m.yaml', text]).errors);
  assert.equal(e.where.line, lineOf(text, 'type: int'));
  assert.equal(e.where.property, 'setpoint');
  assert.match(e.format(), /"int" is not one of INT, FLOAT, DOUBLE, STRING, BOOLEAN, BYTES, STREAM/);
});

test('an absent protocolName is an error that lists the protocols', () => {
  const text = `${MODEL}---\n${device('thermo-1', '    - name: setpoint\n').replace('    protocolName: virtual\n', '    configData: {}\n')}`;
  const e = only(load(['a.yaml', text]).errors);
  assert.equal(e.where.path, 'spec.protocol.protocolName');
  assert.equal(e.where.line, lineOf(text, 'protocol:', 'kind: Device'));
  assert.match(e.format(), /missing required field "protocolName" \(set spec\.protocol\.protocolName to modbus, opcua, bluetooth, serial, virtual/);
});

test('an invalid object name explains Kubernetes names', () => {
  const text = `${MODEL}---\n${device('Thermo_1', '    - name: setpoint\n')}`;
  const e = only(load(['a.yaml', text]).errors);
  assert.equal(e.where.path, 'metadata.name');
  assert.match(e.format(), /"Thermo_1" is not a valid name \(Kubernetes names use lower-case letters/);
});

test('two Devices with one name: the first is kept, the second is an error naming both places', () => {
  const a = `${MODEL}---\n${device('thermo-1', '    - name: setpoint\n')}`;
  const b = `# copy\n${device('thermo-1', '    - name: temperature\n')}`;
  const r = load(['a.yaml', a], ['b.yaml', b]);
  const e = only(r.errors);
  assert.equal(e.code, 'ET_MODEL_DUPLICATE');
  assert.equal(e.format(), `b.yaml:${lineOf(b, 'name: thermo-1')}: default/thermo-1: metadata.name: duplicate Device default/thermo-1: ` +
    `already defined at a.yaml:${lineOf(a, 'kind:', 'kind: Device') - 1}; this one is ignored (rename one of them or remove the copy)`);
  assert.deepEqual(r.devices.map((d) => d.properties.map((p) => p.name)), [['setpoint']]);
});

test('two DeviceModels with one name: the first is kept', () => {
  const r = load(['a.yaml', MODEL], ['b.yaml', MODEL.replace('unit: C', 'unit: F')]);
  const e = only(r.errors);
  assert.match(e.format(), /^b\.yaml:4: metadata\.name: duplicate DeviceModel default\/thermostat: already defined at a\.yaml:1/);
  assert.equal(r.models.get('default/thermostat')?.spec.properties?.[0].unit, 'C');
});

test('a property listed twice in a device, or in a model, is an error', () => {
  const text = `${MODEL}---\n${device('thermo-1', '    - name: setpoint\n    - name: setpoint\n')}`;
  const e = only(load(['a.yaml', text]).errors);
  assert.equal(e.where.path, 'spec.properties[1].name');
  assert.match(e.message, /duplicate property "setpoint" \(first at line \d+\)/);

  const model = MODEL + '    - name: setpoint\n      type: FLOAT\n';
  const m = load(['m.yaml', model]);
  assert.equal(only(m.errors).where.line, model.split('\n').length - 2);
  assert.equal(m.models.size, 0);
});

test('a bad model rejects only the devices that use it, saying why', () => {
  const bad = MODEL.replace('maximum: "90"', 'maximum: "ninety"');
  const other = MODEL.replace('name: thermostat', 'name: chiller');
  const d1 = device('thermo-1', '    - name: setpoint\n');
  const d2 = device('chiller-1', '    - name: setpoint\n').replace('name: thermostat', 'name: chiller');
  const r = load(['bad.yaml', bad], ['other.yaml', other], ['d.yaml', `${d1}---\n${d2}`]);
  assert.deepEqual(r.devices.map((d) => d.id), ['default/chiller-1']);
  assert.equal(r.errors.length, 2);
  assert.equal(r.errors[0].format(), `bad.yaml:${lineOf(bad, 'maximum:')}: property setpoint: spec.properties[1].maximum: ` +
    `maximum "ninety" is not a number (write the maximum of a INT property as a number, e.g. "100")`);
  assert.equal(r.errors[1].where.device, 'default/thermo-1');
  assert.match(r.errors[1].message, /its DeviceModel default\/thermostat did not load \(bad\.yaml:\d+: .*"ninety" is not a number/);
});

test('a YAML syntax error names its line and the other documents still load', () => {
  const text = `${MODEL}---\n${device('thermo-1', '    - name: setpoint\n')}---\nkind: Device\nmetadata: [oops\n---\n${device('thermo-2', '    - name: temperature\n')}`;
  const r = load(['a.yaml', text]);
  const e = only(r.errors);
  assert.equal(e.code, 'ET_MODEL_PARSE');
  assert.equal(e.where.file, 'a.yaml');
  assert.ok(Math.abs(e.where.line! - lineOf(text, '[oops')) <= 1, e.format());
  assert.deepEqual(r.devices.map((d) => d.id), ['default/thermo-1', 'default/thermo-2']);
});

test('a deadband below zero and an unknown reconcile policy are errors on the visitor', () => {
  const props = '    - name: setpoint\n      visitors:\n        configData:\n          deadband: -1\n          reconcile: always\n';
  const text = `${MODEL}---\n${device('thermo-1', props)}`;
  const r = load(['a.yaml', text]);
  assert.deepEqual(r.errors.map((e) => [e.code, e.where.line, e.where.path]), [
    ['ET_VISITOR_CONFIG', lineOf(text, 'deadband: -1'), 'spec.properties[0].visitors.configData.deadband'],
    ['ET_VISITOR_CONFIG', lineOf(text, 'reconcile: always'), 'spec.properties[0].visitors.configData.reconcile'],
  ]);
  assert.match(r.errors[1].format(), /reconcile "always" is not once or enforce/);
});

test('a method naming a property the device lacks is an error', () => {
  const extra = '  methods:\n    - name: boost\n      propertyNames: [setpoint, fan]\n';
  const text = `${MODEL}---\n${device('thermo-1', '    - name: setpoint\n', extra)}`;
  const e = only(load(['a.yaml', text]).errors);
  assert.equal(e.where.path, 'spec.methods[0].propertyNames[1]');
  assert.match(e.format(), /method "boost" names property "fan", which this device does not have \(known: setpoint\)/);
});

test('a document that is not an object is rejected with its line', () => {
  const text = `${MODEL}---\njust a string\n`;
  const r = load(['a.yaml', text]);
  const e = only(r.errors);
  assert.equal(e.where.line, lineOf(text, 'just a string'));
  assert.match(e.message, /expected a Kubernetes object/);
  assert.equal(r.models.size, 1);
});

test('a document without apiVersion gets one message saying what to write', () => {
  const text = MODEL.replace('apiVersion: devices.kubeedge.io/v1beta1\n', '');
  const e = only(load(['m.yaml', text]).errors);
  assert.equal(e.format(), 'm.yaml:1: apiVersion: missing apiVersion: edgetwin accepts devices.kubeedge.io/v1beta1 ' +
    '(set apiVersion: devices.kubeedge.io/v1beta1)');
});

test('limits written as bare numbers are accepted and kept as KubeEdge strings', () => {
  const r = load(['m.yaml', MODEL.replace('maximum: "90"', 'maximum: 90')], ['d.yaml', device('thermo-1', '    - name: setpoint\n      desired:\n        value: "91"\n')]);
  assert.equal(r.models.get('default/thermostat')?.spec.properties?.[1].maximum, '90');
  assert.match(only(r.errors).message, /91 is above maximum 90/);
});

test('a model visitor for a property the model lacks, or with a bad deadband, makes the model unusable', () => {
  const text = MODEL.replace('  properties:\n', '  visitors:\n    - propertyName: pressure\n    - propertyName: setpoint\n      configData: { deadband: "small" }\n  properties:\n');
  const r = load(['m.yaml', text]);
  assert.deepEqual(r.errors.map((e) => [e.where.line, e.where.path]), [
    [lineOf(text, 'propertyName: pressure'), 'spec.visitors[0].propertyName'],
    [lineOf(text, 'deadband: "small"'), 'spec.visitors[1].configData.deadband'],
  ]);
  assert.match(r.errors[0].format(), /visitor for "pressure", which is not a property of this model \(known: temperature, setpoint\)/);
  assert.match(r.errors[1].format(), /deadband "small" is not a number >= 0/);
  assert.equal(r.models.size, 0);
});
