// The DeviceController's messages, in KubeEdge's shapes (cloud/pkg/devicecontroller/controller/
// downstream.go and upstream.go): membership, devicemodel and device down to a node; the twin
// and state reports up from it, read into what DeviceStatus shows.
import { randomUUID } from 'node:crypto';
import { cloudResource, Groups, newMessage, Operations, Sources, type Message } from '../../message/index.ts';
import { DEVICES_GROUP, DEVICES_VERSION } from '../crds.ts';
import type { Device, DeviceError, DeviceModel, TwinValue } from './types.ts';

const API_VERSION = `${DEVICES_GROUP}/${DEVICES_VERSION}`;

export function deviceId(d: Device): string {
  return `${d.metadata?.namespace ?? 'default'}/${d.metadata?.name ?? ''}`;
}

/** `node/{node}/membership`, group twin, NO-ACK: devices added to or removed from the node. */
export function membershipMessage(node: string, added: Device[], removed: Device[]): Message {
  const entry = (d: Device) => ({ id: deviceId(d), name: d.metadata?.name ?? '', description: d.metadata?.labels?.description ?? '' });
  return newMessage(
    { source: Sources.DEVICECONTROLLER, group: Groups.TWIN, operation: Operations.UPDATE, resource: `node/${node}/membership` },
    { event_id: randomUUID(), timestamp: Date.now(), added_devices: added.map(entry), removed_devices: removed.map(entry) },
  );
}

export type Op = typeof Operations.INSERT | typeof Operations.UPDATE | typeof Operations.DELETE;

/** `node/{node}/{ns}/devicemodel/{name}`, group resource, the whole model, header RV = the model's. */
export function modelMessage(node: string, model: DeviceModel, op: Op): Message {
  const content = { ...model, apiVersion: API_VERSION, kind: 'DeviceModel' };
  return newMessage(
    { source: Sources.DEVICECONTROLLER, group: Groups.RESOURCE, operation: op, resource: cloudResource(node, model.metadata?.namespace ?? 'default', 'devicemodel', model.metadata?.name) },
    content,
    model.metadata?.resourceVersion ? { resourceVersion: model.metadata.resourceVersion } : {},
  );
}

/** `node/{node}/{ns}/device/{name}`, group resource, the whole Device, header RV = the device's. */
export function deviceMessage(node: string, device: Device, op: Op): Message {
  const content = { ...device, apiVersion: API_VERSION, kind: 'Device' };
  return newMessage(
    { source: Sources.DEVICECONTROLLER, group: Groups.RESOURCE, operation: op, resource: cloudResource(node, device.metadata?.namespace ?? 'default', 'device', device.metadata?.name) },
    content,
    device.metadata?.resourceVersion ? { resourceVersion: device.metadata.resourceVersion } : {},
  );
}

/** `device/{ns}/{name}/{rest}` as an edge writes it; undefined for anything else. */
export function parseDeviceResource(resource: string): { namespace: string; name: string; rest: string } | undefined {
  const p = resource.split('/');
  if (p[0] !== 'device' || p.length < 4 || !p[1] || !p[2]) return undefined;
  return { namespace: p[1], name: p[2], rest: p.slice(3).join('/') };
}

/** The content as an object: KubeEdge sends some contents as a JSON string. */
export function contentObject(content: unknown): Record<string, unknown> {
  let c = content;
  if (typeof c === 'string') {
    try {
      c = JSON.parse(c);
    } catch {
      throw new Error('the content is a string that is not JSON');
    }
  }
  if (!c || typeof c !== 'object' || Array.isArray(c)) throw new Error('the content is not a JSON object');
  return c as Record<string, unknown>;
}

function twinValue(v: unknown): TwinValue | undefined {
  if (!v || typeof v !== 'object') return undefined;
  const o = v as { value?: unknown; metadata?: unknown };
  if (o.value === undefined || o.value === null) return undefined;
  const value = typeof o.value === 'string' ? o.value : JSON.stringify(o.value);
  const out: TwinValue = { value };
  if (o.metadata && typeof o.metadata === 'object') {
    const md: Record<string, string> = {};
    for (const [k, x] of Object.entries(o.metadata as Record<string, unknown>)) {
      if (x === undefined || x === null) continue;
      md[k] = typeof x === 'string' ? x : JSON.stringify(x);
    }
    out.metadata = md;
  }
  return out;
}

/** `twin/edge_updated`: per property, `actual` is the reported value and `expected` the observed desired one. */
export function parseTwinUpdate(content: unknown): Record<string, { reported?: TwinValue; observedDesired?: TwinValue }> {
  const c = contentObject(content);
  const twin = c.twin;
  if (!twin || typeof twin !== 'object' || Array.isArray(twin)) throw new Error('twin/edge_updated has no "twin" map');
  const out: Record<string, { reported?: TwinValue; observedDesired?: TwinValue }> = {};
  for (const [prop, t] of Object.entries(twin as Record<string, unknown>)) {
    if (!t || typeof t !== 'object') continue;
    const x = t as { actual?: unknown; expected?: unknown };
    const entry: { reported?: TwinValue; observedDesired?: TwinValue } = {};
    const reported = twinValue(x.actual);
    const desired = twinValue(x.expected);
    if (reported) entry.reported = reported;
    if (desired) entry.observedDesired = desired;
    if (reported || desired) out[prop] = entry;
  }
  return out;
}

const STATES = new Set(['online', 'offline', 'ok', 'unknown', 'unhealthy']);

/** `state/update`: `{device: {state, lastOnlineTime, error?}}`. */
export function parseStateUpdate(content: unknown): { state?: string; lastOnlineTime?: string; error: DeviceError | null } {
  const c = contentObject(content);
  const d = c.device;
  if (!d || typeof d !== 'object') throw new Error('state/update has no "device" object');
  const dev = d as { state?: unknown; lastOnlineTime?: unknown; error?: unknown };
  const out: { state?: string; lastOnlineTime?: string; error: DeviceError | null } = { error: null };
  if (typeof dev.state === 'string') {
    if (!STATES.has(dev.state)) throw new Error(`state "${dev.state}" is not one of ${[...STATES].join(', ')}`);
    out.state = dev.state;
  }
  if (typeof dev.lastOnlineTime === 'string' && dev.lastOnlineTime) out.lastOnlineTime = dev.lastOnlineTime;
  if (dev.error && typeof dev.error === 'object') {
    const e = dev.error as { message?: unknown; field?: unknown };
    out.error = { message: typeof e.message === 'string' ? e.message : JSON.stringify(e), ...(typeof e.field === 'string' && e.field ? { field: e.field } : {}), time: new Date().toISOString() };
  } else if (typeof dev.error === 'string' && dev.error) {
    out.error = { message: dev.error, time: new Date().toISOString() };
  }
  return out;
}
