// A driver's check() and schema errors point at the document and line the field was written in:
// the DeviceModel for a model-level visitor, protocolConfigData or a model field such as type,
// the Device for what the Device sets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../core/log.ts';
import { loadDevices } from '../core/model/load.ts';
import { defineDriver, MapperHost, SDK_VERSION, type DriverLoader } from '../mappers/sdk/index.ts';
import { virtualLoader } from '../mappers/virtual/index.ts';

const MODEL = `apiVersion: devices.kubeedge.io/v1beta1
kind: DeviceModel
metadata: { name: oven-model, namespace: default }
spec:
  protocol: PROTO
  protocolConfigData:
    faults:
      errorRate: 2
  visitors:
    - propertyName: wave
      configData:
        function: sine
        min: 10
        max: 5
  properties:
    - name: wave
      type: DOUBLE
      accessMode: ReadOnly
    - name: level
      type: INT
      accessMode: ReadOnly
`;

const DEVICE = `apiVersion: devices.kubeedge.io/v1beta1
kind: Device
metadata: { name: oven, namespace: default }
spec:
  deviceModelRef: { name: oven-model }
  protocol:
    protocolName: PROTO
  properties:
    - name: level
      visitors:
        protocolName: PROTO
        configData:
          function: triangle
`;

const lineOf = (text: string, needle: string) => text.split('\n').findIndex((l) => l.includes(needle)) + 1;

async function check(protocol: string, loader: DriverLoader) {
  const dir = mkdtempSync(join(tmpdir(), 'edgetwin-origin-'));
  try {
    writeFileSync(join(dir, 'model.yaml'), MODEL.replaceAll('PROTO', protocol));
    writeFileSync(join(dir, 'device.yaml'), DEVICE.replaceAll('PROTO', protocol));
    const model = await loadDevices([join(dir, 'model.yaml'), join(dir, 'device.yaml')]);
    assert.deepEqual(model.errors.map((e) => e.format()), []);
    const host = new MapperHost({ sink: { report() {}, state() {} }, drivers: [loader], log: silentLogger, dataDir: dir });
    try {
      return (await host.check(model.devices)).errors.map((e) => ({ file: e.where.file?.replace(`${dir}/`, ''), line: e.where.line, path: e.where.path, text: e.format() }));
    } finally {
      await host.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('schema errors point at the model for protocolConfigData, at the device for what the device sets', async () => {
  const errors = await check('virtual', virtualLoader);
  const faults = errors.find((e) => e.text.includes('errorRate'));
  assert.deepEqual([faults?.file, faults?.line, faults?.path], ['model.yaml', lineOf(MODEL, 'faults:'), 'spec.protocolConfigData.faults.errorRate']);
  const fn = errors.find((e) => e.text.includes('function'));
  assert.deepEqual([fn?.file, fn?.line, fn?.path], ['device.yaml', lineOf(DEVICE, 'function: triangle'), 'spec.properties[0].visitors.configData.function']);
});

test('check() problems point at the model visitor line or the model field they name', async () => {
  const driver = defineDriver<Record<string, unknown>, Record<string, unknown>>({
    name: 'strict', sdkVersion: `^${SDK_VERSION}`, protocolSchema: { type: 'object' }, visitorSchema: { type: 'object' },
    check: (device) => [
      { property: 'wave', path: 'max', message: 'max must be above min' },
      { property: 'level', path: 'type', message: 'this instrument has no integer values; use DOUBLE' },
      { property: 'level', path: 'function', message: 'function is not supported' },
      ...(device.config.faults ? [{ path: 'faults.errorRate', message: 'faults are not supported' }] : []),
    ],
    async connect() { throw new Error('not used'); },
  });
  const errors = await check('strict', { name: 'strict', load: async () => driver });
  const by = (text: string) => errors.find((e) => e.text.includes(text));
  assert.deepEqual([by('max must be above min')?.file, by('max must be above min')?.line, by('max must be above min')?.path], ['model.yaml', lineOf(MODEL, 'max: 5'), 'spec.visitors[0].configData.max']);
  assert.deepEqual([by('no integer values')?.file, by('no integer values')?.line, by('no integer values')?.path], ['model.yaml', lineOf(MODEL, 'type: INT'), 'spec.properties[1].type']);
  assert.deepEqual([by('function is not supported')?.file, by('function is not supported')?.line], ['device.yaml', lineOf(DEVICE, 'function: triangle')]);
  assert.deepEqual([by('faults are not supported')?.file, by('faults are not supported')?.line, by('faults are not supported')?.path], ['model.yaml', lineOf(MODEL, 'faults:'), 'spec.protocolConfigData.faults.errorRate']);
});
