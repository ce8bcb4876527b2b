// The mapper contract: what a protocol author implements. Everything else (scheduling per
// link, retries with backoff, reconnect, device state, codecs, deadband, metrics) belongs to
// the runtime, so a driver of 50 to 150 lines is possible.

import type { Logger } from '../../core/log.ts';
import type { DeviceId, DeviceSpecResolved, PropertySpec } from '../../core/device.ts';
import type { ConfigData } from '../../core/model/types.ts';
import type { Quality, ReadingError } from '../../core/reading.ts';
import type { PropertyValue } from '../../core/values.ts';
import type { CodecSpec } from './codec.ts';
import type { LinkLease, LinkRegistry, SerialSettings } from './links.ts';

/** The SDK's own version; drivers declare the range they were written for. */
export const SDK_VERSION = '1.2.0';

/** A JSON Schema object (draft 2020-12 or 07, as ajv accepts). */
export type JsonSchema = Record<string, unknown>;

/** One property of a device as the driver sees it: validated, frozen visitor config. */
export interface PropertyBinding<V = ConfigData> {
  readonly name: string;
  readonly spec: PropertySpec;
  readonly visitor: Readonly<V>;
}

/** A device as the driver sees it: validated, frozen protocol config and its properties. */
export interface DeviceBinding<P = ConfigData, V = ConfigData> {
  readonly id: DeviceId;
  readonly spec: DeviceSpecResolved;
  readonly config: Readonly<P>;
  readonly properties: readonly PropertyBinding<V>[];
}

/** One wire request in a read plan: the properties a single request returns. */
export interface ReadRequest<V = ConfigData> {
  readonly properties: readonly PropertyBinding<V>[];
  /** Driver-private data the plan computed once (e.g. start address and count). */
  readonly detail?: unknown;
}

/**
 * What a driver returns for one property. Either `raw` bytes, which the runtime decodes with
 * the property's CodecSpec (see Driver.codec), or an already typed `value`.
 */
export interface RawReading {
  property: string;
  raw?: Uint8Array;
  value?: PropertyValue;
  /** Source timestamp (ms) when the protocol carries one. */
  time?: number;
  quality?: Quality;
  error?: ReadingError;
}

/**
 * A request answered as one block of bytes (Modbus registers, a PLC data block, a characteristic):
 * the block, and the readings cut from it. The runtime keeps the last block of each request; when
 * a new one is byte for byte the same and no property is due for its reportCycle, it counts the
 * reads and never calls readings(): most registers of a plant hold still between polls.
 */
export interface RawBlock {
  block: Uint8Array;
  readings(): RawReading[];
  /**
   * Optional: where each property of the request lies in `block`, for a driver whose properties
   * sit at fixed places in it (registers at offsets). With it, the runtime decodes a changed
   * block in place, with no RawReading and no view per value, and never calls readings(); a
   * property whose place does not fit the block, or that has no codec, still goes through
   * readings(). Build it once per request (a plan's requests live as long as its configuration).
   */
  layout?: BlockLayout;
}

/**
 * A request's properties in its answer block, in the request's order: property i is the
 * `lengths[i]` bytes from `offsets[i]`, exactly what readings() would give as its `raw`. Both
 * arrays hold one whole, non-negative number per property of the request, or the runtime ignores
 * the layout. Readings decoded through it are good and take the poll's time, as a RawReading with
 * only `raw` would.
 */
export interface BlockLayout {
  readonly offsets: ArrayLike<number>;
  readonly lengths: ArrayLike<number>;
}

/** The readings of what read() returned, whichever form it took. */
export function readingsOf(result: RawReading[] | RawBlock): RawReading[] {
  return Array.isArray(result) ? result : result.readings();
}

/**
 * The third argument of Connection.subscribe: pushed values handed over one at a time, by the
 * property's index in the `properties` that subscribe() received, with no object per value. What
 * a driver hands over in one synchronous stretch (one publish response, one notification frame)
 * reaches the twin as one batch, in order, after the stretch ends; `emit` still works beside it.
 */
export interface PushChannel {
  /**
   * A typed value of `properties[index]`, as RawReading.value would carry it (the visitor's scale
   * and the property type apply). `time`: the source timestamp in ms, if the protocol has one.
   */
  value(index: number, value: PropertyValue, time?: number, quality?: 'good' | 'uncertain'): void;
  /** Anything value() cannot say (a bad status with its error, raw bytes for a codec), in order with the values. */
  reading(reading: RawReading): void;
}

/** Narrow context a driver gets: nothing global, nothing it could misuse. */
export interface DriverContext {
  readonly log: Logger;
  /** Aborted when the device is stopped or the gateway shuts down. */
  readonly signal: AbortSignal;
  /** Shared links: one TCP endpoint, one serial bus, one adapter, reference counted. */
  readonly links: LinkRegistry;
  /** The gateway's data directory (certificate stores and the like live under it). */
  readonly dataDir: string;
  /**
   * A link shared by every device that reaches it the same way (`key`: one TCP connection to a
   * PLC, one OPC UA session) and that can break. `open` gets `fail`: call it when the link breaks
   * (the socket closed, a keep-alive went unanswered). The runtime does the rest: every device on
   * the link goes offline and reconnects with backoff, the next share() opens a fresh link, the
   * broken one closes when its last holder let go, and this device's lease is released when its
   * connection closes or its connect fails. `what` names the link in messages.
   */
  readonly share: <T extends { close(): Promise<void> | void }>(key: string, open: (fail: (err: Error) => void) => Promise<T>, what?: string) => Promise<LinkLease<T>>;
  /** Tell the runtime the connection broke (a push protocol notices before any read does). */
  readonly lost: (error: Error) => void;
  /**
   * Count something the protocol saw that no reading shows: a frame dropped for its checksum or
   * its shape. Exported as edgetwin_mapper_driver_events_total{device, protocol,
   * event}; keep `event` to a few fixed snake_case names (it is a label).
   */
  readonly count: (event: string, n?: number) => void;
}

export interface Connection<V = ConfigData> {
  /** One RawReading per property of the request, or the block they are all cut from. */
  read(request: ReadRequest<V>, signal: AbortSignal): Promise<RawReading[] | RawBlock>;
  /** `value` is typed; `raw` is set when the driver declared a codec for this property. */
  write(property: PropertyBinding<V>, value: { value: PropertyValue; raw?: Uint8Array }, signal: AbortSignal): Promise<void>;
  /**
   * Push protocols: deliver readings as they arrive. Returns a function that unsubscribes.
   * `push` (SDK 1.2, optional to use) takes values one by one without a RawReading each, for
   * streams of tens of thousands of values a second; `emit` stays the simple way.
   */
  subscribe?(properties: readonly PropertyBinding<V>[], emit: (readings: RawReading[]) => void, push?: PushChannel): Promise<() => Promise<void>>;
  /**
   * With Driver.streamTimeout: the message of the bad readings when the stream has been silent for
   * `ms` (say what the connection saw meanwhile: partial or dropped frames). Default: "no pushed
   * data for <ms> ms".
   */
  silence?(ms: number): string;
  close(): Promise<void>;
}

/** A device a driver found (Driver.discover): enough to propose its Device YAML. */
export interface DiscoveredDevice {
  /** A name for the Device (a Kubernetes name). */
  name: string;
  /** The protocol.configData that reaches it. */
  protocol: ConfigData;
  /** Properties found, with a KubeEdge type (INT, DOUBLE, ...) and the visitor configData that reads each. */
  properties?: { name: string; type: string; visitor: ConfigData }[];
  /** What the protocol saw, for a person choosing (RSSI and advertised services; browse paths). */
  details?: Record<string, unknown>;
  /** A DeviceModel and Device proposal in YAML, when the driver made one (proposalYaml). */
  proposal?: string;
}

export interface Driver<P = ConfigData, V = ConfigData> {
  /** protocolName as it appears in Device YAML. */
  readonly name: string;
  /** semver range of SDK_VERSION this driver was written for. */
  readonly sdkVersion: string;
  readonly protocolSchema: JsonSchema;
  readonly visitorSchema: JsonSchema;
  /** Cross-field checks a schema cannot express; return messages naming the field. */
  check?(device: DeviceBinding<P, V>): { property?: string; path: string; message: string }[];
  /** Link key: devices with the same key share a scheduler (one TCP endpoint, one serial bus). */
  link?(device: DeviceBinding<P, V>): string;
  /** Requests a link may keep in flight at once (Modbus TCP maxInFlight); default 1. */
  maxInFlight?(device: DeviceBinding<P, V>): number;
  /** Milliseconds before one request (read, write or connect) counts as ETIMEDOUT; default 5000. */
  timeout?(device: DeviceBinding<P, V>): number;
  /** The serial port this device uses, if any: the runtime checks port conflicts across protocols at load. */
  serial?(device: DeviceBinding<P, V>): SerialSettings | undefined;
  /** Group properties into as few wire requests as the protocol allows; default one per property. */
  plan?(device: DeviceBinding<P, V>, properties: readonly PropertyBinding<V>[]): ReadRequest<V>[];
  /**
   * For a device that mixes pushed and polled properties (BLE notify beside GATT reads, OPC UA
   * subscriptions beside polled nodes): true for a property the connection's subscribe() delivers.
   * The runtime subscribes those and polls the rest through plan(). Without this hook a
   * connection that can subscribe gets every property pushed and none polled.
   */
  pushes?(property: PropertyBinding<V>, device: DeviceBinding<P, V>): boolean;
  /**
   * Milliseconds without a pushed reading after which the runtime turns the pushed properties bad
   * (ETIMEDOUT), again after each such interval until data flows. It checks every quarter of it, so
   * silence shows between 1 and 1.25 intervals after the last reading; the link stays up.
   */
  streamTimeout?(device: DeviceBinding<P, V>): number | undefined;
  /** When set for a property, reads return raw bytes and writes receive encoded bytes. */
  codec?(property: PropertyBinding<V>): CodecSpec | undefined;
  connect(device: DeviceBinding<P, V>, ctx: DriverContext): Promise<Connection<V>>;
  /**
   * Find devices for onboarding (a BLE scan, an OPC UA browse), outside any running device: the
   * CLI and the dashboard call it through MapperHost.discover. `options` are the driver's own
   * (document them in its README); links it opens are closed when the iteration ends.
   */
  discover?(options: ConfigData, ctx: DriverContext): AsyncIterable<DiscoveredDevice>;
}

/** Identity helper that keeps a driver's generic parameters inferred. */
export function defineDriver<P, V>(driver: Driver<P, V>): Driver<P, V> {
  return driver;
}
