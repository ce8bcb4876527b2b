// A device handed over the DMI and read back is the same device: resolved from YAML, sent as the
// proto's Device and DeviceModel through the real wire encoding, turned back into documents and
// loaded again, it has the same fingerprint (everything the runtime acts on).

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import * as loader from '@grpc/proto-loader';
import { loadDevices, loadFromTexts } from '../../core/model/load.ts';
import { toKubeEdgeDocuments, toPbDevice, toPbModel, type PbDevice, type PbDeviceModel } from './convert.ts';

const root = join(import.meta.dirname, '..', '..');

async function wire() {
  const def = await loader.load(join(import.meta.dirname, 'dmi.proto'), { keepCase: false, longs: Number, enums: String, defaults: true, oneofs: true });
  const svc = def['v1beta1.DeviceMapperService'] as Record<string, { requestSerialize(v: unknown): Buffer; requestDeserialize(b: Buffer): unknown }>;
  return {
    device: (d: PbDevice) => (svc.RegisterDevice!.requestDeserialize(svc.RegisterDevice!.requestSerialize({ device: d })) as { device: PbDevice }).device,
    model: (m: PbDeviceModel) => (svc.CreateDeviceModel!.requestDeserialize(svc.CreateDeviceModel!.requestSerialize({ model: m })) as { model: PbDeviceModel }).model,
  };
}

test('the quick start devices survive the trip over the DMI unchanged', async () => {
  const { devices, errors } = await loadDevices([join(root, 'examples', 'quickstart')]);
  assert.deepEqual(errors, []);
  assert.ok(devices.length >= 2);
  const w = await wire();
  for (const d of devices) {
    const docs = toKubeEdgeDocuments(w.device(toPbDevice(d)), w.model(toPbModel(d)), d.protocol);
    const back = loadFromTexts([{ file: `dmi:${d.id}`, text: docs.map((x) => JSON.stringify(x)).join('\n---\n') }]);
    assert.deepEqual(back.errors, [], d.id);
    const again = back.devices[0]!;
    assert.equal(again.fingerprint, d.fingerprint, `${d.id}: ${JSON.stringify(docs)}`);
    // Desired values are not in the fingerprint: they travel too.
    assert.deepEqual(again.properties.map((p) => [p.name, p.desired]), d.properties.map((p) => [p.name, p.desired]));
  }
});

test('pushMethod targets travel with their property', async () => {
  const yaml = `
apiVersion: devices.kubeedge.io/v1beta1
kind: DeviceModel
metadata: { name: m, namespace: plant }
spec:
  properties: [{ name: t, type: DOUBLE, accessMode: ReadOnly, minimum: "-5", maximum: "50.5", unit: degC }]
---
apiVersion: devices.kubeedge.io/v1beta1
kind: Device
metadata: { name: d, namespace: plant }
spec:
  deviceModelRef: { name: m }
  protocol: { protocolName: virtual, configData: { seed: 3 } }
  methods: [{ name: all, propertyNames: [t] }]
  properties:
    - name: t
      reportToCloud: true
      collectCycle: 250
      reportCycle: 3000
      visitors: { protocolName: virtual, configData: { function: sine, min: -5, max: 50.5, deadband: 0.125 } }
      pushMethod:
        mqtt: { address: "tcp://127.0.0.1:1883", topic: plant/t, qos: 1, retained: true }
        http: { hostName: "http://127.0.0.1", port: 8080, requestPath: /in, timeout: 2 }
`;
  const first = loadFromTexts([{ file: 'x.yaml', text: yaml }]);
  assert.deepEqual(first.errors, []);
  const d = first.devices[0]!;
  assert.ok(d.properties[0]!.pushMethod?.mqtt);
  const w = await wire();
  const docs = toKubeEdgeDocuments(w.device(toPbDevice(d)), w.model(toPbModel(d)), d.protocol);
  const again = loadFromTexts([{ file: 'dmi', text: docs.map((x) => JSON.stringify(x)).join('\n---\n') }]);
  assert.deepEqual(again.errors, []);
  assert.equal(again.devices[0]!.fingerprint, d.fingerprint, JSON.stringify(docs));
});
