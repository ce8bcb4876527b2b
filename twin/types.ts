// The twin's public vocabulary: what get()/list() return and what 'change' listeners receive.
// Values are typed (PropertyValue) inside; the KubeEdge string form is produced at the edges.

import type { DeviceId } from '../core/device.ts';
import type { DeviceState, Quality, ReadingError } from '../core/reading.ts';
import type { PropertyType, PropertyValue } from '../core/values.ts';

export type ReconcileState = 'none' | 'pending' | 'applied' | 'failed' | 'drifted';
export type DesiredOrigin = 'api' | 'mqtt' | 'cli' | 'cloud' | 'yaml';

/** KubeEdge's expected_version / actual_version. */
export interface TwinVersion {
  cloud: number;
  edge: number;
}

export interface DesiredView {
  value: PropertyValue;
  /** Total number of desired updates (cloud + edge). */
  version: number;
  time: number;
  origin: DesiredOrigin;
}

export interface ReportedView {
  /** Absent when no value was ever read (only bad readings so far). */
  value?: PropertyValue;
  time: number;
  quality: Quality;
  error?: ReadingError;
}

export interface TwinPropertyView {
  name: string;
  type: PropertyType;
  accessMode: 'ReadWrite' | 'ReadOnly';
  desired?: DesiredView;
  reported?: ReportedView;
  reconcile: { state: ReconcileState; attempts: number; reason?: string };
  /** True when a desired value exists and the reported value differs from it. */
  delta: boolean;
  expectedVersion: TwinVersion;
  actualVersion: TwinVersion;
}

export interface TwinView {
  device: DeviceId;
  namespace: string;
  name: string;
  model: string;
  protocol: string;
  state: DeviceState;
  stateReason?: string;
  /** ms since the epoch of the last transition to online. */
  lastOnline?: number;
  properties: Record<string, TwinPropertyView>;
}

export interface DeviceSummary {
  device: DeviceId;
  namespace: string;
  name: string;
  model: string;
  protocol: string;
  state: DeviceState;
  properties: number;
  /** Properties whose reported value differs from desired. */
  deltas: number;
  /** Properties whose reconcile state is failed. */
  failed: number;
}

export interface DesiredResult {
  device: DeviceId;
  property: string;
  value: PropertyValue;
  version: number;
  reconcile: ReconcileState;
}

/**
 * One committed reading, as listeners see it. The twin reuses these objects between flushes
 * (no allocation per update): read them inside the listener, do not keep them.
 */
export interface ReportedUpdate {
  readonly property: string;
  readonly type: PropertyType;
  /**
   * KubeEdge string form of this reading's value; null when the reading carried none. Read it while
   * the change is told: the twin reuses the record for the property's next reading and drops the text.
   */
  readonly text: string | null;
  /** The typed value the text is the form of (undefined when the reading carried none). */
  readonly value?: PropertyValue;
  readonly time: number;
  readonly quality: Quality;
  readonly error: ReadingError | undefined;
  /** The property has a desired value and this reading changed whether it matches it. */
  readonly deltaChanged: boolean;
  /** The property's entry opening in data/update (`"<name>":{"value":`, UTF-8), when the sender keeps it at hand (the twin does, per property). */
  readonly dataKey?: Uint8Array;
}

export type TwinChange =
  /** persisted: false when the store refused the write: the values are live but not yet durable. */
  | { kind: 'reported'; device: DeviceId; updates: readonly ReportedUpdate[]; persisted: boolean }
  | { kind: 'desired'; device: DeviceId; property: string; origin: DesiredOrigin; last: TwinPropertyView; current: TwinPropertyView }
  | { kind: 'reconcile'; device: DeviceId; property: string; state: ReconcileState; attempts: number; reason?: string }
  | { kind: 'state'; device: DeviceId; state: DeviceState; previous: DeviceState; reason?: string; lastOnline?: number }
  | { kind: 'membership'; added: TwinView[]; removed: TwinView[] }
  /** The cloud link went up or down (KubeEdge's node/connection cloud_connected / cloud_disconnected). */
  | { kind: 'cloud'; connected: boolean; since: number };

/** The cloud link as the twin knows it; absent on a gateway without one. */
export interface CloudLinkView {
  connected: boolean;
  /** ms since the epoch of the last change. */
  since: number;
}
