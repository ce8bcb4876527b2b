// Devices from Kubernetes end to end, driven by the real kubectl: the Kubernetes API stand-in,
// `edgetwin cloud` (the DeviceController) and two gateways `edgetwin run --cloud` as child
// processes (the bundle in dist/: `node scripts/build.mjs` first), a Modbus PLC played by pymodbus
// and read back with mbpoll. The Device YAML is examples/cloud-devices/. Faults, each a case: the
// API server restarted, the cloud killed with -9 and restarted, a gateway offline while 1,000
// values change, a gateway restarted with the cloud down, a malformed Device.

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { freePort, waitFor } from '../core/testing.ts';
import { startKubeApiServer, type KubeApiServer } from '../hub/testing/kube-apiserver/index.ts';
import type { StoreEvent } from '../hub/testing/kube-apiserver/store.ts';
import { TcpProxy } from '../hub/testing/tcp-proxy.ts';
import { startPymodbus, type PymodbusServer } from '../mappers/modbus/testing/peers.ts';
import { run } from './helpers/kube-standin-fixtures.ts';

const ROOT = resolve(import.meta.dirname, '..');
const BIN = join(ROOT, 'cli', 'bin', 'edgetwin.js');
const EXAMPLES = join(ROOT, 'examples', 'cloud-devices');
const KUBECTL = '/usr/bin/kubectl';
const MBPOLL = '/usr/bin/mbpoll';
const missing = [KUBECTL, MBPOLL, '/usr/bin/python3'].filter((f) => !existsSync(f));
const skip = missing.length ? `${missing.join(', ')} not installed on this machine (apt-get install kubectl mbpoll python3-pymodbus); the end-to-end cases are skipped` : false;
if (skip) console.log(`# skipped: ${skip}`);

interface Child {
  child: ChildProcess;
  out: string[];
  exited: Promise<void>;
}

function spawnChild(args: string[], env: NodeJS.ProcessEnv = {}): Child {
  const child = spawn(BIN, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const out: string[] = [];
  child.stdout!.on('data', (d: Buffer) => out.push(d.toString()));
  child.stderr!.on('data', (d: Buffer) => out.push(d.toString()));
  return { child, out, exited: new Promise<void>((r) => child.once('exit', () => r())) };
}

async function kill(c: Child | undefined, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (!c || c.child.exitCode !== null || c.child.signalCode !== null) return;
  c.child.kill(signal);
  await c.exited;
}

interface Gateway extends Child {
  node: string;
  api: string;
  dataDir: string;
}

interface TwinBody {
  properties: Record<string, { desired?: { value: unknown; origin: string }; reported?: { value?: unknown; time: number }; reconcile: { state: string } }>;
}

interface DeviceStatusTwin {
  propertyName: string;
  reported?: { value: string; metadata?: Record<string, string> };
  observedDesired?: { value: string; metadata?: Record<string, string> };
}
interface DeviceStatusBody {
  status?: { state?: string; twins?: DeviceStatusTwin[]; extensions?: { error?: { message?: string; field?: string } | string; summary?: Record<string, number> } };
}

describe('devices from Kubernetes, end to end with kubectl', { skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'edgetwin-devices-e2e-'));
  let api: KubeApiServer;
  let plc: PymodbusServer;
  let plcPort: number;
  let cloud: Child | undefined;
  const cloudPorts = { hub: 0, join: 0, http: 0 };
  const gateways = new Map<string, Gateway>();
  /** gw-b reaches the cloud through this, so a test can take it offline. */
  let proxyB: TcpProxy;

  const kubectl = (...args: string[]) => run(KUBECTL, ['--cache-dir', join(dir, 'kube-cache'), ...args], { KUBECONFIG: api.kubeconfigPath, HOME: dir });
  const ok = async (...args: string[]) => {
    const r = await kubectl(...args);
    assert.equal(r.code, 0, `kubectl ${args.join(' ')} failed: ${r.stderr}`);
    return r.stdout;
  };
  const json = async <T>(...args: string[]) => JSON.parse(await ok(...args, '-o', 'json')) as T;
  const deviceStatus = async (name: string) => {
    const r = await kubectl('get', 'devicestatus', name, '-o', 'json');
    return r.code === 0 ? (JSON.parse(r.stdout) as DeviceStatusBody) : undefined;
  };
  const twinOf = (s: DeviceStatusBody | undefined, property: string) => s?.status?.twins?.find((t) => t.propertyName === property);
  const devicesOn = async (g: Gateway) => ((await (await fetch(`${g.api}/api/v1/devices`)).json()) as { devices: { device: string }[] }).devices.map((d) => d.device).sort();
  const twinOn = async (g: Gateway, device: string) => {
    const res = await fetch(`${g.api}/api/v1/devices/default/${device}/twin`);
    return res.status === 200 ? ((await res.json()) as TwinBody) : undefined;
  };
  const health = async (g: Gateway) => (await (await fetch(`${g.api}/healthz`)).json()) as { cloud: { connected: boolean; outbox: number } };
  const mbpollHolding0 = async () => {
    const r = await run(MBPOLL, ['-m', 'tcp', '-a', '1', '-r', '1', '-c', '1', '-t', '4', '-1', '-p', String(plcPort), '127.0.0.1'], {});
    const m = /\[1\]:\s*(-?\d+)/.exec(r.stdout);
    return m ? Number(m[1]) : undefined;
  };
  /** line-plc.yaml pointed at the test's PLC. */
  const linePlcFile = () => {
    const path = join(dir, 'line-plc.yaml');
    writeFileSync(path, readFileSync(join(EXAMPLES, 'line-plc.yaml'), 'utf8').replace('port: "5020"', `port: "${plcPort}"`));
    return path;
  };

  const startCloud = async () => {
    const config = join(dir, 'cloud.yaml');
    writeFileSync(config, 'cloudhub:\n  keepaliveTimeout: 3s\n  resendInterval: 500ms\n  maxResendInterval: 2s\n');
    cloud = spawnChild([
      'cloud', '--kubeconfig', api.kubeconfigPath, '--state-dir', join(dir, 'cloud'), '--listen', '127.0.0.1', '--advertise', '127.0.0.1',
      '--port', String(cloudPorts.hub), '--join-port', String(cloudPorts.join), '--http-port', String(cloudPorts.http), '--config', config,
    ]);
    const c = cloud;
    await waitFor('the cloud to answer /healthz', async () => {
      if (c.child.exitCode !== null) throw new Error(`edgetwin cloud exited: ${c.out.join('')}`);
      return (await fetch(`http://127.0.0.1:${cloudPorts.http}/healthz`).catch(() => undefined))?.ok;
    }, 60_000, 100);
  };

  const startGateway = async (node: string, hubPort: number, dataDir = join(dir, node)): Promise<Gateway> => {
    const apiPort = await freePort();
    const config = join(dir, `${node}.yaml`);
    writeFileSync(config, 'cloud:\n  heartbeat: 0.5\n  resend: 2\n  reconnect: { first: 0.1, max: 0.5 }\n');
    const c = spawnChild(['run', '--config', config, '--cloud', `wss://127.0.0.1:${hubPort}`, '--data-dir', dataDir, '--api-port', String(apiPort), '--mqtt-port', String(await freePort()), '--no-live']);
    const g: Gateway = { ...c, node, api: `http://127.0.0.1:${apiPort}`, dataDir };
    await waitFor(`${node} to start`, async () => {
      if (c.child.exitCode !== null) throw new Error(`${node} exited: ${c.out.join('')}`);
      return c.out.join('').includes('edgetwin gateway running') && (await fetch(`${g.api}/healthz`).catch(() => undefined)) !== undefined;
    }, 60_000, 100);
    gateways.set(node, g);
    return g;
  };

  before(async () => {
    api = await startKubeApiServer({ leaseGraceMs: 60_000 });
    plcPort = await freePort();
    // Input register 0: 23.5 degC at scale 0.1; holding register 0: the setpoint.
    plc = await startPymodbus({ tcp: plcPort }, { 1: { ir: { 0: 235 }, hr: { 0: 0 } } });
    cloudPorts.hub = await freePort();
    cloudPorts.join = await freePort();
    cloudPorts.http = await freePort();
    await ok('apply', '-f', join(ROOT, 'deploy', 'crds'));
    await startCloud();
    const token = spawnChild(['cloud', 'token', '--kubeconfig', api.kubeconfigPath, '--state-dir', join(dir, 'cloud')]);
    await token.exited;
    const t = token.out.join('').trim().split('\n').at(-1)!;
    for (const node of ['gw-a', 'gw-b']) {
      const j = spawnChild(['join', '--cloud', `127.0.0.1:${cloudPorts.join}`, '--token', t, '--node-name', node, '--data-dir', join(dir, node)]);
      await j.exited;
      assert.equal(j.child.exitCode, 0, `join ${node}: ${j.out.join('')}`);
    }
    proxyB = await TcpProxy.start({ target: { host: '127.0.0.1', port: cloudPorts.hub } });
    await startGateway('gw-a', cloudPorts.hub);
    await startGateway('gw-b', proxyB.port);
    for (const g of gateways.values()) await waitFor(`${g.node} connected`, async () => (await health(g)).cloud.connected, 60_000, 100);
  });
  after(async () => {
    // EDGETWIN_E2E_LOGS=<dir> keeps what the cloud and the gateways logged, to read after a failure.
    const keep = process.env.EDGETWIN_E2E_LOGS;
    if (keep) {
      writeFileSync(join(keep, 'cloud.log'), cloud?.out.join('') ?? '');
      for (const g of gateways.values()) writeFileSync(join(keep, `${g.node}.log`), g.out.join(''));
    }
    for (const g of gateways.values()) await kill(g, 'SIGKILL');
    await kill(cloud, 'SIGKILL');
    await proxyB?.close();
    await plc?.stop();
    await api?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('applied with kubectl, each device runs only on its gateway and its values reach DeviceStatus', async () => {
    await ok('apply', '-f', join(EXAMPLES, 'models.yaml'), '-f', linePlcFile(), '-f', join(EXAMPLES, 'room-a.yaml'), '-f', join(EXAMPLES, 'room-b.yaml'));
    const [a, b] = [gateways.get('gw-a')!, gateways.get('gw-b')!];
    await waitFor('gw-a runs line-plc and room-a', async () => (await devicesOn(a)).join() === 'default/line-plc,default/room-a', 60_000, 200);
    await waitFor('gw-b runs room-b', async () => (await devicesOn(b)).join() === 'default/room-b', 60_000, 200);
    await waitFor('the PLC temperature in DeviceStatus', async () => twinOf(await deviceStatus('line-plc'), 'temperature')?.reported?.value === '23.5', 60_000, 250);
    // The Device's desired value reached the register (65.0 at scale 0.1) and shows applied.
    await waitFor('the desired setpoint in the PLC', async () => (await mbpollHolding0()) === 650, 60_000, 250);
    await waitFor('setpoint applied in DeviceStatus', async () => twinOf(await deviceStatus('line-plc'), 'setpoint')?.reported?.metadata?.reconcile === 'applied', 60_000, 250);
    await waitFor('room-b online in DeviceStatus', async () => (await deviceStatus('room-b'))?.status?.state === 'online', 60_000, 250);
    assert.match(await ok('get', 'devices,devicestatuses', '-o', 'wide'), /line-plc/);
  });

  it('kubectl patch --type merge of a desired value reaches the PLC register, and DeviceStatus shows it applied', async () => {
    const device = await json<{ spec: { properties: { name: string; desired?: { value: string } }[] } }>('get', 'device', 'line-plc');
    const properties = device.spec.properties.map((p) => (p.name === 'setpoint' ? { ...p, desired: { value: '70' } } : p));
    await ok('patch', 'device', 'line-plc', '--type', 'merge', '-p', JSON.stringify({ spec: { properties } }));
    await waitFor('700 in holding register 0', async () => (await mbpollHolding0()) === 700, 60_000, 250);
    await waitFor('DeviceStatus shows 70 applied', async () => {
      const t = twinOf(await deviceStatus('line-plc'), 'setpoint');
      return t?.reported?.value === '70' && t.reported.metadata?.reconcile === 'applied' && t.observedDesired?.value === '70';
    }, 60_000, 250);
    const twin = await twinOn(gateways.get('gw-a')!, 'line-plc');
    assert.equal(twin!.properties.setpoint!.desired!.origin, 'cloud');
  });

  it('deleting a Device removes it from its gateway; changing its nodeName moves it', async () => {
    const [a, b] = [gateways.get('gw-a')!, gateways.get('gw-b')!];
    await ok('delete', 'device', 'room-a');
    await waitFor('room-a gone from gw-a', async () => (await twinOn(a, 'room-a')) === undefined, 60_000, 200);
    await ok('apply', '-f', join(EXAMPLES, 'room-a.yaml'));
    await waitFor('room-a back on gw-a', async () => (await twinOn(a, 'room-a')) !== undefined, 60_000, 200);
    await ok('patch', 'device', 'room-a', '--type', 'merge', '-p', JSON.stringify({ spec: { nodeName: 'gw-b' } }));
    await waitFor('room-a moved to gw-b', async () => (await twinOn(b, 'room-a')) !== undefined && (await twinOn(a, 'room-a')) === undefined, 60_000, 200);
    assert.deepEqual(await devicesOn(a), ['default/line-plc']);
    assert.deepEqual(await devicesOn(b), ['default/room-a', 'default/room-b']);
  });

  it('a malformed Device fails on its gateway: DeviceStatus carries the error naming the field and an Event says it; the others keep running', async () => {
    const path = join(dir, 'bad-room.yaml');
    // Schema-valid for the API server (collectCycle is an integer), refused by the gateway's model
    // checks: a visitor's configData for a property the model does not have.
    writeFileSync(path, readFileSync(join(EXAMPLES, 'room-a.yaml'), 'utf8').replace('name: room-a', 'name: bad-room').replace('function: randomWalk', 'function: noSuchFunction'));
    await ok('apply', '-f', path);
    const status = await waitFor('the error in DeviceStatus', async () => {
      const e = (await deviceStatus('bad-room'))?.status?.extensions?.error;
      return e ? JSON.stringify(e) : undefined;
    }, 60_000, 250);
    assert.match(status, /spec\.properties\[0\]\.visitors\.configData/);
    const events = await ok('get', 'events', '--field-selector', 'involvedObject.name=bad-room', '-o', 'json');
    assert.match(events, /noSuchFunction|configData/);
    const a = gateways.get('gw-a')!;
    assert.equal(await twinOn(a, 'bad-room'), undefined);
    const before = (await twinOn(a, 'line-plc'))!.properties.temperature!.reported!.time;
    await waitFor('line-plc reads on', async () => (await twinOn(a, 'line-plc'))!.properties.temperature!.reported!.time > before, 60_000, 200);
    await ok('delete', 'device', 'bad-room');
  });

  it('the API server restarted: the cloud re-lists, nothing lost or duplicated, a later patch still arrives', async () => {
    await api.restart();
    await ok('patch', 'device', 'room-b', '--type', 'json', '-p', JSON.stringify([{ op: 'replace', path: '/spec/properties/1/desired/value', value: '22' }]));
    const b = gateways.get('gw-b')!;
    await waitFor('22 on gw-b', async () => (await twinOn(b, 'room-b'))?.properties.setpoint!.desired!.value === 22, 60_000, 200);
    assert.deepEqual(await devicesOn(b), ['default/room-a', 'default/room-b']);
    assert.deepEqual(await devicesOn(gateways.get('gw-a')!), ['default/line-plc']);
    // One DeviceStatus per Device, none doubled by the re-list.
    const names = (l: { items: { metadata: { name: string } }[] }) => l.items.map((i) => i.metadata.name).sort().join();
    assert.equal(names(await json('get', 'devicestatuses')), names(await json('get', 'devices')));
  });

  it('the cloud killed with -9 and restarted: gateways reconnect, devices stay, a later patch arrives', async () => {
    await kill(cloud, 'SIGKILL');
    await startCloud();
    for (const g of gateways.values()) await waitFor(`${g.node} reconnected`, async () => (await health(g)).cloud.connected, 60_000, 100);
    await ok('patch', 'device', 'room-b', '--type', 'json', '-p', JSON.stringify([{ op: 'replace', path: '/spec/properties/1/desired/value', value: '23' }]));
    const b = gateways.get('gw-b')!;
    await waitFor('23 on gw-b', async () => (await twinOn(b, 'room-b'))?.properties.setpoint!.desired!.value === 23, 60_000, 200);
    assert.deepEqual(await devicesOn(b), ['default/room-a', 'default/room-b']);
  });

  it('gw-b offline while 1,000 values change: DeviceStatus gets the last value in a few writes', async () => {
    const b = gateways.get('gw-b')!;
    proxyB.refuse(true);
    proxyB.cut();
    await waitFor('gw-b offline', async () => !(await health(b)).cloud.connected, 60_000, 100);
    let last = '';
    for (let i = 0; i < 1000; i++) {
      last = String(5 + (i % 250) / 10);
      const res = await fetch(`${b.api}/api/v1/devices/default/room-b/twin/desired/setpoint`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ value: last }) });
      assert.equal(res.status, 200);
    }
    // Every write of room-b's DeviceStatus from now on, counted at the API server.
    const writes: StoreEvent[] = [];
    const stop = api.store.subscribe({ key: 'devices.kubeedge.io/devicestatuses', deliver: (e) => e.object.metadata?.name === 'room-b' && writes.push(e), end: () => {} });
    try {
      proxyB.refuse(false);
      await waitFor('the last value in DeviceStatus', async () => twinOf(await deviceStatus('room-b'), 'setpoint')?.observedDesired?.value === last, 60_000, 250);
      const upTo = writes.findIndex((e) => (e.object.status?.twins as DeviceStatusTwin[] | undefined)?.some((t) => t.propertyName === 'setpoint' && t.observedDesired?.value === last));
      assert.ok(upTo >= 0 && upTo < 5, `the last of 1,000 values took ${upTo + 1} DeviceStatus writes`);
    } finally {
      stop();
    }
  });

  it('gw-a restarted with the cloud down runs its devices from MetaManager', async () => {
    const a = gateways.get('gw-a')!;
    await kill(cloud, 'SIGKILL');
    await kill(a, 'SIGTERM');
    const again = await startGateway('gw-a', cloudPorts.hub, a.dataDir);
    assert.equal((await health(again)).cloud.connected, false);
    assert.deepEqual(await devicesOn(again), ['default/line-plc']);
    await ok('get', 'devices');
    const t0 = Date.now();
    await waitFor('line-plc reads without the cloud', async () => ((await twinOn(again, 'line-plc'))?.properties.temperature!.reported?.time ?? 0) > t0, 60_000, 200);
    assert.equal(await mbpollHolding0(), 700, 'the setpoint is still in the PLC');
    await startCloud();
    await waitFor('gw-a back online', async () => (await health(again)).cloud.connected, 60_000, 100);
  });
});
