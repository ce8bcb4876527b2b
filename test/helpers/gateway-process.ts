// Runs `edgetwin run` as a child process on free ports, the way a user would, and talks to it
// with the real CLI. Each test kills only the gateway it started.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort, waitFor } from '../../core/testing.ts';

export const ROOT = resolve(import.meta.dirname, '..', '..');
export const BIN = join(ROOT, 'cli', 'bin', 'edgetwin.js');

export interface GatewayProcess {
  child: ChildProcess;
  apiUrl: string;
  mqttPort: number;
  dataDir: string;
  /** Everything the gateway wrote to stderr (its log) so far. */
  log(): string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export async function startGatewayProcess(opts: {
  devices: string[];
  dataDir?: string;
  extra?: string[];
  env?: NodeJS.ProcessEnv;
  /** `https` when the test gives the API a certificate. */
  apiScheme?: 'http' | 'https';
  /** Ports to use (a restarted gateway keeps its predecessor's); default: free ones. */
  apiPort?: number;
  mqttPort?: number;
  /** Tells when the gateway is up; default: a plain GET /healthz answers 2xx. */
  ready?: (apiUrl: string) => Promise<boolean>;
}): Promise<GatewayProcess> {
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'edgetwin-e2e-'));
  const mqttPort = opts.mqttPort ?? await freePort();
  const apiPort = opts.apiPort ?? await freePort();
  const args = ['run', '--devices', ...opts.devices, '--data-dir', dataDir, '--mqtt-port', String(mqttPort), '--api-port', String(apiPort), '--node-name', 'test-node', '--no-live', ...(opts.extra ?? [])];
  // The bin itself, as `npx edgetwin` runs it (its shebang carries the gateway's V8 flags).
  const child = spawn(BIN, args, { cwd: ROOT, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stderr!.on('data', (d) => (out += d));
  child.stdout!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const apiUrl = `${opts.apiScheme ?? 'http'}://127.0.0.1:${apiPort}`;
  // Up is up: a degraded gateway (503) answers too, and tests check what it says.
  const ready = opts.ready ?? (async (url: string) => (await fetch(`${url}/healthz`).catch(() => undefined)) !== undefined);
  try {
    await waitFor('the gateway to answer /healthz', async () => {
      if (child.exitCode !== null) throw new Error(`gateway exited with ${child.exitCode}:\n${out}`);
      // The API answers while devices still load (degraded, "loading the device files"): the log line
      // after the first load says the gateway is running.
      if (!opts.ready && !out.includes('edgetwin gateway running')) return undefined;
      return (await ready(apiUrl).catch(() => false)) || undefined;
    }, 30_000, 100);
  } catch (err) {
    // A gateway that never came up must not outlive the test (it would keep the run from ending).
    child.kill('SIGKILL');
    await exited;
    throw new Error(`${(err as Error).message}\ngateway output:\n${out}`, { cause: err });
  }
  return {
    child,
    apiUrl,
    mqttPort,
    dataDir,
    log: () => out,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** Run the real CLI once and collect its output. */
export async function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
  return { code, stdout, stderr };
}
