// `edgetwin cloud` and gateways joined to it, as child processes run from the bin the way a user
// runs them, for the fleet view's browser test and the docs screenshots. Each caller stops only
// the processes it started.

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort, waitFor } from '../../core/testing.ts';
import { BIN, ROOT } from './gateway-process.ts';

const run = promisify(execFile);
export const QUICKSTART = join(ROOT, 'examples', 'quickstart');

export interface Child {
  child: ChildProcess;
  log(): string;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

function start(args: string[]): Child {
  const child = spawn(BIN, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, KUBECONFIG: '' } });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d));
  child.stderr!.on('data', (d: Buffer) => (out += d));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  return {
    child,
    log: () => out,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}

export interface CloudPorts { port: number; joinPort: number; httpPort: number }

/** `edgetwin cloud` on free ports (or the given ones, for a restart), short keepalive; resolves once /healthz answers. */
export async function startCloudCli(stateDir: string, ports?: CloudPorts, extra: string[] = []): Promise<Child & { ports: CloudPorts; url: string }> {
  const p = ports ?? { port: await freePort(), joinPort: await freePort(), httpPort: await freePort() };
  mkdirSync(stateDir, { recursive: true });
  const config = join(stateDir, 'cloud.yaml');
  writeFileSync(config, 'cloudhub:\n  keepaliveTimeout: 3s\n');
  const c = start(['cloud', '--state-dir', stateDir, '--config', config, '--listen', '127.0.0.1', '--advertise', '127.0.0.1',
    '--port', String(p.port), '--join-port', String(p.joinPort), '--http-port', String(p.httpPort), '--log-level', 'warn', ...extra]);
  const url = `http://127.0.0.1:${p.httpPort}`;
  await waitFor('the cloud to answer /healthz', async () => {
    if (c.child.exitCode !== null) throw new Error(`the cloud exited: ${c.log()}`);
    return (await fetch(`${url}/healthz`).catch(() => undefined))?.ok;
  }, 30_000, 100);
  return { ...c, ports: p, url };
}

/** `edgetwin cloud token` and `edgetwin join` for `node` into `dataDir`. */
export async function joinGateway(stateDir: string, cloud: CloudPorts, node: string, dataDir: string): Promise<void> {
  const token = (await run(BIN, ['cloud', 'token', '--state-dir', stateDir], { cwd: ROOT })).stdout.trim();
  await run(BIN, ['join', '--cloud', `127.0.0.1:${cloud.joinPort}`, '--token', token, '--node-name', node, '--data-dir', dataDir], { cwd: ROOT });
}

/** `edgetwin run --cloud` of a joined gateway with the quick start, quick heartbeat and reconnects; resolves once it is linked. */
export async function startLinkedGateway(dataDir: string, cloud: CloudPorts, ports?: { api: number; mqtt: number }): Promise<Child & { api: number; mqtt: number }> {
  const p = ports ?? { api: await freePort(), mqtt: await freePort() };
  const config = join(dataDir, 'edgetwin.yaml');
  writeFileSync(config, 'cloud:\n  heartbeat: 0.3\n  reconnect: { first: 0.1, max: 0.5 }\n');
  const g = start(['run', '--config', config, '--cloud', `wss://127.0.0.1:${cloud.port}`, '--data-dir', dataDir, '--devices', QUICKSTART,
    '--api-port', String(p.api), '--mqtt-port', String(p.mqtt), '--no-live', '--log-level', 'warn']);
  await waitFor('the gateway linked to the cloud', async () => {
    if (g.child.exitCode !== null) throw new Error(`the gateway exited: ${g.log()}`);
    const res = await fetch(`http://127.0.0.1:${p.api}/healthz`).catch(() => undefined);
    const h = (await res?.json().catch(() => undefined)) as { cloud?: { connected?: boolean } } | undefined;
    return h?.cloud?.connected;
  }, 60_000, 100);
  return { ...g, ...p };
}
