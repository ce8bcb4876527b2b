// Load generator for bench/cloudhub, one process of many: simulated edge nodes, each a real TLS
// WebSocket with its own certificate, sending keepalive every 15 s and one twin report a second,
// timing each report until its `response`. Driven over stdin/stdout by bench/cloudhub/index.ts.
//   argv[2]: JSON { port, credsFile, from, to, caPem, reportEveryMs, keepaliveMs, measureMs, graceMs }
//   stdout: {"connected": {"nodes", "ms", "failed"}} then, after "start" on stdin, {"done": {...}}
//   (`dropped`: sessions the server closed before the end)
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { WebSocket } from 'ws';
import { newMessage } from '../../hub/message/index.ts';

interface Args { port: number; credsFile: string; from: number; to: number; caPem: string; reportEveryMs: number; keepaliveMs: number; measureMs: number; graceMs: number }
const args = JSON.parse(process.argv[2]!) as Args;
const creds = (JSON.parse(readFileSync(args.credsFile, 'utf8')) as Array<{ node: string; certPem: string; keyPem: string }>).slice(args.from, args.to);
const out = (o: unknown) => process.stdout.write(`${JSON.stringify(o)}\n`);

const sockets: WebSocket[] = [];
const pending = new Map<string, number>();
const latencies: number[] = [];
let sent = 0;
let failed = 0;
let measuring = false;
let finished = false;
let dropped = 0;

function connect(c: { node: string; certPem: string; keyPem: string }): Promise<void> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`wss://127.0.0.1:${args.port}/e632aba927ea4ac2b575ec1603d56f10/${c.node}/events`, {
      cert: c.certPem, key: c.keyPem, ca: args.caPem, perMessageDeflate: false,
      headers: { node_id: c.node, project_id: 'e632aba927ea4ac2b575ec1603d56f10' }, handshakeTimeout: 120_000,
    });
    ws.on('open', () => { sockets.push(ws); resolve(); });
    // A session the server ends before the run is over (not a handshake that failed: that node
    // is counted as not connected): its node stops reporting, which no latency shows.
    ws.on('close', () => { if (!finished && sockets.includes(ws)) dropped++; });
    ws.on('error', () => { failed++; resolve(); });
    ws.on('message', (data: Buffer) => {
      const m = JSON.parse(data.toString()) as { header: { parent_msg_id?: string }; route: { operation: string } };
      const id = m.header.parent_msg_id;
      if (!id || m.route.operation !== 'response') return;
      const at = pending.get(id);
      if (at === undefined) return;
      pending.delete(id);
      latencies.push(performance.now() - at);
    });
  });
}

// Running from the first connection: 10,000 handshakes take longer than the cloud's keepalive
// timeout, and a node that connected early must not be dropped while the others connect.
const keepalive = setInterval(() => {
  for (const ws of sockets) if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(newMessage({ source: 'websocket', group: 'resource', operation: 'keepalive', resource: 'node' }, 'ping')));
}, args.keepaliveMs);

const t0 = performance.now();
// A bounded number of handshakes in flight, as a fleet of gateways coming up would be.
const CONCURRENCY = 200;
let next = 0;
await Promise.all(Array.from({ length: Math.min(CONCURRENCY, creds.length) }, async () => {
  while (next < creds.length) await connect(creds[next++]!);
}));
out({ connected: { nodes: sockets.length, ms: Math.round(performance.now() - t0), failed } });

function report(ws: WebSocket, i: number): void {
  if (!measuring || ws.readyState !== ws.OPEN) return;
  const m = newMessage({ source: 'twin', group: 'twin', operation: 'update', resource: `default/device/dev-${i}/twin/edge_updated` },
    { event_id: '', timestamp: Date.now(), twin: { temperature: { actual: { value: String(20 + (sent % 10)) }, optional: false, metadata: { type: 'float' } } } });
  pending.set(m.header.msg_id, performance.now());
  sent++;
  ws.send(JSON.stringify(m));
}

const timers: NodeJS.Timeout[] = [];
for await (const line of createInterface({ input: process.stdin })) {
  if (line.trim() !== 'start') continue;
  measuring = true;
  const cpuAtStart = process.cpuUsage();
  sockets.forEach((ws, i) => {
    // Spread over the second, so the load is a steady rate rather than a burst per second.
    const phase = (i * args.reportEveryMs) / sockets.length;
    timers.push(setTimeout(() => {
      report(ws, i);
      timers.push(setInterval(() => report(ws, i), args.reportEveryMs));
    }, phase));
  });
  await new Promise((r) => setTimeout(r, args.measureMs));
  measuring = false;
  for (const t of timers) clearTimeout(t);
  const deadline = Date.now() + args.graceMs;
  while (pending.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  clearInterval(keepalive);
  finished = true;
  // Hundreds of kilobytes of latencies: a pipe takes them in pieces, so exit only once all are written.
  await new Promise<void>((resolve) => process.stdout.write(`${JSON.stringify({ done: { sent, answered: latencies.length, lost: pending.size, dropped, cpuS: cpuSeconds(process.cpuUsage(cpuAtStart)), latencies: latencies.map((x) => Math.round(x * 10) / 10) } })}\n`, () => resolve()));
  for (const ws of sockets) ws.terminate();
  process.exit(0);
}

function cpuSeconds(u: NodeJS.CpuUsage): number {
  return (u.user + u.system) / 1e6;
}
