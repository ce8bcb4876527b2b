// Nothing the twin acknowledged (announced after its commit) is lost when the process is killed
// with SIGKILL mid-stream.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { it } from 'node:test';
import { silentLogger } from '../core/log.ts';
import { TwinStore } from '../twin/store.ts';
import { device, property, tempDir, waitFor } from '../twin/testing.ts';
import { DeviceTwin } from '../twin/twin.ts';

it('keeps every acknowledged update across kill -9', async () => {
  const tmp = tempDir();
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('../twin/testing-crash-child.ts', import.meta.url)), tmp.dir], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let lastAck = 0;
  let buf = '';
  child.stdout.on('data', (d: Buffer) => {
    buf += d.toString();
    const lines = buf.split('\n');
    buf = lines.pop()!;
    for (const l of lines) if (l.startsWith('ack ')) lastAck = Number(l.slice(4));
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  try {
    await waitFor('the child to acknowledge a few thousand updates', () => lastAck > 3000, 30_000);
    child.kill('SIGKILL');
    await exited;
    const store = TwinStore.open(tmp.dir);
    const twin = new DeviceTwin({ store, log: silentLogger, nodeName: 'crash' });
    twin.setDevices([device('counter', [property('n', { accessMode: 'ReadOnly' })])]);
    const kept = twin.get('default/counter')!.properties.n!.reported!.value as number;
    assert.ok(kept >= lastAck, `store has ${kept}, the child acknowledged ${lastAck}`);
    assert.ok(twin.get('default/counter')!.properties.n!.actualVersion.edge >= lastAck);
    await twin.close();
    store.close();
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    tmp.remove();
  }
});
