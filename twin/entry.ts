// The in-memory twin of one device: mirrors the store's rows, typed, plus runtime-only state
// (in-flight writes, retry timers). Views handed out are copies; the live objects stay here.

import type { DeviceSpecResolved, PropertySpec } from '../core/device.ts';
import type { DeviceState, Quality, ReadingError } from '../core/reading.ts';
import { formatValue, parseValue, sameAtWirePrecision, type PropertyType, type PropertyValue } from '../core/values.ts';
import { dataKey } from './data-update.ts';
import type { PropertyRow, PropertyValues } from './store.ts';
import type { DesiredOrigin, ReconcileState, ReportedUpdate, TwinPropertyView, TwinView } from './types.ts';

/** The per-reading record handed to listeners; mutated in place on every flush. */
export class UpdateSlot implements ReportedUpdate {
  property: string;
  type: PropertyType;
  text: string | null = null;
  value: PropertyValue | undefined = undefined;
  time = 0;
  quality: Quality = 'good';
  error: ReadingError | undefined = undefined;
  deltaChanged = false;
  /** Encoded once per property: data/update copies these bytes for every value it publishes. */
  readonly dataKey: Buffer;
  constructor(property: string, type: PropertyType) {
    this.property = property;
    this.type = type;
    this.dataKey = dataKey(property);
  }
}

export class PropState {
  spec: PropertySpec;
  readonly rid: number;
  desired: PropertyValue | undefined;
  /** The KubeEdge string form of desired, kept so a store write formats nothing. */
  desiredText: string | null = null;
  /**
   * The string form of reported, from the flush that applied the reading until the commit that
   * stores it, then dropped (null): kept longer, each reading's string would outlive the young
   * generation and load every full collection. reportedTextNow() formats it again when needed.
   */
  reportedText: string | null = null;
  desiredTime = 0;
  desiredOrigin: DesiredOrigin = 'api';
  expCloud = 0;
  expEdge = 0;
  yamlDesired: string | null = null;
  reported: PropertyValue | undefined;
  reportedTime = 0;
  quality: Quality | undefined;
  error: ReadingError | undefined;
  actCloud = 0;
  actEdge = 0;
  rec: ReconcileState = 'none';
  attempts = 0;
  reason: string | undefined;
  // runtime only
  /**
   * What the store has not seen yet: 'reported' when only readings changed the row since its last
   * commit (the store then writes the reported columns alone), 'row' when anything else did.
   */
  dirty: 'clean' | 'reported' | 'row' = 'clean';
  /** In the store writer's list of rows to commit (once, however often it is marked). */
  queued = false;
  /** Left the twin (its property or device was removed): never written back to the store. */
  retired = false;
  flushMark = 0;
  inFlight = false;
  again = false;
  retryTimer: NodeJS.Timeout | undefined;
  lastEnforce = 0;
  /** The desired version whose write the device refused for good: not retried until the version changes. */
  refusedVersion: number | undefined;
  /** When the latest write started: readings taken before it cannot show drift from it. */
  writeStartedAt = 0;
  readonly slot: UpdateSlot;

  constructor(spec: PropertySpec, rid: number) {
    this.spec = spec;
    this.rid = rid;
    this.slot = new UpdateSlot(spec.name, spec.type);
  }

  /** The KubeEdge string form of the reported value, as the store keeps it. */
  reportedTextNow(): string | null {
    return this.reportedText ?? (this.reported === undefined ? null : formatValue(this.spec.type, this.reported));
  }

  get version(): number {
    return this.expCloud + this.expEdge;
  }

  hasDelta(): boolean {
    return this.desired !== undefined && !sameAtWirePrecision(this.spec.type, this.reported, this.desired);
  }

  /** Loads a stored row; values that no longer parse as the property's type are dropped. */
  load(row: PropertyRow): void {
    const t = this.spec.type;
    this.desired = row.desired === null ? undefined : tryParse(t, row.desired);
    this.desiredText = this.desired === undefined ? null : row.desired;
    this.desiredTime = row.desired_time ?? 0;
    this.desiredOrigin = (row.desired_origin as DesiredOrigin | null) ?? 'api';
    this.expCloud = row.exp_cloud;
    this.expEdge = row.exp_edge;
    this.yamlDesired = row.yaml_desired;
    this.reported = row.reported === null ? undefined : tryParse(t, row.reported);
    this.reportedText = this.reported === undefined ? null : row.reported;
    this.reportedTime = row.reported_time ?? 0;
    this.quality = (row.quality as Quality | null) ?? undefined;
    this.error = row.error_code !== null ? { code: row.error_code, message: row.error_message ?? '' } : undefined;
    this.actCloud = row.act_cloud;
    this.actEdge = row.act_edge;
    this.rec = row.rec_state as ReconcileState;
    this.attempts = row.rec_attempts;
    this.reason = row.rec_reason ?? undefined;
  }

  /** The row the store keeps for this property: the memory state, column by column. */
  values(): PropertyValues {
    return {
      desired: this.desiredText,
      desiredTime: this.desired === undefined ? null : this.desiredTime,
      desiredOrigin: this.desired === undefined ? null : this.desiredOrigin,
      expCloud: this.expCloud,
      expEdge: this.expEdge,
      reported: this.reportedTextNow(),
      reportedTime: this.quality === undefined ? null : this.reportedTime,
      quality: this.quality ?? null,
      errorCode: this.error?.code ?? null,
      errorMessage: this.error?.message ?? null,
      actEdge: this.actEdge,
      recState: this.rec,
      recAttempts: this.attempts,
      recReason: this.reason ?? null,
    };
  }

  view(): TwinPropertyView {
    const v: TwinPropertyView = {
      name: this.spec.name,
      type: this.spec.type,
      accessMode: this.spec.accessMode,
      reconcile: { state: this.rec, attempts: this.attempts, ...(this.reason !== undefined ? { reason: this.reason } : {}) },
      delta: this.hasDelta(),
      expectedVersion: { cloud: this.expCloud, edge: this.expEdge },
      actualVersion: { cloud: this.actCloud, edge: this.actEdge },
    };
    if (this.desired !== undefined) {
      v.desired = { value: this.desired, version: this.version, time: this.desiredTime, origin: this.desiredOrigin };
    }
    if (this.quality !== undefined) {
      v.reported = { time: this.reportedTime, quality: this.quality };
      if (this.reported !== undefined) v.reported.value = this.reported;
      if (this.error) v.reported.error = { ...this.error };
    }
    return v;
  }
}

function tryParse(type: PropertyType, text: string): PropertyValue | undefined {
  try {
    return parseValue(type, text);
  } catch {
    return undefined;
  }
}

export class DeviceEntry {
  spec: DeviceSpecResolved;
  readonly props = new Map<string, PropState>();
  state: DeviceState = 'unknown';
  reason: string | undefined;
  lastOnline: number | undefined;
  flushMark = 0;
  hasPush = false;
  /** Left the twin: its state is not written back to the store. */
  retired = false;
  readonly touched: UpdateSlot[] = [];
  /**
   * The properties in the order the device's last readings came, so a flush finds each by position
   * (the runtime reports a device's properties in the same order every poll) and not by name.
   */
  readonly order: PropState[] = [];

  constructor(spec: DeviceSpecResolved) {
    this.spec = spec;
  }

  view(): TwinView {
    const properties: Record<string, TwinPropertyView> = {};
    for (const p of this.props.values()) properties[p.spec.name] = p.view();
    const v: TwinView = {
      device: this.spec.id,
      namespace: this.spec.namespace,
      name: this.spec.name,
      model: this.spec.model,
      protocol: this.spec.protocol,
      state: this.state,
      properties,
    };
    if (this.reason !== undefined) v.stateReason = this.reason;
    if (this.lastOnline !== undefined) v.lastOnline = this.lastOnline;
    return v;
  }
}
