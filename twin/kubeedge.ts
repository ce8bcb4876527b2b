// KubeEdge's MQTT payloads, built from twin views. Shapes follow KubeEdge's edge/pkg/devicetwin
// dttype (MsgTwin, DeviceTwinResult, DeviceTwinDelta, DeviceTwinDocument, MembershipDetail,
// MembershipUpdate, DeviceMsg, Result): versions are left out of results, deltas and documents,
// as KubeEdge does for edge applications. Values are strings here, typed inside the twin.

import { randomUUID } from 'node:crypto';
import { formatValue } from '../core/values.ts';
import { DataUpdateWriter } from './data-update.ts';
import type { ReportedUpdate, TwinPropertyView, TwinVersion, TwinView } from './types.ts';

export interface KeValue {
  value: string;
  metadata: Record<string, unknown>;
}

export interface MsgTwin {
  expected?: KeValue;
  actual?: KeValue;
  optional: boolean;
  metadata: { type: string };
  expected_version?: TwinVersion;
  actual_version?: TwinVersion;
}

export const PROPERTY_KEY_MAX_BYTES = 128;
export const PROPERTY_VALUE_MAX_BYTES = 512;

export function base(eventId?: string): { event_id: string; timestamp: number } {
  return { event_id: eventId ?? randomUUID(), timestamp: Date.now() };
}

export function msgTwin(p: TwinPropertyView, withVersions = false): MsgTwin {
  const t: MsgTwin = { optional: false, metadata: { type: p.type } };
  if (p.desired) t.expected = { value: formatValue(p.type, p.desired.value), metadata: { timestamp: p.desired.time } };
  if (p.reported?.value !== undefined) {
    const metadata: Record<string, unknown> = { timestamp: p.reported.time, quality: p.reported.quality };
    if (p.reported.error) metadata.error = { code: p.reported.error.code, message: p.reported.error.message };
    t.actual = { value: formatValue(p.type, p.reported.value), metadata };
  }
  if (withVersions) {
    t.expected_version = { ...p.expectedVersion };
    t.actual_version = { ...p.actualVersion };
  }
  return t;
}

export function errorResult(eventId: string, code: 400 | 404 | 409 | 500, reason: string): string {
  return JSON.stringify({ ...base(eventId), code, reason });
}

/** update/result and get/result: the twin of the named properties (all when keys is absent). */
export function twinResult(eventId: string, view: TwinView, keys?: string[]): string {
  const twin: Record<string, MsgTwin> = {};
  for (const k of keys ?? Object.keys(view.properties)) twin[k] = msgTwin(view.properties[k]!);
  return JSON.stringify({ ...base(eventId), twin });
}

export function documentPayload(eventId: string | undefined, pairs: [name: string, last: TwinPropertyView, current: TwinPropertyView][]): string {
  const twin: Record<string, { last: MsgTwin; current: MsgTwin }> = {};
  for (const [name, last, current] of pairs) twin[name] = { last: msgTwin(last), current: msgTwin(current) };
  return JSON.stringify({ ...base(eventId), twin });
}

/** update/delta, or undefined when every expected value is met (KubeEdge publishes none then). */
export function deltaPayload(view: TwinView): string | undefined {
  const twin: Record<string, MsgTwin> = {};
  const delta: Record<string, string> = {};
  for (const p of Object.values(view.properties)) {
    if (!p.desired) continue;
    const t = msgTwin(p);
    twin[p.name] = t;
    // The twin's own delta (at the property's wire precision), not the strings: a float32 that holds
    // 23.1 as 23.100000381 formats differently and is still at its desired value.
    if (p.delta) delta[p.name] = t.expected!.value;
  }
  if (Object.keys(delta).length === 0) return undefined;
  return JSON.stringify({ ...base(), twin, delta });
}

const dataUpdates = new DataUpdateWriter();

/**
 * $ke/events/device/{id}/data/update: one message for all properties a flush touched, as UTF-8
 * bytes (twin/data-update.ts writes them without a string per value: it runs for every value a
 * gateway reports). A value the store could not write (a full disk) carries `"persisted": "false"`
 * in its metadata: it is live, but a restart now would lose it. (KubeEdge's metadata is an open
 * map of strings.)
 */
export function dataUpdate(updates: readonly ReportedUpdate[], persisted = true): Buffer {
  return dataUpdates.write(updates, persisted);
}

export interface KeDevice {
  id: string;
  name: string;
  state?: string;
  last_online?: string;
  twin?: Record<string, MsgTwin>;
}

export function keDevice(view: TwinView, withTwin: boolean): KeDevice {
  const d: KeDevice = { id: view.device, name: view.name, state: view.state };
  if (view.lastOnline !== undefined) d.last_online = goTime(view.lastOnline);
  if (withTwin) d.twin = Object.fromEntries(Object.values(view.properties).map((p) => [p.name, msgTwin(p)]));
  return d;
}

/** state/update/result and connected/disconnected: `{event_id, timestamp, device: {name, state, last_online}}`. */
export function deviceStatePayload(eventId: string | undefined, view: TwinView, extra: Record<string, unknown> = {}): string {
  const device: Record<string, string> = { name: view.name, state: view.state };
  if (view.lastOnline !== undefined) device.last_online = goTime(view.lastOnline);
  return JSON.stringify({ ...base(eventId), ...extra, device });
}

/** KubeEdge's Go layout "2006-01-02 15:04:05", local time as Go's time.Format writes it. */
export function goTime(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}
