// A gateway joined to a cloud, as a child process on the built CLI, with the link's intervals short
// so fault tests take seconds: the cloud-devices and edge-link process tests start it the same way.
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { freePort, waitFor } from '../../core/testing.ts';

const ROOT = resolve(import.meta.dirname, '..', '..');

export interface Edge {
  child: ChildProcess;
  api: string;
  log: string[];
}

/** `edgetwin run --cloud wss://127.0.0.1:{proxyPort}` on `dataDir` (joined before), plus `extra` flags; up once /healthz is ok. */
export async function startEdge(dataDir: string, proxyPort: number, extra: string[] = []): Promise<Edge> {
  const apiPort = await freePort();
  const mqttPort = await freePort();
  const config = join(dataDir, 'edgetwin.yaml');
  writeFileSync(config, `cloud:\n  heartbeat: 0.3\n  resend: 2\n  reconnect: { first: 0.1, max: 0.5 }\n`);
  const child = spawn(
    join(ROOT, 'cli', 'bin', 'edgetwin.js'),
    ['run', '--config', config, '--cloud', `wss://127.0.0.1:${proxyPort}`, '--data-dir', dataDir, '--api-port', String(apiPort), '--mqtt-port', String(mqttPort), '--no-live', ...extra],
    { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const log: string[] = [];
  child.stderr!.on('data', (c: Buffer) => log.push(c.toString()));
  const api = `http://127.0.0.1:${apiPort}`;
  // ok only after the first device load: a cloud that is away does not degrade it.
  await waitFor('the gateway to start', async () => {
    if (child.exitCode !== null) throw new Error(log.join(''));
    return (await fetch(`${api}/healthz`).catch(() => undefined))?.ok === true;
  }, 30_000, 50);
  return { child, api, log };
}

/** Ends the gateway with `signal` (SIGTERM to stop, SIGKILL for a crash) and waits for its exit. */
export async function stopEdge(e: Edge, signal: NodeJS.Signals): Promise<void> {
  if (e.child.exitCode !== null || e.child.signalCode !== null) return;
  await new Promise<void>((r) => {
    e.child.once('exit', () => r());
    e.child.kill(signal);
  });
}
