// Devices across the DMI, both ways: a resolved edgetwin device to the proto's Device and
// DeviceModel (what the gateway hands a mapper), and the proto's objects back to KubeEdge
// Device/DeviceModel documents (what `edgetwin mapper serve` gets), which then go through the same
// loader and validation as a YAML file, so a device from edgecore is checked like one from disk.

import type { DeviceSpecResolved } from '../../core/device.ts';
import type { ConfigData, PushMethod } from '../../core/model/types.ts';
import { formatValue } from '../../core/values.ts';
import { packConfigData, unpackConfigData, type AnyMessage } from './any.ts';

/** The proto's messages as @grpc/proto-loader reads and writes them (camelCase keys). */
export interface PbTwinProperty {
  value: string;
  metadata?: Record<string, string>;
}
export interface PbCustomizedValue {
  data?: Record<string, AnyMessage>;
}
export interface PbDeviceProperty {
  name: string;
  desired?: PbTwinProperty | null;
  visitors?: { protocolName?: string; configData?: PbCustomizedValue | null } | null;
  reportCycle?: number;
  collectCycle?: number;
  reportToCloud?: boolean;
  pushMethod?: PbPushMethod | null;
}
/** The push targets edgetwin forwards to (dbMethod is not supported and does not travel). */
export interface PbPushMethod {
  http?: { hostname?: string; port?: number; requestpath?: string; timeout?: number } | null;
  mqtt?: { address?: string; topic?: string; qos?: number; retained?: boolean } | null;
  otel?: { endpointURL?: string } | null;
}
export interface PbDevice {
  name: string;
  namespace: string;
  spec?: {
    deviceModelReference?: string;
    protocol?: { protocolName?: string; configData?: PbCustomizedValue | null } | null;
    properties?: PbDeviceProperty[];
    methods?: { name: string; description?: string; propertyNames?: string[] }[];
  } | null;
  status?: unknown;
}
export interface PbModelProperty {
  name: string;
  description?: string;
  type?: string;
  accessMode?: string;
  minimum?: string;
  maximum?: string;
  unit?: string;
}
export interface PbDeviceModel {
  name: string;
  namespace: string;
  spec?: { properties?: PbModelProperty[]; commands?: unknown[] } | null;
}

const num = (n: number | undefined) => (n === undefined ? '' : String(n));

/**
 * A resolved device as the proto's Device. `desired` gives a property's current desired value as
 * text (the twin's, which may differ from the YAML's); without it the YAML's is sent.
 */
export function toPbDevice(d: DeviceSpecResolved, desired?: (property: string) => string | undefined): PbDevice {
  return {
    name: d.name,
    namespace: d.namespace,
    spec: {
      deviceModelReference: d.model,
      protocol: { protocolName: d.protocol, configData: packConfigData(d.protocolConfig) ?? null },
      properties: d.properties.map((p) => {
        const text = desired ? desired(p.name) : p.desired === undefined ? undefined : formatValue(p.type, p.desired);
        return {
          name: p.name,
          desired: text === undefined ? null : { value: text, metadata: { type: p.type.toUpperCase() } },
          visitors: { protocolName: d.protocol, configData: packConfigData(p.visitor) ?? null },
          reportCycle: p.reportCycle,
          collectCycle: p.collectCycle,
          reportToCloud: p.reportToCloud,
          pushMethod: p.pushMethod ? toPbPush(p.pushMethod) : null,
        };
      }),
      methods: d.methods.map((m) => ({ name: m.name, description: m.description ?? '', propertyNames: m.propertyNames })),
    },
  };
}

function toPbPush(p: PushMethod): PbPushMethod {
  return {
    http: p.http ? { hostname: p.http.hostName, port: p.http.port, requestpath: p.http.requestPath, timeout: p.http.timeout ?? 0 } : null,
    mqtt: p.mqtt ? { address: p.mqtt.address, topic: p.mqtt.topic, qos: p.mqtt.qos ?? 0, retained: p.mqtt.retained ?? false } : null,
    otel: p.otel ? { endpointURL: p.otel.endpointURL } : null,
  };
}

function fromPbPush(p: PbPushMethod | null | undefined): PushMethod | undefined {
  if (!p) return undefined;
  const out: PushMethod = {};
  if (p.http?.hostname) out.http = { hostName: p.http.hostname, port: Number(p.http.port ?? 0), requestPath: p.http.requestpath ?? '', ...(p.http.timeout ? { timeout: Number(p.http.timeout) } : {}) };
  if (p.mqtt?.address) out.mqtt = { address: p.mqtt.address, topic: p.mqtt.topic ?? '', ...(p.mqtt.qos ? { qos: p.mqtt.qos } : {}), ...(p.mqtt.retained ? { retained: true } : {}) };
  if (p.otel?.endpointURL) out.otel = { endpointURL: p.otel.endpointURL };
  return Object.keys(out).length ? out : undefined;
}

/** The device's model as the proto's DeviceModel (from the properties merged into the device). */
export function toPbModel(d: DeviceSpecResolved): PbDeviceModel {
  return {
    name: d.model,
    namespace: d.namespace,
    spec: {
      properties: d.properties.map((p) => ({
        name: p.name,
        description: p.description ?? '',
        type: p.type.toUpperCase(),
        accessMode: p.accessMode,
        minimum: num(p.minimum),
        maximum: num(p.maximum),
        unit: p.unit ?? '',
      })),
      commands: [],
    },
  };
}

const present = (s: string | undefined) => (s === undefined || s === '' ? undefined : s);

function withoutEmpty<T extends Record<string, unknown>>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined && !(typeof v === 'object' && v !== null && !Array.isArray(v) && Object.keys(v).length === 0))) as Partial<T>;
}

/**
 * The proto's Device and its DeviceModel as KubeEdge v1beta1 documents, for the model loader. A
 * configData value in a form edgetwin cannot read throws a ConfigDataError naming the key.
 */
export function toKubeEdgeDocuments(device: PbDevice, model: PbDeviceModel, protocol: string): object[] {
  const spec = device.spec ?? {};
  const cfg = (cv: PbCustomizedValue | null | undefined): ConfigData | undefined => {
    const data = unpackConfigData(cv);
    return Object.keys(data).length ? data : undefined;
  };
  const modelDoc = {
    apiVersion: 'devices.kubeedge.io/v1beta1',
    kind: 'DeviceModel',
    metadata: { name: model.name, namespace: model.namespace || 'default' },
    spec: {
      protocol,
      properties: (model.spec?.properties ?? []).map((p) =>
        withoutEmpty({
          name: p.name,
          description: present(p.description),
          type: (p.type ?? '').toUpperCase(),
          accessMode: present(p.accessMode),
          minimum: present(p.minimum),
          maximum: present(p.maximum),
          unit: present(p.unit),
        }),
      ),
    },
  };
  const deviceDoc = {
    apiVersion: 'devices.kubeedge.io/v1beta1',
    kind: 'Device',
    metadata: { name: device.name, namespace: device.namespace || 'default' },
    spec: withoutEmpty({
      deviceModelRef: { name: spec.deviceModelReference || model.name },
      protocol: withoutEmpty({ protocolName: spec.protocol?.protocolName || protocol, configData: cfg(spec.protocol?.configData) }),
      properties: (spec.properties ?? []).map((p) =>
        withoutEmpty({
          name: p.name,
          desired: p.desired && p.desired.value !== '' ? { value: p.desired.value } : undefined,
          visitors: withoutEmpty({ protocolName: present(p.visitors?.protocolName), configData: cfg(p.visitors?.configData) }),
          // 0 is the proto's "unset": the loader's default applies.
          collectCycle: p.collectCycle ? Number(p.collectCycle) : undefined,
          reportCycle: p.reportCycle ? Number(p.reportCycle) : undefined,
          reportToCloud: p.reportToCloud || undefined,
          pushMethod: fromPbPush(p.pushMethod),
        }),
      ),
      methods: spec.methods?.length ? spec.methods.map((m) => withoutEmpty({ name: m.name, description: present(m.description), propertyNames: m.propertyNames ?? [] })) : undefined,
    }),
  };
  return [modelDoc, deviceDoc];
}
