// Loading from files and folders: multi-document files, recursion, JSON, Lists, and bad files beside good ones.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { filterForNode, loadDevices, loadFromTexts } from './load.ts';

const model = (name: string) => `apiVersion: devices.kubeedge.io/v1beta1
kind: DeviceModel
metadata:
  name: ${name}
spec:
  properties:
    - name: level
      type: DOUBLE
      accessMode: ReadWrite
`;

const device = (name: string, modelName: string, node?: string) => `apiVersion: devices.kubeedge.io/v1beta1
kind: Device
metadata:
  name: ${name}
spec:
  deviceModelRef:
    name: ${modelName}
${node ? `  nodeName: ${node}\n` : ''}  protocol:
    protocolName: virtual
  properties:
    - name: level
`;

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'edgetwin-model-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function files(folder: string, content: Record<string, string>): Promise<string> {
  const root = join(dir, folder);
  for (const [name, text] of Object.entries(content)) {
    await mkdir(join(root, name, '..'), { recursive: true });
    await writeFile(join(root, name), text);
  }
  return root;
}

test('a folder loads recursively, with its model in another file, ignoring files that are not documents', async () => {
  const root = await files('plant', {
    'models/tank.yaml': model('tank'),
    'devices/tanks.yml': `${device('tank-1', 'tank')}---\n${device('tank-2', 'tank')}\n---\n`,
    'devices/deep/more/tank-3.json': JSON.stringify({
      apiVersion: 'devices.kubeedge.io/v1beta1', kind: 'Device', metadata: { name: 'tank-3' },
      spec: { deviceModelRef: { name: 'tank' }, protocol: { protocolName: 'virtual' }, properties: [{ name: 'level' }] },
    }, null, 2),
    'README.md': '# not a device\nkind: Device\n',
    'simulate.sh': '#!/bin/sh\nexit 1\n',
    '.hidden/broken.yaml': 'kind: [',
  });
  const r = await loadDevices([root]);
  assert.deepEqual(r.errors.map((e) => e.format()), []);
  assert.deepEqual(r.devices.map((d) => d.id).sort(), ['default/tank-1', 'default/tank-2', 'default/tank-3']);
  assert.deepEqual([...r.models.keys()], ['default/tank']);
  assert.deepEqual(r.files.map((f) => f.slice(root.length + 1)).sort(),
    ['devices/deep/more/tank-3.json', 'devices/tanks.yml', 'models/tank.yaml']);
});

test('a JSON device reports the line of its offending field', async () => {
  const json = JSON.stringify({
    apiVersion: 'devices.kubeedge.io/v1beta1', kind: 'Device', metadata: { name: 'tank-9' },
    spec: { deviceModelRef: { name: 'tank' }, protocol: { protocolName: 'virtual' }, properties: [{ name: 'level', collectCycle: 'fast' }] },
  }, null, 2);
  const r = loadFromTexts([{ file: 'm.yaml', text: model('tank') }, { file: 'd.json', text: json }]);
  assert.equal(r.errors.length, 1);
  const line = json.split('\n').findIndex((l) => l.includes('"collectCycle"')) + 1;
  assert.equal(r.errors[0].format(), `d.json:${line}: default/tank-9 property level: spec.properties[0].collectCycle: ` +
    'expected a whole number, got "fast" (milliseconds between reads, a whole number such as 1000)');
});

test('a bad file in a folder does not stop the good ones', async () => {
  const root = await files('mixed', {
    'a-model.yaml': model('tank'),
    'b-broken.yaml': 'apiVersion: devices.kubeedge.io/v1beta1\nkind: Device\nmetadata: {name: x\n',
    'c-good.yaml': device('tank-1', 'tank'),
    'd-orphan.yaml': device('tank-2', 'pump'),
  });
  const r = await loadDevices([root]);
  assert.deepEqual(r.devices.map((d) => d.id), ['default/tank-1']);
  assert.deepEqual(r.errors.map((e) => [e.code, e.where.file?.slice(root.length + 1)]),
    [['ET_MODEL_PARSE', 'b-broken.yaml'], ['ET_MODEL_MISSING', 'd-orphan.yaml']]);
  assert.equal(r.files.length, 4);
});

test('files and folders mix; a file named twice is read once', async () => {
  const root = await files('mix2', { 'm.yaml': model('tank'), 'd.yaml': device('tank-1', 'tank') });
  const r = await loadDevices([root, join(root, 'd.yaml')]);
  assert.deepEqual(r.errors, []);
  assert.equal(r.devices.length, 1);
  assert.equal(r.files.length, 2);
});

test('a folder with no document, and a path that does not exist, are errors', async () => {
  const empty = await files('empty', { 'README.md': 'nothing here' });
  const missing = join(dir, 'nope');
  const r = await loadDevices([empty, missing]);
  assert.deepEqual(r.errors.map((e) => e.format()), [
    `${missing}: no such file or folder (pass a Device YAML/JSON file or a folder of them)`,
    `${empty}: folder holds no Device or DeviceModel document (edgetwin reads .yaml, .yml and .json files in a folder and its subfolders; check the path)`,
  ]);
});

test('a kubectl List loads its items, each error pointing into the list', () => {
  const list = `apiVersion: v1
kind: List
items:
  - apiVersion: devices.kubeedge.io/v1beta1
    kind: DeviceModel
    metadata: { name: tank }
    spec:
      properties:
        - { name: level, type: DOUBLE }
  - apiVersion: devices.kubeedge.io/v1beta1
    kind: Device
    metadata: { name: tank-1 }
    spec:
      deviceModelRef: { name: tank }
      protocol: { protocolName: virtual }
      properties:
        - name: level
          desired: { value: high }
`;
  const r = loadFromTexts([{ file: 'list.yaml', text: list }]);
  assert.equal(r.models.size, 1);
  assert.equal(r.errors.length, 1);
  assert.equal(r.errors[0].where.line, 18);
  assert.equal(r.errors[0].where.path, 'items[1].spec.properties[0].desired.value');
});

test('filterForNode keeps the devices bound to that node', () => {
  const r = loadFromTexts([{ file: 'a.yaml', text: [model('tank'), device('t1', 'tank', 'edge-a'), device('t2', 'tank', 'edge-b'), device('t3', 'tank')].join('---\n') }]);
  assert.equal(r.devices.length, 3);
  assert.deepEqual(filterForNode(r.devices, 'edge-a').map((d) => d.name), ['t1']);
  assert.deepEqual(filterForNode(r.devices, 'edge-c'), []);
});
