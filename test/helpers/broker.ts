// Shared pieces of the broker tests: a device with large string properties (so twin results are
// big enough to fill a stalled client's socket buffers in seconds), real mosquitto clients, and
// the gateway's /metrics.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const STRING_PROPS = Array.from({ length: 8 }, (_, i) => `label${i}`);

/** A virtual device `default/labeller` with eight writable STRING properties; returns its folder. */
export function labellerDevices(): string {
  const dir = mkdtempSync(join(tmpdir(), 'edgetwin-broker-dev-'));
  const props = STRING_PROPS.map((p) => `    - name: ${p}\n      type: STRING\n      accessMode: ReadWrite\n`).join('');
  const visitors = STRING_PROPS.map(
    (p) => `    - name: ${p}\n      collectCycle: 1000\n      visitors:\n        protocolName: virtual\n        configData:\n          function: constant\n          value: "start"\n`,
  ).join('');
  writeFileSync(
    join(dir, 'labeller.yaml'),
    `apiVersion: devices.kubeedge.io/v1beta1\nkind: DeviceModel\nmetadata:\n  name: labeller-model\n  namespace: default\nspec:\n  protocol: virtual\n  properties:\n${props}---\n` +
      `apiVersion: devices.kubeedge.io/v1beta1\nkind: Device\nmetadata:\n  name: labeller\n  namespace: default\nspec:\n  deviceModelRef:\n    name: labeller-model\n  protocol:\n    protocolName: virtual\n  properties:\n${visitors}`,
  );
  return dir;
}

/** A twin/update request setting every label to a 400-byte value that names the request. */
export function labelUpdate(eventId: string): string {
  const value = `${eventId}:`.padEnd(400, 'x');
  return JSON.stringify({ event_id: eventId, timestamp: Date.now(), twin: Object.fromEntries(STRING_PROPS.map((p) => [p, { expected: { value } }])) });
}

export interface Subscriber {
  child: ChildProcess;
  lines: string[];
  output(): string;
  stop(): Promise<void>;
}

/** A real mosquitto_sub printing `topic payload` lines. */
export function mosquittoSub(args: string[]): Subscriber {
  const child = spawn('mosquitto_sub', ['-v', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let partial = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    const parts = (partial + d).split('\n');
    partial = parts.pop()!;
    lines.push(...parts);
  });
  child.stderr!.on('data', (d) => (err += d));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  return {
    child,
    lines,
    output: () => `${lines.join('\n')}\n${partial}\n${err}`,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGCONT');
        child.kill('SIGKILL');
      }
      await exited;
    },
  };
}

/** Runs a real mosquitto_pub (or any mosquitto client) to its end. */
export async function mosquittoRun(cmd: string, args: string[]): Promise<{ code: number | null; output: string }> {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
  return { code, output };
}

/** One sample of a Prometheus metric from the gateway (0 when absent). */
export async function metric(apiUrl: string, name: string, labels = ''): Promise<number> {
  const text = await (await fetch(`${apiUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels ? `{${labels}}` : ''} `));
  return line ? Number(line.split(' ')[1]) : 0;
}

export function configFile(yaml: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'edgetwin-broker-cfg-'));
  const file = join(dir, 'edgetwin.yaml');
  writeFileSync(file, yaml);
  return file;
}
