// A real gateway process polling Modbus TCP devices: a PLC restart (the server process killed and
// started again) and a pulled cable (a proxy that stops forwarding without closing) take the device
// offline in the twin, and values resume afterwards without restarting the gateway.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startGatewayProcess, type GatewayProcess } from './helpers/gateway-process.ts';
import { waitFor } from '../core/testing.ts';
import { CableProxy, freePort, startModbusSerialServer, startPymodbus, type PymodbusServer } from '../mappers/modbus/testing/peers.ts';

interface TwinJson {
  state: string;
  properties: Record<string, { reported?: { value?: unknown; quality: string } }>;
}

const yaml = (name: string, port: number) => `
apiVersion: devices.kubeedge.io/v1beta1
kind: DeviceModel
metadata: { name: ${name}-model, namespace: default }
spec:
  protocol: modbus
  properties:
    - { name: level, type: INT, accessMode: ReadOnly }
---
apiVersion: devices.kubeedge.io/v1beta1
kind: Device
metadata: { name: ${name}, namespace: default }
spec:
  deviceModelRef: { name: ${name}-model }
  protocol:
    protocolName: modbus
    configData: { ip: 127.0.0.1, port: "${port}", slaveID: 1, communicateMode: TCP, timeout: 300 }
  properties:
    - name: level
      collectCycle: 100
      visitors:
        protocolName: modbus
        configData: { register: HoldingRegister, offset: 0, limit: 1, dataType: int }
`;

describe('Modbus devices recover in a running gateway', () => {
  const plcPort = { value: 0 };
  let plc: PymodbusServer;
  let sim: Awaited<ReturnType<typeof startModbusSerialServer>>;
  let proxy: CableProxy;
  let gw: GatewayProcess;

  before(async () => {
    plcPort.value = await freePort();
    plc = await startPymodbus({ tcp: plcPort.value }, { 1: { hr: { 0: 100 } } });
    sim = await startModbusSerialServer({ 1: { hr: { 0: 7 } } });
    proxy = new CableProxy(sim.port);
    await proxy.listen();
    const dir = mkdtempSync(join(tmpdir(), 'edgetwin-modbus-'));
    writeFileSync(join(dir, 'plc.yaml'), yaml('plc', plcPort.value));
    writeFileSync(join(dir, 'cabled.yaml'), yaml('cabled', proxy.port));
    gw = await startGatewayProcess({ devices: [dir] });
  });
  after(async () => {
    await gw?.stop();
    await plc?.stop();
    await proxy?.close();
    await sim?.stop();
  });

  const twin = async (name: string): Promise<TwinJson> => (await fetch(`${gw.apiUrl}/api/v1/devices/default/${name}/twin`)).json() as Promise<TwinJson>;
  const level = async (name: string) => {
    const t = await twin(name);
    return t.properties.level?.reported?.quality === 'good' ? t.properties.level.reported.value : undefined;
  };

  it('comes back after the PLC process is killed and started again', async () => {
    await waitFor('the PLC value in the twin', async () => (await level('plc')) === 100);
    await plc.stop();
    await waitFor('the device to go offline', async () => (await twin('plc')).state === 'offline');
    plc = await startPymodbus({ tcp: plcPort.value }, { 1: { hr: { 0: 200 } } });
    await waitFor('values to resume from the restarted PLC', async () => (await level('plc')) === 200, 30_000);
    assert.equal((await twin('plc')).state, 'online');
  });

  it('comes back after the cable is pulled and plugged in again', async () => {
    await waitFor('the value through the cable', async () => (await level('cabled')) === 7);
    proxy.pause();
    await waitFor('the device to go offline while the cable is out', async () => (await twin('cabled')).state === 'offline');
    sim.image[1]!.hr![0] = 8;
    proxy.resume();
    await waitFor('values to resume through the cable', async () => (await level('cabled')) === 8, 30_000);
    await waitFor('the device to be online again', async () => (await twin('cabled')).state === 'online');
    assert.ok(gw.child.exitCode === null, 'the gateway kept running');
  });
});
