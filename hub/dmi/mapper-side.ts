// The mapper's side of KubeEdge's DMI, for `edgetwin mapper serve`: a client of the device
// manager's DeviceManagerService (edgecore, or an edgetwin gateway) and a DeviceMapperService
// server the device manager calls with devices and models. What runs the devices is the caller's.

import { locateProto, openUnixGrpc, type UnixGrpcClient } from '../grpc-unix.ts';
import { serveUnixGrpc, type UnixGrpcServer } from '../grpc-unix-server.ts';
import type { PbDevice, PbDeviceModel } from './convert.ts';

const PROTO = () => locateProto(import.meta.url, 'dmi.proto', 'hub/dmi/dmi.proto');
const MANAGER = 'v1beta1.DeviceManagerService';

export interface MapperInfo {
  name: string;
  version: string;
  protocol: string;
  /** This mapper's DeviceMapperService socket. */
  address: string;
}

export interface ReportedTwin {
  property: string;
  value: string;
  /** Source time, ms since the epoch. */
  time: number;
  /** KubeEdge's type name: INT, FLOAT, DOUBLE, STRING, BOOLEAN, BYTES. */
  type: string;
}

/** What the device manager asks of a mapper; each may throw a GrpcStatusError to refuse. */
export interface DeviceMapperHandlers {
  registerDevice(device: PbDevice): Promise<void>;
  updateDevice(device: PbDevice): Promise<void>;
  removeDevice(namespace: string, name: string): Promise<void>;
  createModel(model: PbDeviceModel): Promise<void>;
  updateModel(model: PbDeviceModel): Promise<void>;
  removeModel(namespace: string, name: string): Promise<void>;
  getDevice(namespace: string, name: string): PbDevice | undefined;
}

export async function serveDeviceMapper(socket: string, h: DeviceMapperHandlers): Promise<UnixGrpcServer> {
  return serveUnixGrpc(PROTO(), socket, 'v1beta1.DeviceMapperService', {
    RegisterDevice: async (req: { device: PbDevice }) => {
      await h.registerDevice(req.device);
      return { deviceName: req.device.name, deviceNamespace: req.device.namespace };
    },
    UpdateDevice: async (req: { device: PbDevice }) => (await h.updateDevice(req.device), {}),
    RemoveDevice: async (req: { deviceName: string; deviceNamespace: string }) => (await h.removeDevice(req.deviceNamespace || 'default', req.deviceName), {}),
    CreateDeviceModel: async (req: { model: PbDeviceModel }) => {
      await h.createModel(req.model);
      return { deviceModelName: req.model.name, deviceModelNamespace: req.model.namespace };
    },
    UpdateDeviceModel: async (req: { model: PbDeviceModel }) => (await h.updateModel(req.model), {}),
    RemoveDeviceModel: async (req: { modelName: string; modelNamespace: string }) => (await h.removeModel(req.modelNamespace || 'default', req.modelName), {}),
    GetDevice: (req: { deviceName: string; deviceNamespace: string }) => ({ device: h.getDevice(req.deviceNamespace || 'default', req.deviceName) ?? null }),
  });
}

/** Calls to the device manager, each with a deadline. */
export class DeviceManagerClient {
  private constructor(private readonly client: UnixGrpcClient, readonly socket: string, private readonly timeoutMs: number) {}

  static async open(socket: string, timeoutMs = 10_000): Promise<DeviceManagerClient> {
    const clients = await openUnixGrpc(PROTO(), socket, [MANAGER]);
    return new DeviceManagerClient(clients[MANAGER]!, socket, timeoutMs);
  }

  async register(info: MapperInfo, withData = true): Promise<{ models: PbDeviceModel[]; devices: PbDevice[] }> {
    const res = await this.client.call<object, { modelList?: PbDeviceModel[]; deviceList?: PbDevice[] }>('MapperRegister', {
      withData,
      mapper: { name: info.name, version: info.version, apiVersion: 'v1beta1', protocol: info.protocol, address: Buffer.from(info.address), state: 'ok' },
    }, this.timeoutMs);
    return { models: res.modelList ?? [], devices: res.deviceList ?? [] };
  }

  async reportTwins(namespace: string, name: string, twins: ReportedTwin[]): Promise<void> {
    await this.client.call('ReportDeviceStatus', {
      deviceName: name,
      deviceNamespace: namespace,
      reportedDevice: {
        twins: twins.map((t) => ({ propertyName: t.property, reported: { value: t.value, metadata: { timestamp: String(t.time), type: t.type } } })),
      },
    }, this.timeoutMs);
  }

  async reportState(namespace: string, name: string, state: string): Promise<void> {
    await this.client.call('ReportDeviceStates', { deviceName: name, deviceNamespace: namespace, state }, this.timeoutMs);
  }

  close(): void {
    this.client.close();
  }
}
