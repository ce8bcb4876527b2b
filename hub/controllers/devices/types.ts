// The shapes of devices.kubeedge.io/v1beta1 objects the DeviceController reads and writes (the
// fields it uses; everything else travels to the edge untouched).

export interface ObjectMeta {
  name?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  labels?: Record<string, string>;
  ownerReferences?: Array<{ apiVersion: string; kind: string; name: string; uid: string; controller?: boolean; blockOwnerDeletion?: boolean }>;
}

export interface Device {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
  spec?: {
    nodeName?: string;
    deviceModelRef?: { name?: string };
    protocol?: { protocolName?: string; configData?: unknown };
    properties?: Array<{ name?: string; desired?: { value?: string; metadata?: Record<string, string> } } & Record<string, unknown>>;
  } & Record<string, unknown>;
}

export interface DeviceModel {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
  spec?: Record<string, unknown>;
}

export interface TwinValue {
  value: string;
  metadata?: Record<string, string>;
}

export interface StatusTwin {
  propertyName: string;
  reported?: TwinValue;
  observedDesired?: TwinValue;
}

export interface DeviceError {
  message: string;
  field?: string;
  time?: string;
}

export interface Summary {
  reported: number;
  pending: number;
  applied: number;
  failed: number;
  drifted: number;
}

/** `status` of a DeviceStatus, as the cloud writes it. */
export interface DeviceStatusBody {
  twins?: StatusTwin[];
  state?: string;
  lastOnlineTime?: string;
  extensions?: { summary?: Summary; error?: DeviceError | null; lastWriteTime?: string };
}
