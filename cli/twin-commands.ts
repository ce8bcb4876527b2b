// `edgetwin devices`, `edgetwin twin get`, `edgetwin twin set`: clients of a running gateway.

import { apiRequest, splitDeviceRef } from './client.ts';
import { renderTable } from './table.ts';

interface DeviceSummaryJson {
  id: string;
  namespace: string;
  name: string;
  protocol?: string;
  state: string;
  properties?: number;
  model?: string;
}

export async function devicesCommand(apiUrl: string, json: boolean): Promise<void> {
  const body = await apiRequest<{ devices: DeviceSummaryJson[] }>(apiUrl, 'GET', 'api/v1/devices');
  if (json) {
    process.stdout.write(JSON.stringify(body, null, 2) + '\n');
    return;
  }
  const rows = body.devices.map((d) => [d.id, d.state, d.protocol ?? '', d.model ?? '', String(d.properties ?? '')]);
  process.stdout.write(renderTable(['DEVICE', 'STATE', 'PROTOCOL', 'MODEL', 'PROPERTIES'], rows));
}

interface TwinPropertyJson {
  name: string;
  type?: string;
  desired?: { value: string; version?: number; time?: number; origin?: string };
  reported?: { value?: string; time?: number; quality?: string; error?: { code: string; message: string } };
  reconcile?: { state: string; attempts?: number; reason?: string };
}

interface TwinJson {
  id: string;
  state: string;
  properties: TwinPropertyJson[];
}

export async function twinGetCommand(apiUrl: string, ref: string, json: boolean): Promise<void> {
  const { namespace, name } = splitDeviceRef(ref);
  const twin = await apiRequest<TwinJson>(apiUrl, 'GET', `api/v1/devices/${enc(namespace)}/${enc(name)}/twin`);
  if (json) {
    process.stdout.write(JSON.stringify(twin, null, 2) + '\n');
    return;
  }
  process.stdout.write(`${twin.id}  state: ${twin.state}\n`);
  const rows = twin.properties.map((p) => [
    p.name,
    p.reported?.value ?? '',
    p.reported?.quality ?? '',
    p.desired?.value ?? '',
    p.reconcile ? p.reconcile.state + (p.reconcile.reason ? ` (${p.reconcile.reason})` : '') : '',
    p.reported?.time ? new Date(p.reported.time).toISOString() : '',
  ]);
  process.stdout.write(renderTable(['PROPERTY', 'REPORTED', 'QUALITY', 'DESIRED', 'RECONCILE', 'TIME'], rows));
}

export async function twinSetCommand(apiUrl: string, ref: string, assignments: string[]): Promise<void> {
  const { namespace, name } = splitDeviceRef(ref);
  for (const a of assignments) {
    const eq = a.indexOf('=');
    if (eq <= 0) throw new Error(`"${a}" is not an assignment: write <property>=<value>, e.g. setpoint=21.5`);
    const property = a.slice(0, eq);
    const value = a.slice(eq + 1);
    const result = await apiRequest<{ version?: number; reconcile?: { state: string } }>(
      apiUrl,
      'PUT',
      `api/v1/devices/${enc(namespace)}/${enc(name)}/twin/desired/${enc(property)}`,
      { value },
    );
    process.stdout.write(`${namespace}/${name} ${property} desired=${value}${result.version !== undefined ? ` version ${result.version}` : ''}${result.reconcile ? ` (${result.reconcile.state})` : ''}\n`);
  }
}

const enc = encodeURIComponent;
