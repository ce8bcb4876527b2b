// Resident memory of `edgetwin run` on the quick start: the gateway process and every process
// it started, sampled from /proc while it runs, with the dashboard loaded and its event stream open. Goal: under 80 MB (KubeEdge quotes 70 MB as
// edgecore's minimum). Prints a table and one JSON line.

import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort } from '../../core/testing.ts';
import { waitFor } from '../../core/testing.ts';

const ROOT = resolve(import.meta.dirname, '..', '..');
export const MEMORY_GOAL_MB = 80;

function rssKb(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** The pid and all its descendants, from /proc's parent links. */
function tree(root: number): number[] {
  const parents = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parents.set(ppid, [...(parents.get(ppid) ?? []), Number(name)]);
    } catch {
      // The process ended while we looked.
    }
  }
  const out = [root];
  for (let i = 0; i < out.length; i++) out.push(...(parents.get(out[i]!) ?? []));
  return out;
}

export interface MemoryOptions {
  seconds?: number;
  /** Extra `run` flags, e.g. --cloud. */
  args?: string[];
  /** Prepares the data directory before the start (e.g. writes the node certificate). */
  prepare?: (dataDir: string) => Promise<void>;
  /** Waits, after the start, until what is measured is really running (e.g. the cloud link is up). */
  ready?: (health: Record<string, unknown>) => boolean;
}

export async function measureGatewayMemory(opts: MemoryOptions = {}): Promise<{ medianMb: number; maxMb: number; processes: number; samples: number }> {
  const seconds = opts.seconds ?? 20;
  const apiPort = await freePort();
  const mqttPort = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'edgetwin-mem-'));
  await opts.prepare?.(dataDir);
  let stopWatching = async () => {};
  const child = spawn(join(ROOT, 'cli', 'bin', 'edgetwin.js'), ['run', '--devices', 'examples/quickstart', '--data-dir', dataDir, '--api-port', String(apiPort), '--mqtt-port', String(mqttPort), '--no-live', '--log-level', 'warn', ...(opts.args ?? [])], { cwd: ROOT, stdio: 'ignore' });
  try {
    await waitFor('the gateway to start', async () => {
      const res = await fetch(`http://127.0.0.1:${apiPort}/healthz`).catch(() => undefined);
      if (!res?.ok) return false;
      return opts.ready ? opts.ready((await res.json()) as Record<string, unknown>) : true;
    }, 30_000, 100);
    // With the dashboard served: the page and its assets loaded, and its event stream open
    // (a page watching a device) for the whole measurement, as a person looking at it would.
    const base = `http://127.0.0.1:${apiPort}`;
    const html = await (await fetch(`${base}/`)).text();
    for (const m of html.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)) await (await fetch(base + m[1])).arrayBuffer();
    const watching = new AbortController();
    const events = await fetch(`${base}/api/v1/events?device=default/thermostat`, { signal: watching.signal });
    const drained = (async () => {
      for await (const _ of events.body!) void _;
    })().catch(() => undefined);
    stopWatching = async () => {
      watching.abort();
      await drained;
    };
    // Let devices connect, desired values reconcile and the heap settle before sampling.
    await new Promise((r) => setTimeout(r, 3000));
    const samples: number[] = [];
    let processes = 1;
    const end = Date.now() + seconds * 1000;
    while (Date.now() < end) {
      const pids = tree(child.pid!);
      processes = pids.length;
      samples.push(pids.reduce((sum, pid) => sum + rssKb(pid), 0) / 1024);
      await new Promise((r) => setTimeout(r, 500));
    }
    samples.sort((a, b) => a - b);
    return { medianMb: round(samples[Math.floor(samples.length / 2)]!), maxMb: round(samples.at(-1)!), processes, samples: samples.length };
  } finally {
    await stopWatching();
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
}

const round = (n: number) => Math.round(n * 10) / 10;

if (import.meta.url === `file://${process.argv[1]}`) {
  const m = await measureGatewayMemory();
  console.log('edgetwin run on examples/quickstart: resident memory (process tree)');
  console.log(`  median ${m.medianMb} MB   max ${m.maxMb} MB   processes ${m.processes}   samples ${m.samples}   goal < ${MEMORY_GOAL_MB} MB: ${m.maxMb < MEMORY_GOAL_MB ? 'met' : 'MISSED'}`);
  console.log(JSON.stringify({ bench: 'memory', ...m, goalMb: MEMORY_GOAL_MB, met: m.maxMb < MEMORY_GOAL_MB }));
}
