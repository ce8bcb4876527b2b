// Child of bench/devicecontroller: the DeviceController (the code `edgetwin cloud` runs) against the
// API stand-in named by argv[2], fed by simulated gateways through its upstream dispatch, exactly
// where CloudHub hands it the edges' messages (the WebSocket transport is bench/cloudhub's
// subject). Downstream messages are counted and dropped. Commands on stdin (one JSON per line):
//   {"run": {"scenario": "dense"|"sparse", "seconds": n}}  -> {"ran": {changes, messages}}
// where `changes` maps each device to the times (ms) its values changed.
import { createInterface } from 'node:readline';
import { Registry } from 'prom-client';
import { createLogger } from '../../core/log.ts';
import { SqliteAckRecordStore } from '../../hub/cloudhub/ack-store.ts';
import { connectKubernetes } from '../../hub/controllers/index.ts';
import { newMessage } from '../../hub/message/index.ts';

const [kubeconfig, gatewaysArg, devicesArg, propsArg, budgetArg, stateDir] = process.argv.slice(2);
const GATEWAYS = Number(gatewaysArg);
const DEVICES = Number(devicesArg);
const PROPS = Number(propsArg);
const log = createLogger({ level: 'warn', name: 'bench-devicecontroller' });
const conn = connectKubernetes(kubeconfig!, { log });
let downstream = 0;
const acks = new SqliteAckRecordStore(stateDir!);
const controllers = await conn.startControllers({
  link: { send: async () => { downstream++; return 'not-connected'; }, isConnected: () => false, connectedNodes: () => [], onConnection: () => undefined },
  acks,
  registry: new Registry(),
  config: { devices: { syncMs: 3_600_000, statusWriter: { budgetPerSecond: Number(budgetArg) } } },
});
const out = (o: unknown) => process.stdout.write(`${JSON.stringify(o)}\n`);
out({ ready: { downstream } });

const node = (g: number) => `gw-${g}`;
const device = (g: number, d: number) => `g${g}-d${d}`;

async function report(g: number, d: number, seq: number, now: number): Promise<void> {
  const twin: Record<string, unknown> = {};
  for (let p = 0; p < PROPS; p++) twin[`p${p}`] = { actual: { value: String(seq), metadata: { timestamp: now } } };
  await controllers.dispatch.dispatch(node(g), newMessage(
    { source: 'twin', group: 'resource', operation: 'update', resource: `node/${node(g)}/device/default/${device(g, d)}/twin/edge_updated` },
    { event_id: String(seq), timestamp: now, twin },
  ));
}

/** dense: every device every second, spread over the second; sparse: a fixed 1% of the devices, every second. */
async function run(scenario: string, seconds: number): Promise<void> {
  const all: Array<[number, number]> = [];
  for (let g = 0; g < GATEWAYS; g++) for (let d = 0; d < DEVICES; d++) all.push([g, d]);
  const active = scenario === 'dense' ? all : all.filter((_, i) => i % 100 === 0);
  const changes: Record<string, number[]> = {};
  let messages = 0;
  const start = Date.now();
  const slices = 20; // each second in 20 slices of 50 ms, so the load is spread
  for (let tick = 0; tick < seconds * slices; tick++) {
    const due = start + tick * (1000 / slices);
    const wait = due - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const from = Math.floor((tick % slices) * active.length / slices);
    const to = Math.floor(((tick % slices) + 1) * active.length / slices);
    const now = Date.now();
    for (let i = from; i < to; i++) {
      const [g, d] = active[i]!;
      await report(g, d, tick, now);
      (changes[device(g, d)] ??= []).push(now);
      messages++;
    }
  }
  out({ ran: { changes, messages, seconds: (Date.now() - start) / 1000 } });
}

createInterface({ input: process.stdin }).on('line', (l) => {
  const cmd = JSON.parse(l) as { run?: { scenario: string; seconds: number }; stop?: boolean };
  if (cmd.run) void run(cmd.run.scenario, cmd.run.seconds);
  if (cmd.stop) void controllers.stop().then(() => { acks.close(); process.exit(0); });
});
