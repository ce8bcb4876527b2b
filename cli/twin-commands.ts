// `edgetwin devices`, `edgetwin twin get`, `edgetwin twin set`: clients of a running gateway.

import { apiRequest, splitDeviceRef, type ApiTarget } from './client.ts';
import { renderTable } from './table.ts';

interface DeviceSummaryJson {
  device: string;
  state: string;
  protocol: string;
  model: string;
  properties: number;
  deltas: number;
  failed: number;
}

export async function devicesCommand(api: ApiTarget, json: boolean): Promise<void> {
  const body = await apiRequest<{ devices: DeviceSummaryJson[] }>(api, 'GET', 'api/v1/devices');
  if (json) {
    process.stdout.write(JSON.stringify(body, null, 2) + '\n');
    return;
  }
  const rows = body.devices.map((d) => [d.device, d.state, d.protocol, d.model, String(d.properties), String(d.deltas), String(d.failed)]);
  process.stdout.write(renderTable(['DEVICE', 'STATE', 'PROTOCOL', 'MODEL', 'PROPERTIES', 'DELTAS', 'FAILED'], rows));
}

/** Values arrive as JSON scalars (numbers, booleans, strings; big integers and bytes as strings). */
type JsonValue = string | number | boolean;

interface TwinPropertyJson {
  name: string;
  desired?: { value: JsonValue; version: number; time: number; origin: string };
  reported?: { value?: JsonValue; time: number; quality: string; error?: { code: string; message: string } };
  reconcile: { state: string; attempts: number; reason?: string };
}

interface TwinJson {
  device: string;
  state: string;
  stateReason?: string;
  properties: Record<string, TwinPropertyJson>;
}

export async function twinGetCommand(api: ApiTarget, ref: string, json: boolean): Promise<void> {
  const { namespace, name } = splitDeviceRef(ref);
  const twin = await apiRequest<TwinJson>(api, 'GET', `api/v1/devices/${enc(namespace)}/${enc(name)}/twin`);
  if (json) {
    process.stdout.write(JSON.stringify(twin, null, 2) + '\n');
    return;
  }
  process.stdout.write(`${twin.device}  state: ${twin.state}${twin.stateReason ? ` (${twin.stateReason})` : ''}\n`);
  const rows = Object.values(twin.properties).map((p) => [
    p.name,
    p.reported?.value === undefined ? '' : String(p.reported.value),
    p.reported ? p.reported.quality + (p.reported.error ? ` (${p.reported.error.message})` : '') : '',
    p.desired === undefined ? '' : String(p.desired.value),
    p.reconcile.state === 'none' ? '' : p.reconcile.state + (p.reconcile.reason ? ` (${p.reconcile.reason})` : ''),
    p.reported?.time ? new Date(p.reported.time).toISOString() : '',
  ]);
  process.stdout.write(renderTable(['PROPERTY', 'REPORTED', 'QUALITY', 'DESIRED', 'RECONCILE', 'TIME'], rows));
}

export async function twinSetCommand(api: ApiTarget, ref: string, assignments: string[]): Promise<void> {
  const { namespace, name } = splitDeviceRef(ref);
  for (const a of assignments) {
    const eq = a.indexOf('=');
    if (eq <= 0) throw new Error(`"${a}" is not an assignment: write <property>=<value>, e.g. setpoint=21.5`);
    const property = a.slice(0, eq);
    const value = a.slice(eq + 1);
    const result = await apiRequest<{ version: number; reconcile: string }>(
      api,
      'PUT',
      `api/v1/devices/${enc(namespace)}/${enc(name)}/twin/desired/${enc(property)}`,
      { value, origin: 'cli' },
    );
    process.stdout.write(`${namespace}/${name} ${property} desired=${value}  version ${result.version} (${result.reconcile})\n`);
  }
}

const enc = encodeURIComponent;
