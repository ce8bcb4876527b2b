// The resolved shape of a Device after its model is merged in: what the twin and the mapper
// runtime work with. core/model builds these from KubeEdge documents; the hub will build them
// from Device CRDs. Nothing here knows a protocol.

import type { ConfigData, DeviceMethod, PushMethod } from './model/types.ts';
import type { PropertyType, PropertyValue } from './values.ts';

/** `{namespace}/{name}`, as in KubeEdge topics since 1.17. */
export type DeviceId = string;

export function deviceId(namespace: string | undefined, name: string): DeviceId {
  return `${namespace || 'default'}/${name}`;
}

/** Where a document came from, so every error can say file:line. */
export interface SourceRef {
  file: string;
  line: number;
  /** The field's path in that document, for messages (set in `fields` entries). */
  path?: string;
  /**
   * Where each configData key (and, for a property, each model field such as type or
   * accessMode) was written: the Device or its DeviceModel. A driver's check() and schema errors
   * use it to point at the document the mistake is in.
   */
  fields?: Record<string, SourceRef>;
}

export type ReconcilePolicy = 'once' | 'enforce';

export interface PropertySpec {
  name: string;
  type: PropertyType;
  /** True when the model declares STREAM or another type loaded with a warning and not polled. */
  unsupported?: string;
  accessMode: 'ReadWrite' | 'ReadOnly';
  minimum?: number;
  maximum?: number;
  unit?: string;
  description?: string;
  /** Milliseconds between reads. */
  collectCycle: number;
  /** Milliseconds between reports when the value did not change; 0 reports on change only. */
  reportCycle: number;
  reportToCloud: boolean;
  /** Absolute change below which a reading is not reported (configData.deadband). */
  deadband?: number;
  reconcile: ReconcilePolicy;
  /** The desired value written in the YAML, typed; undefined when the file sets none. */
  desired?: PropertyValue;
  /** Protocol-specific visitor configData, merged model-level then device-level. */
  visitor: ConfigData;
  pushMethod?: PushMethod;
  source?: SourceRef;
}

export interface DeviceSpecResolved {
  id: DeviceId;
  namespace: string;
  name: string;
  model: string;
  nodeName?: string;
  /** Canonical protocol name: modbus | opcua | bluetooth | serial | virtual, or a plugin's. */
  protocol: string;
  protocolConfig: ConfigData;
  properties: PropertySpec[];
  methods: DeviceMethod[];
  source?: SourceRef;
  /**
   * 'cloud' when the Device came from Kubernetes through the cloud link (MetaManager): its
   * desired values enter the twin with origin `cloud`, and its load errors are reported up.
   * Absent for devices from --devices files.
   */
  managedBy?: 'cloud';
  /** Stable hash of everything above, so a reload restarts only devices that changed. */
  fingerprint: string;
}
