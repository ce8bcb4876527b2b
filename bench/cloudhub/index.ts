// `npm run bench -- cloudhub` or `node --import tsx bench/cloudhub/index.ts` (BENCH_QUICK=1 for a
// short run with few nodes; BENCH_NODES=n,... for chosen sizes). N simulated edge nodes (load generators in separate processes, each
// node a TLS WebSocket with its own certificate, keepalive every 15 s, one twin report a second)
// against `edgetwin cloud` (the built CLI), and in the same run against a bare `ws` server that
// accepts the same TLS connections and answers each report with the same response frame. For each
// N and side: time to connect all, server CPU %, resident memory per node ((RSS connected - RSS
// idle) / N), report -> answer latency p50/p99 (the answer leaves only after the controller stored
// the report, so this bounds the report -> controller latency, which is also read from edgetwin's
// stored reports), reports lost. Prints a table, then one JSON line; its p99Ms is the round trip.
//
// The node certificates (one CA, an ECDSA P-256 key per node) are kept between runs in
// $TMPDIR/edgetwin-bench-cloudhub-certs: 10,000 of them take a while to make, and only the first
// run pays. BENCH_CPU_PROF=<dir> runs both servers under --cpu-prof and writes their profiles
// there. BENCH_REPORT_MS (default 1000) changes each node's report period, to load a server with
// many messages from few sockets while working on its hot path; the goals are for 1000.
import { spawn, type ChildProcess } from 'node:child_process';
import Database from 'better-sqlite3';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { freePort, waitFor } from '../../core/testing.ts';
import { CA_CERT_KEY, CA_KEY_KEY, CertificateAuthority } from '../../hub/join/ca.ts';
import { makeNodeCsr } from '../../hub/testing/csr.ts';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const BIN = join(root, 'cli', 'bin', 'edgetwin.js');
const quick = process.env.BENCH_QUICK === '1';
// BENCH_NODES=1000 (or 500,2000) runs other sizes, e.g. to try one size without the 10,000 run.
const SIZES = process.env.BENCH_NODES ? process.env.BENCH_NODES.split(',').map(Number) : quick ? [100, 500] : [1000, 10_000];
const MEASURE_MS = quick ? 5000 : 20_000;
const WARMUP_MS = quick ? 1000 : 3000;
const REPORT_MS = Number(process.env.BENCH_REPORT_MS ?? 1000);
const GOALS = { p99Ms: 1000, memRatio: 1.5, ratio: 0.5, lost: 0 };
// 10,000 sockets on each side of the loopback: the bench raises its children's file limit.
const NOFILE = 30_000;

if (!existsSync(join(root, 'dist', 'main.js'))) {
  console.error('bench/cloudhub runs the built CLI: run `node scripts/build.mjs` first');
  process.exit(1);
}

const PROFILE_DIR = process.env.BENCH_CPU_PROF;
const work = mkdtempSync(join(tmpdir(), 'edgetwin-bench-cloudhub-'));
const certDir = join(tmpdir(), 'edgetwin-bench-cloudhub-certs');
mkdirSync(certDir, { recursive: true });
const ca = await CertificateAuthority.loadOrCreate(certDir);
// The cloud's state directory holds the same CA, and nothing of an earlier run.
const stateDir = join(work, 'state');
mkdirSync(stateDir, { mode: 0o700 });
for (const f of [CA_CERT_KEY, CA_KEY_KEY]) copyFileSync(join(certDir, f), join(stateDir, f));
const server = await ca.issueServerCert(['127.0.0.1']);
const maxN = Math.max(...SIZES);
const credsFile = join(certDir, 'creds.json');
const creds: Array<{ node: string; certPem: string; keyPem: string }> = existsSync(credsFile) ? JSON.parse(readFileSync(credsFile, 'utf8')) : [];
if (creds.length < maxN) {
  const t = performance.now();
  process.stdout.write(`issuing ${maxN - creds.length} node certificates (kept in ${certDir} for the next run)...\n`);
  for (let i = creds.length; i < maxN; i++) {
    const node = `bench-${i}`;
    const { csrDer, keyPem } = await makeNodeCsr({ cn: `system:node:${node}`, o: 'system:nodes' });
    creds.push({ node, certPem: (await ca.signNodeCsr(csrDer, node)).pem, keyPem });
  }
  writeFileSync(credsFile, JSON.stringify(creds), { mode: 0o600 });
  process.stdout.write(`  ${Math.round(performance.now() - t)} ms\n`);
}

interface Child { proc: ChildProcess; lines: Array<Record<string, unknown>>; waiters: Array<() => void>; ended: boolean }

function start(cmd: string, args: string[]): Child {
  const quoted = [cmd, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const proc = spawn('bash', ['-c', `ulimit -n ${NOFILE} 2>/dev/null || ulimit -n $(ulimit -Hn); exec ${quoted}`], { stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, EDGETWIN_LOG_LEVEL: 'warn' } });
  const c: Child = { proc, lines: [], waiters: [], ended: false };
  const rl = createInterface({ input: proc.stdout! });
  // A child may exit before its last (long) line is read: it counts as gone only when its output ended.
  rl.on('close', () => {
    c.ended = true;
    for (const w of c.waiters.splice(0)) w();
  });
  rl.on('line', (l) => {
    try {
      c.lines.push(JSON.parse(l) as Record<string, unknown>);
    } catch {
      return;
    }
    for (const w of c.waiters.splice(0)) w();
  });
  return c;
}

async function line(c: Child, key: string, timeoutMs = 600_000): Promise<Record<string, unknown>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = c.lines.find((l) => key in l);
    if (found) return found[key] as Record<string, unknown>;
    if (c.ended) {
      if (c.proc.exitCode === null && c.proc.signalCode === null) await new Promise((r) => { c.proc.once('exit', r); setTimeout(r, 5000); });
      throw new Error(`a bench child (${c.proc.spawnargs.slice(-2, -1).join(' ')}) ended its output before "${key}": exit code ${c.proc.exitCode}, signal ${c.proc.signalCode}`);
    }
    if (Date.now() > deadline) throw new Error(`no "${key}" from a bench child after ${timeoutMs} ms`);
    await new Promise<void>((r) => {
      const t = setTimeout(r, 500);
      c.waiters.push(() => { clearTimeout(t); r(); });
    });
  }
}

function rssKb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : 0;
}

/** User + system CPU seconds of a process so far. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

const kill = async (c: Child) => {
  if (c.proc.exitCode !== null || c.proc.signalCode !== null) return;
  const gone = new Promise((r) => c.proc.once('exit', r));
  c.proc.kill('SIGKILL');
  await gone;
};

interface SideResult {
  connectMs: number; connected: number; cpuPct: number;
  /** The load generators' CPU over the same window (they share the machine with the server). */
  generatorsCpuPct: number;
  kbPerNode: number;
  /** Report sent -> its answer back at the edge: the answer leaves only after the controller stored the report. */
  p50Ms: number; p99Ms: number;
  /** edgetwin only: report sent -> handed to the controller (the report log's commit), from the stored rows. */
  handoffP50Ms?: number; handoffP99Ms?: number;
  lost: number;
  /** Sessions the server closed during the run (their nodes stopped reporting). */
  dropped: number;
  answered: number; msgsPerCpuSec: number;
}

async function measure(side: 'edgetwin' | 'baseline', n: number): Promise<SideResult> {
  const port = await freePort();
  let srv: Child;
  if (side === 'edgetwin') {
    const config = join(work, 'cloud.yaml');
    writeFileSync(config, `cloudhub:\n  nodeLimit: ${n + 100}\n  keepaliveTimeout: 60s\n`);
    const httpPort = await freePort();
    rmSync(join(stateDir, 'reports.db'), { force: true });
    const node = PROFILE_DIR ? [process.execPath, ['--max-semi-space-size=2', '--v8-pool-size=1', '--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}`, BIN]] as const : [BIN, []] as const;
    srv = start(node[0], [...node[1], 'cloud', '--listen', '127.0.0.1', '--port', String(port), '--join-port', String(await freePort()), '--http-port', String(httpPort),
      '--advertise', '127.0.0.1', '--state-dir', stateDir, '--config', config, '--log-level', 'warn']);
    await waitFor('edgetwin cloud /healthz', async () => (await fetch(`http://127.0.0.1:${httpPort}/healthz`)).ok, 60_000, 200);
  } else {
    srv = start(process.execPath, ['--max-semi-space-size=2', '--v8-pool-size=1', ...(PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}`] : []), '--import', 'tsx', join(here, 'baseline.ts'),
      JSON.stringify({ port, certPem: server.certPem, keyPem: server.keyPem, caPem: ca.certPem })]);
    await line(srv, 'ready', 60_000);
  }
  try {
    await new Promise((r) => setTimeout(r, 1000));
    const idleKb = rssKb(srv.proc.pid!);
    // A generator process per 2,500 reports a second: one event loop timing 10,000 reports a
    // second would measure its own queueing, not the server's.
    const generators = Math.max(1, Math.ceil((n * 1000) / REPORT_MS / 2500));
    const per = Math.ceil(n / generators);
    const loads = Array.from({ length: generators }, (_, g) => start(process.execPath, ['--import', 'tsx', join(here, 'load.ts'), JSON.stringify({
      port, credsFile, from: g * per, to: Math.min(n, (g + 1) * per), caPem: ca.certPem, reportEveryMs: REPORT_MS, keepaliveMs: 15_000, measureMs: MEASURE_MS, graceMs: 10_000,
    })]));
    try {
      const connected = await Promise.all(loads.map((l) => line(l, 'connected')));
      const connectMs = Math.max(...connected.map((c) => c.ms as number));
      const nodes = connected.reduce((s, c) => s + (c.nodes as number), 0);
      await new Promise((r) => setTimeout(r, WARMUP_MS));
      const cpu0 = cpuSeconds(srv.proc.pid!);
      const t0 = performance.now();
      for (const l of loads) l.proc.stdin!.write('start\n');
      await new Promise((r) => setTimeout(r, MEASURE_MS / 2));
      const busyKb = rssKb(srv.proc.pid!);
      const done = await Promise.all(loads.map((l) => line(l, 'done')));
      const cpu = cpuSeconds(srv.proc.pid!) - cpu0;
      const wallS = (performance.now() - t0) / 1000;
      const lat = done.flatMap((d) => d.latencies as number[]).sort((a, b) => a - b);
      const pct = (p: number) => (lat.length ? lat[Math.min(lat.length - 1, Math.floor(p * lat.length))]! : NaN);
      const answered = done.reduce((s, d) => s + (d.answered as number), 0);
      // Each generator's own count: it has exited by now.
      const loadCpu = done.reduce((s, d) => s + (d.cpuS as number), 0);
      const handoff = side === 'edgetwin' ? handoffLatencies(join(stateDir, 'reports.db')) : undefined;
      return {
        ...(handoff ? { handoffP50Ms: handoff.p50, handoffP99Ms: handoff.p99 } : {}),
        connectMs, connected: nodes, cpuPct: Math.round((cpu / wallS) * 1000) / 10, generatorsCpuPct: Math.round((loadCpu / wallS) * 1000) / 10,
        kbPerNode: Math.round(((busyKb - idleKb) / n) * 10) / 10,
        p50Ms: Math.round(pct(0.5) * 10) / 10, p99Ms: Math.round(pct(0.99) * 10) / 10,
        lost: done.reduce((s, d) => s + (d.lost as number), 0) + (n - nodes),
        dropped: done.reduce((s, d) => s + (d.dropped as number), 0),
        answered, msgsPerCpuSec: Math.round(answered / Math.max(cpu, 0.01)),
      };
    } finally {
      for (const l of loads) await kill(l);
    }
  } finally {
    if (PROFILE_DIR) await stop(srv);
    await kill(srv);
  }
}

/**
 * From the edge to the controller: each stored report's commit time (the report log's `at`) minus
 * the time its generator stamped into it just before sending. Milliseconds, one clock (one machine).
 * The log keeps the newest 100,000 reports: at 10,000 nodes, the second half of the window.
 */
function handoffLatencies(file: string): { p50: number; p99: number } | undefined {
  const db = new Database(file, { fileMustExist: true });
  try {
    const rows = db.prepare<[], { content: string; at: number }>("SELECT content, at FROM reports WHERE operation = 'update'").all();
    const lat = rows.map((r) => r.at - (JSON.parse(r.content) as { timestamp: number }).timestamp).sort((a, b) => a - b);
    if (lat.length === 0) return undefined;
    return { p50: lat[Math.floor(lat.length / 2)]!, p99: lat[Math.min(lat.length - 1, Math.floor(lat.length * 0.99))]! };
  } finally {
    db.close();
  }
}

/** SIGTERM, so a profiled cloud writes its profile on the way out. */
async function stop(c: Child): Promise<void> {
  if (c.proc.exitCode !== null || c.proc.signalCode !== null) return;
  const gone = new Promise((r) => c.proc.once('exit', r));
  c.proc.kill('SIGTERM');
  await Promise.race([gone, new Promise((r) => setTimeout(r, 20_000))]);
}

const results: Array<{ n: number; baseline: SideResult; edgetwin: SideResult }> = [];
try {
  for (const n of SIZES) {
    process.stdout.write(`N = ${n}: baseline...\n`);
    const baseline = await measure('baseline', n);
    process.stdout.write(`N = ${n}: edgetwin...\n`);
    const edgetwin = await measure('edgetwin', n);
    results.push({ n, baseline, edgetwin });
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}

const rows: string[][] = [['N', 'side', 'connect all', 'CPU %', 'KB/node', 'p50', 'p99', 'p99 to controller', 'lost', 'dropped', 'msgs/CPU-s']];
for (const r of results) {
  for (const side of ['baseline', 'edgetwin'] as const) {
    const s = r[side];
    rows.push([String(r.n), side, `${s.connectMs} ms`, String(s.cpuPct), String(s.kbPerNode), `${s.p50Ms} ms`, `${s.p99Ms} ms`, s.handoffP99Ms === undefined ? '-' : `${s.handoffP99Ms} ms`, String(s.lost), String(s.dropped), String(s.msgsPerCpuSec)]);
  }
}
const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
process.stdout.write(`\nCloudHub bench: N edge nodes, one report every ${REPORT_MS} ms each, ${MEASURE_MS / 1000} s measured${quick ? ' (BENCH_QUICK)' : ''}\n`);
for (const r of rows) process.stdout.write(`${r.map((c, i) => c.padEnd(widths[i]!)).join('  ')}\n`);

const top = results[results.length - 1]!;
const ratio = Math.round((top.edgetwin.msgsPerCpuSec / top.baseline.msgsPerCpuSec) * 1000) / 1000;
const pass = top.edgetwin.p99Ms < GOALS.p99Ms && top.edgetwin.lost === GOALS.lost && top.edgetwin.dropped === 0 && ratio >= GOALS.ratio
  && top.edgetwin.kbPerNode <= GOALS.memRatio * top.baseline.kbPerNode;
process.stdout.write(`goals at N = ${top.n}: p99 < ${GOALS.p99Ms} ms, 0 lost, 0 dropped, memory/node <= ${GOALS.memRatio}x baseline, msgs per CPU-s >= ${GOALS.ratio}x baseline: ${pass ? 'met' : 'NOT met'}\n`);
process.stdout.write(`${JSON.stringify({
  bench: 'cloudhub', quick, nodes: top.n, p99Ms: top.edgetwin.p99Ms, kbPerNode: top.edgetwin.kbPerNode, baselineKbPerNode: top.baseline.kbPerNode,
  lost: top.edgetwin.lost, dropped: top.edgetwin.dropped, ratio, pass, runs: results,
})}\n`);
