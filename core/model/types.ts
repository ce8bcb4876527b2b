// KubeEdge devices.kubeedge.io/v1beta1 resources as users write them in YAML.
// Field names and casing follow KubeEdge exactly so existing YAML loads unchanged.

export const API_VERSION = 'devices.kubeedge.io/v1beta1';

export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

/** Free-form, protocol-specific configuration. Extensions of edgetwin live inside it. */
export type ConfigData = Record<string, unknown>;

export type KubeEdgeType = 'INT' | 'FLOAT' | 'DOUBLE' | 'STRING' | 'BOOLEAN' | 'BYTES' | 'STREAM';
export type AccessMode = 'ReadWrite' | 'ReadOnly';

export interface ModelProperty {
  name: string;
  description?: string;
  type: KubeEdgeType;
  accessMode?: AccessMode;
  minimum?: string;
  maximum?: string;
  unit?: string;
}

/** Model-level visitor defaults (KubeEdge 1.22): per property, protocol configData every device inherits. */
export interface ModelVisitor {
  propertyName: string;
  protocolName?: string;
  configData?: ConfigData;
}

export interface DeviceModelSpec {
  protocol?: string;
  protocolConfigData?: ConfigData;
  visitors?: ModelVisitor[];
  properties?: ModelProperty[];
}

export interface DeviceModel {
  apiVersion: string;
  kind: 'DeviceModel';
  metadata: ObjectMeta;
  spec: DeviceModelSpec;
}

export interface TwinValue {
  value: string;
  metadata?: Record<string, string>;
}

export interface VisitorConfig {
  protocolName?: string;
  configData?: ConfigData;
}

export interface PushMethod {
  mqtt?: { address: string; topic: string; qos?: number; retained?: boolean };
  http?: { hostName: string; port: number; requestPath: string; timeout?: number };
  otel?: { endpointURL: string };
  dbMethod?: {
    influxdb2?: unknown;
    redis?: unknown;
    TDEngine?: unknown;
    mysql?: unknown;
  };
}

export interface DeviceProperty {
  name: string;
  desired?: TwinValue;
  visitors?: VisitorConfig;
  collectCycle?: number;
  reportCycle?: number;
  reportToCloud?: boolean;
  pushMethod?: PushMethod;
}

export interface DeviceMethod {
  name: string;
  description?: string;
  propertyNames: string[];
}

export interface ProtocolConfig {
  protocolName: string;
  configData?: ConfigData;
}

export interface DeviceSpec {
  deviceModelRef: { name: string };
  nodeName?: string;
  protocol: ProtocolConfig;
  properties?: DeviceProperty[];
  methods?: DeviceMethod[];
  stateReport?: { reportToCloud?: boolean; reportCycle?: number };
}

/** Up to 1.22 status lived on the Device; kept so older YAML with a status block still loads. */
export interface LegacyTwin {
  propertyName: string;
  reported?: TwinValue;
  observedDesired?: TwinValue;
}

export interface Device {
  apiVersion: string;
  kind: 'Device';
  metadata: ObjectMeta;
  spec: DeviceSpec;
  status?: { twins?: LegacyTwin[]; state?: string; lastOnlineTime?: string; reportToCloud?: boolean; reportCycle?: number };
}

/** KubeEdge 1.23: a separate object, same namespace and name as its Device, empty spec. */
export interface DeviceStatus {
  apiVersion: string;
  kind: 'DeviceStatus';
  metadata: ObjectMeta;
  spec?: Record<string, never>;
  status?: { twins?: LegacyTwin[]; state?: string; lastOnlineTime?: string };
}

export type KubeEdgeDocument = Device | DeviceModel | DeviceStatus;
