// `edgetwin run` reloads when a --devices file changes and on SIGHUP, restarting only the
// devices that changed; an invalid edit is reported and the last good version keeps running.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, startGatewayProcess, type GatewayProcess } from './helpers/gateway-process.ts';
import { waitFor } from '../core/testing.ts';

interface TwinJson {
  state: string;
  properties: Record<string, { reported?: { value?: unknown; time: number } }>;
}

describe('reload of --devices files', () => {
  let gw: GatewayProcess;
  let dir: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'edgetwin-reload-'));
    cpSync(join(ROOT, 'examples', 'quickstart'), dir, { recursive: true });
    gw = await startGatewayProcess({ devices: [dir] });
  });
  after(async () => {
    await gw?.stop();
  });

  const twin = async (ref: string): Promise<TwinJson> => {
    const res = await fetch(`${gw.apiUrl}/api/v1/devices/${ref}/twin`);
    return (await res.json()) as TwinJson;
  };
  const reported = async (ref: string, property: string) => (await twin(ref)).properties[property]?.reported;

  it('applies an edited file and restarts only the device that changed', async () => {
    await waitFor('batch reported', async () => (await reported('default/packaging-line', 'batch'))?.value === 'B-2026-001');
    const file = join(dir, 'packaging-line.yaml');
    const mark = gw.log().length;
    writeFileSync(file, readFileSync(file, 'utf8').replace('B-2026-001', 'B-2026-002'));
    await waitFor('the new batch code reported', async () => (await reported('default/packaging-line', 'batch'))?.value === 'B-2026-002');
    // The log comes through a pipe and may trail the API: wait for the line itself.
    await waitFor('the reload logged', () => gw.log().slice(mark).includes('"devices applied"'));
    // A save may reach the watcher as more than one event; whatever reloads ran, only the edited device moved.
    const applied = gw.log().slice(mark).split('\n').filter((l) => l.includes('"devices applied"'))
      .map((l) => JSON.parse(l) as { started: string[]; stopped: string[]; restarted: string[] });
    assert.deepEqual(applied.map((a) => [a.started, a.stopped, a.restarted]), [[[], [], ['default/packaging-line']]]);
  });

  it('keeps the devices of a file caught empty mid-save, and applies the file once written', async () => {
    const file = join(dir, 'packaging-line.yaml');
    const good = readFileSync(file, 'utf8');
    const mark = gw.log().length;
    writeFileSync(file, '');
    await waitFor('the empty file reported', () => gw.log().slice(mark).includes('file is empty'));
    assert.equal((await twin('default/packaging-line')).state, 'online');
    assert.ok(!gw.log().slice(mark).includes('"devices applied"'), 'no device was stopped');
    writeFileSync(file, good.replace('B-2026-002', 'B-2026-003'));
    await waitFor('the rewritten batch code reported', async () => (await reported('default/packaging-line', 'batch'))?.value === 'B-2026-003');
  });

  it('reports an invalid edit with file and line, and keeps the last good version running', async () => {
    const file = join(dir, 'thermostat.yaml');
    const good = readFileSync(file, 'utf8');
    writeFileSync(file, good.replace('collectCycle: 2000', 'collectCycle: "often"'));
    await waitFor('the error logged', () => /thermostat\.yaml:\d+.*collectCycle/.test(gw.log()));
    const before = (await reported('default/thermostat', 'temperature'))!.time!;
    await waitFor('temperature still reported after the bad edit', async () => ((await reported('default/thermostat', 'temperature'))?.time ?? 0) > before);
    assert.equal((await twin('default/thermostat')).state, 'online');
    writeFileSync(file, good);
  });

  it('reloads on SIGHUP', async () => {
    gw.child.kill('SIGHUP');
    await waitFor('a reload for SIGHUP', () => gw.log().includes('"why":"SIGHUP"'));
  });
});
