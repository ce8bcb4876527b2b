// Starts the Python DMI peer (test/helpers/dmi_peer.py) with stubs grpc_tools.protoc compiles
// from hub/dmi/dmi.proto into a temp folder: an independent gRPC and protobuf implementation
// on the other end of edgetwin's DMI. Its JSON lines are collected for the test to wait on.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from '../../core/testing.ts';
import { ROOT } from './gateway-process.ts';

export const PYTHON = '/usr/bin/python3';

/** Why the Python peer cannot run here, or undefined when it can. */
export function pythonGrpcMissing(): string | undefined {
  const r = spawnSync(PYTHON, ['-c', 'import grpc, grpc_tools'], { encoding: 'utf8' });
  return r.status === 0 ? undefined : `python3-grpcio and python3-grpc-tools are not installed (${(r.stderr || r.error?.message || '').trim().split('\n').pop()})`;
}

/** Compiles hub/dmi/dmi.proto for Python; returns the folder with dmi_pb2.py and dmi_pb2_grpc.py. */
export function compileProtoForPython(): string {
  const out = mkdtempSync(join(tmpdir(), 'edgetwin-dmi-py-'));
  const r = spawnSync(PYTHON, ['-m', 'grpc_tools.protoc', `-I${join(ROOT, 'hub', 'dmi')}`, `--python_out=${out}`, `--grpc_python_out=${out}`, 'dmi.proto'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`grpc_tools.protoc failed on hub/dmi/dmi.proto:\n${r.stderr}`);
  return out;
}

export interface PeerEvent {
  event: string;
  [k: string]: unknown;
}

export interface DmiPeer {
  child: ChildProcess;
  events: PeerEvent[];
  /** Waits for an event matching `pred` among those after index `from`. */
  next(event: string, pred?: (e: PeerEvent) => boolean, from?: number): Promise<PeerEvent>;
  send(command: object): void;
  output(): string;
  stop(): Promise<void>;
}

export function startDmiPeer(pyDir: string, mode: 'mapper' | 'edgecore', config: object): DmiPeer {
  const child = spawn(PYTHON, [join(ROOT, 'test', 'helpers', 'dmi_peer.py'), mode, JSON.stringify(config)], {
    env: { ...process.env, PYTHONPATH: pyDir, PYTHONUNBUFFERED: '1' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const events: PeerEvent[] = [];
  let raw = '';
  let buffered = '';
  child.stdout!.on('data', (d: Buffer) => {
    raw += d;
    buffered += d;
    let nl;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      try {
        events.push(JSON.parse(line) as PeerEvent);
      } catch {
        // Not ours (a Python warning): kept in output() only.
      }
    }
  });
  child.stderr!.on('data', (d: Buffer) => (raw += d));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  return {
    child,
    events,
    output: () => raw,
    next(event, pred = () => true, from = 0) {
      return waitFor(`the Python DMI peer's "${event}" event`, () => {
        if (child.exitCode !== null) throw new Error(`the Python peer exited with ${child.exitCode}:\n${raw}`);
        return events.slice(from).find((e) => e.event === event && pred(e));
      }, 30_000, 20).catch((err: Error) => {
        throw new Error(`${err.message}\npeer output:\n${raw}`);
      });
    },
    send(command) {
      child.stdin!.write(`${JSON.stringify(command)}\n`);
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
