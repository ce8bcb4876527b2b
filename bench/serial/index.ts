// `npm run bench -- serial` or `node --import tsx bench/serial/index.ts` (BENCH_QUICK=1 for a short
// try). A pty ignores baud rates, so two runs:
//   paced:   20-byte CRC-checked frames at 11,520 bytes/s (115200 baud 8N1) for 60 s into the
//            gateway path: frames received over sent (goal 100%), CPU per 1,000 frames, p99 latency
//            (the floor's numbers beside them: a serialport read costs the same CPU on both);
//   unpaced: frames per second as fast as the pty carries them, the gateway path beside a bare
//            serialport + delimiter-parser loop (the floor), taking turns three times and
//            compared by their medians: goal at least 90% of the floor.
// Prints a table, then one JSON line.

import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import type { Mode, Receiver, RunResult } from './measure.ts';

const quick = process.env.BENCH_QUICK === '1';
const pacedSeconds = quick ? 5 : 60;
const unpacedSeconds = quick ? 3 : 10;

// Every run is a process of its own running edgetwin as it ships: bundled by esbuild the way
// scripts/build.mjs bundles the gateway (no TypeScript loader, no keepNames helpers). The bundles
// live inside the repository so their external packages resolve from its node_modules.
const root = join(import.meta.dirname, '..', '..');
const cache = join(root, 'node_modules', '.cache');
mkdirSync(cache, { recursive: true });
const out = mkdtempSync(join(cache, 'edgetwin-bench-serial-'));
await build({
  absWorkingDir: root,
  entryPoints: ['receive.ts', 'sender.ts'].map((f) => join(import.meta.dirname, f)),
  outdir: out, bundle: true, format: 'esm', platform: 'node', target: 'node20', packages: 'external', logLevel: 'warning',
  outExtension: { '.js': '.mjs' },
});

function run(receiver: Receiver, mode: Mode, seconds: number): RunResult {
  // BENCH_CPU_PROF_DIR=<dir> writes a V8 CPU profile of each receiving process there.
  const profile = process.env.BENCH_CPU_PROF_DIR ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF_DIR}`] : [];
  const r = spawnSync(process.execPath, [...profile, join(out, 'receive.mjs'), receiver, mode, String(seconds), join(out, 'sender.mjs')], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (r.status !== 0) throw new Error(`the ${mode} ${receiver} run failed (exit ${r.status})`);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as RunResult;
}

// Unpaced, the gateway and the floor take turns, ROUNDS times, and each is judged by its median
// run: a shared machine has bad seconds, and one bad window must not decide the comparison.
const ROUNDS = 3;
let paced: RunResult;
let pacedFloor: RunResult;
const gateways: RunResult[] = [];
const floors: RunResult[] = [];
try {
  paced = run('gateway', 'paced', pacedSeconds);
  pacedFloor = run('floor', 'paced', pacedSeconds);
  for (let i = 0; i < ROUNDS; i++) {
    gateways.push(run('gateway', 'unpaced', unpacedSeconds));
    floors.push(run('floor', 'unpaced', unpacedSeconds));
  }
} finally {
  rmSync(out, { recursive: true, force: true });
}
const median = (runs: RunResult[]) => [...runs].sort((x, y) => x.framesPerSecond - y.framesPerSecond)[Math.floor(runs.length / 2)]!;
const gateway = median(gateways);
const floor = median(floors);

const deliveredPct = Math.round((paced.received / paced.sent) * 10000) / 100;
const ofFloorPct = Math.round((gateway.framesPerSecond / floor.framesPerSecond) * 1000) / 10;
const pass = paced.received === paced.sent && ofFloorPct >= 90;

const row = (cells: (string | number | undefined)[]) => cells.map((c, i) => String(c ?? '').padStart(i === 0 ? 0 : 12).padEnd(i === 0 ? 26 : 0)).join('');
console.log(`serial bench${quick ? ' (quick)' : ''}: 20-byte frames, text with a crc16-modbus in hex, over a socat pty pair`);
console.log(row(['run', 'sent', 'received', 'frames/s', 'CPU ms/1k', 'p50 ms', 'p99 ms']));
console.log(row([`paced ${pacedSeconds}s, gateway`, paced.sent, paced.received, paced.framesPerSecond, paced.cpuMsPer1000, paced.p50Ms, paced.p99Ms]));
console.log(row([`paced ${pacedSeconds}s, floor`, pacedFloor.sent, pacedFloor.received, pacedFloor.framesPerSecond, pacedFloor.cpuMsPer1000, pacedFloor.p50Ms, pacedFloor.p99Ms]));
gateways.forEach((g, i) => {
  const f = floors[i]!;
  console.log(row([`unpaced ${unpacedSeconds}s #${i + 1}, gateway`, g.sent, g.received, g.framesPerSecond, g.cpuMsPer1000]));
  console.log(row([`unpaced ${unpacedSeconds}s #${i + 1}, floor`, f.sent, f.received, f.framesPerSecond, f.cpuMsPer1000]));
});
console.log(`  unpaced medians of ${ROUNDS} turns each: gateway ${gateway.framesPerSecond} frames/s, floor ${floor.framesPerSecond} frames/s`);
console.log(`  delivered ${deliveredPct}% (goal 100%); gateway at ${ofFloorPct}% of the floor (goal >= 90%) ${pass ? '' : 'MISSED'}`);
console.log(JSON.stringify({
  bench: 'serial', quick,
  paced: {
    seconds: pacedSeconds, sent: paced.sent, received: paced.received, deliveredPct, cpuMsPer1000: paced.cpuMsPer1000, p50Ms: paced.p50Ms, p99Ms: paced.p99Ms, maxMs: paced.maxMs,
    floor: { received: pacedFloor.received, cpuMsPer1000: pacedFloor.cpuMsPer1000, p50Ms: pacedFloor.p50Ms, p99Ms: pacedFloor.p99Ms },
  },
  unpaced: {
    seconds: unpacedSeconds, rounds: ROUNDS, gatewayFps: gateway.framesPerSecond, floorFps: floor.framesPerSecond, ofFloorPct,
    gatewayCpuMsPer1000: gateway.cpuMsPer1000, floorCpuMsPer1000: floor.cpuMsPer1000,
    gatewayRunsFps: gateways.map((g) => g.framesPerSecond), floorRunsFps: floors.map((f) => f.framesPerSecond),
  },
  pass,
}));
