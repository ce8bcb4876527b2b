// bench/gateway's floor: the least a gateway can do with the same work. It polls the same
// coalesced request per device (the clocked block, one request) with modbus-serial, one link per
// endpoint as edgetwin's scheduler does, decodes the registers by hand, writes the round's values to
// SQLite (better-sqlite3, WAL) in one transaction per poll round, and publishes one data/update
// message per device per round on an embedded aedes broker. No twin, no codec registry, no report filter.
//   argv[2]: {"ports": [...], "cycleMs": 100, "mqttPort": n, "dbFile": "..."}; IPC: -> {ready} once listening

import { createServer } from 'node:net';
import { randomUUID } from 'node:crypto';
import { Aedes } from 'aedes';
import Database from 'better-sqlite3';
import { CLOCKED_PROPERTIES, CLOCKED_REGISTERS } from '../modbus/clocked.ts';
import { benchDevices, NAMESPACE, type BenchDevice } from './devices.ts';

const args = JSON.parse(process.argv[2]!) as { ports: number[]; cycleMs: number; mqttPort: number; dbFile: string };

interface BareClient {
  connectTCP(host: string, opts: { port: number }): Promise<void>;
  setTimeout(ms: number): void;
  setID(unit: number): void;
  readHoldingRegisters(address: number, count: number): Promise<{ data: number[] }>;
  close(cb: () => void): void;
}

const broker = await Aedes.createBroker();
const server = createServer({ noDelay: true }, broker.handle);
await new Promise<void>((resolve) => server.listen(args.mqttPort, '127.0.0.1', resolve));

const db = new Database(args.dbFile);
db.pragma('journal_mode = WAL');
db.pragma('synchronous = NORMAL');
db.exec('CREATE TABLE IF NOT EXISTS reported (device TEXT NOT NULL, property TEXT NOT NULL, value TEXT, time INTEGER, PRIMARY KEY (device, property))');
const upsert = db.prepare<[string, string, string, number]>('INSERT INTO reported (device, property, value, time) VALUES (?, ?, ?, ?) ON CONFLICT (device, property) DO UPDATE SET value = excluded.value, time = excluded.time');

interface Round { device: BenchDevice; texts: string[]; time: number }
const writeRound = db.transaction((rows: Round[]) => {
  for (const r of rows) for (let i = 0; i < r.texts.length; i++) upsert.run(r.device.name, CLOCKED_PROPERTIES[i]!.name, r.texts[i]!, r.time);
});

/** A device's registers as the texts of its 100 properties: two uint32 (ABCD), then uint16 and int16. */
function decode(regs: number[]): string[] {
  return CLOCKED_PROPERTIES.map((p) => {
    const w = regs[p.address]!;
    if (p.dataType === 'uint32') return String(w * 0x10000 + regs[p.address + 1]!);
    return String(p.dataType === 'int16' && w >= 0x8000 ? w - 0x10000 : w);
  });
}

function publish(r: Round): void {
  let s = `{"event_id":"${randomUUID()}","timestamp":${Date.now()},"data":{`;
  for (let i = 0; i < r.texts.length; i++) {
    if (i > 0) s += ',';
    s += `${JSON.stringify(CLOCKED_PROPERTIES[i]!.name)}:{"value":"${r.texts[i]}","metadata":{"timestamp":${r.time},"type":"int","quality":"good"}}`;
  }
  s += '}}';
  broker.publish({ cmd: 'publish', topic: `$ke/events/device/${NAMESPACE}/${r.device.name}/data/update`, payload: Buffer.from(s), qos: 0, retain: false, dup: false }, () => undefined);
}

const ModbusRTU = (await import('modbus-serial')).default as unknown as new () => BareClient;
const all = benchDevices(args.ports);
let stop = false;
const links = await Promise.all(args.ports.map(async (port) => {
  const c = new ModbusRTU();
  await c.connectTCP('127.0.0.1', { port });
  c.setTimeout(2000);
  return { client: c, devices: all.filter((d) => d.port === port) };
}));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const loops = links.map(async ({ client, devices }) => {
  let next = performance.now();
  while (!stop) {
    const rows: Round[] = [];
    for (const device of devices) {
      client.setID(device.unit);
      try {
        const { data } = await client.readHoldingRegisters(0, CLOCKED_REGISTERS);
        rows.push({ device, texts: decode(data), time: Date.now() });
      } catch (err) {
        process.stderr.write(`floor: ${device.name}: ${(err as Error).message}\n`);
      }
    }
    writeRound(rows);
    for (const r of rows) publish(r);
    // The next round starts a cycle after this one started, or at once when it ran late.
    next += args.cycleMs;
    const wait = next - performance.now();
    if (wait > 0) await sleep(wait);
    else next = performance.now();
  }
});

process.send!({ ready: true });
process.on('SIGTERM', () => {
  stop = true;
  void Promise.all(loops).then(() => {
    for (const l of links) l.client.close(() => undefined);
    db.close();
    broker.close();
    server.close();
    process.exit(0);
  });
});
