// The opcua-line example as its README runs it: the simulator in its own process, the example's
// YAML (pointed at the simulator's port), values flowing, and setpoints written through the runtime.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { loadFromTexts } from '../../core/model/load.ts';
import { silentLogger } from '../../core/log.ts';
import { MapperHost } from '../../mappers/sdk/index.ts';
import { RecordingSink, waitFor } from '../../mappers/sdk/testing.ts';
import { opcuaLoader } from '../../mappers/opcua/index.ts';
import { freePort } from '../../core/testing.ts';

const dir = mkdtempSync(join(tmpdir(), 'edgetwin-opcua-line-'));
let child: ChildProcess;
let port: number;


before(async () => {
  port = await freePort();
  child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'simulator.ts'), '--port', String(port), '--pki', join(dir, 'server-pki')], { stdio: ['ignore', 'pipe', 'ignore'] });
  for await (const line of createInterface({ input: child.stdout! })) if (line.includes('listening on')) break;
});
after(async () => {
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
  rmSync(dir, { recursive: true, force: true });
});

test('the example line reports every property and takes setpoints', async () => {
  const text = readFileSync(join(import.meta.dirname, 'line.yaml'), 'utf8').replace('opc.tcp://127.0.0.1:4840', `opc.tcp://127.0.0.1:${port}`);
  const model = loadFromTexts([{ file: 'line.yaml', text }]);
  assert.deepEqual(model.errors.map((e) => e.format()), []);
  const sink = new RecordingSink();
  const host = new MapperHost({ sink, drivers: [opcuaLoader], log: silentLogger, dataDir: join(dir, 'data') });
  try {
    await host.apply(model.devices);
    const id = model.devices[0]!.id;
    for (const p of model.devices[0]!.properties) {
      await waitFor(() => sink.latest(id, p.name)?.quality === 'good' || undefined, `a good reading of ${p.name}`, 30_000);
    }
    const speedUp = await host.write(id, 'speedSetpoint', 90);
    assert.equal(speedUp.ok, true, speedUp.error?.message);
    await waitFor(() => Number(sink.latest(id, 'speed')?.value) > 80 || undefined, 'the line to speed up', 30_000);
    const stop = await host.write(id, 'state', 0);
    assert.equal(stop.ok, true, stop.error?.message);
    assert.equal(stop.readBack, 0, 'the state enumeration is written as its Int32 value');
    await waitFor(() => Number(sink.latest(id, 'speed')?.value) < 10 || undefined, 'the line to slow down when stopped', 30_000);
  } finally {
    await host.close();
  }
});
