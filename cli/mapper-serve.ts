// `edgetwin mapper serve`: any edgetwin driver (built-in or a --driver package) as a standalone
// KubeEdge DMI mapper. It registers with a DeviceManagerService (KubeEdge's edgecore, or an
// edgetwin gateway with dmi.enabled), serves DeviceMapperService for the devices it is given,
// runs them with the mapper SDK's runtime and reports twins and states back. Devices arriving
// over the DMI go through the same loader and validation as Device YAML on disk.

import { dirname, join, resolve } from 'node:path';
import type { DeviceId, DeviceSpecResolved } from '../core/device.ts';
import { createLogger, type Logger } from '../core/log.ts';
import { loadFromTexts } from '../core/model/load.ts';
import type { DeviceState, Reading, ReadingSink } from '../core/reading.ts';
import { formatValue, sameValue, type PropertyValue } from '../core/values.ts';
import { ConfigDataError } from '../hub/dmi/any.ts';
import { toKubeEdgeDocuments, toPbDevice, type PbDevice, type PbDeviceModel } from '../hub/dmi/convert.ts';
import { DeviceManagerClient, serveDeviceMapper, type ReportedTwin } from '../hub/dmi/mapper-side.ts';
import { GrpcStatus, GrpcStatusError } from '../hub/grpc-unix-server.ts';
import { MapperHost } from '../mappers/sdk/host.ts';
import { resolveConfig } from './config.ts';
import { loadDrivers } from './drivers.ts';
import { configError, exitCodeOf, formatFailure } from './failure.ts';

export interface MapperServeFlags {
  protocol: string;
  dmiSocket?: string;
  socket?: string;
  driver?: string[];
  config?: string;
  dataDir?: string;
  name?: string;
  logLevel?: string;
  /** Delay between attempts to register, and to write a desired value the device did not take, ms. */
  retryMs?: number;
}

/** KubeEdge's default edgecore DMI socket. */
export const EDGECORE_DMI_SOCKET = '/etc/kubeedge/dmi.sock';

export async function mapperServeCommand(flags: MapperServeFlags): Promise<number> {
  try {
    // Validated like `run`'s: an unknown level is a usage error, not a pino exception.
    const log = createLogger({ level: resolveConfig({ logLevel: flags.logLevel }).log.level, name: 'edgetwin-mapper' });
    const mapper = await startDmiMapper(flags, log);
    await new Promise<void>((done) => {
      const stop = () => done();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    await mapper.close();
    return 0;
  } catch (err) {
    process.stderr.write(formatFailure(err));
    return exitCodeOf(err);
  }
}

export interface DmiMapper {
  socket: string;
  close(): Promise<void>;
}

export async function startDmiMapper(flags: MapperServeFlags, log: Logger): Promise<DmiMapper> {
  const config = resolveConfig({ config: flags.config, drivers: flags.driver, dataDir: flags.dataDir ?? './edgetwin-mapper-data' });
  const drivers = await loadDrivers(config.drivers);
  for (const e of drivers.errors) log.error({ code: e.code }, e.format());
  const protocol = flags.protocol.trim();
  const loader = drivers.loaders.find((l) => [l.name, ...(l.aliases ?? [])].some((n) => n.toLowerCase() === protocol.toLowerCase()));
  if (!loader) {
    throw configError(`no driver for protocol "${protocol}" (installed: ${drivers.loaders.map((l) => l.name).join(', ')})`, { flag: '--protocol' },
      'name a built-in driver, or load its package with --driver <package or path>');
  }
  const managerSocket = resolve(flags.dmiSocket ?? EDGECORE_DMI_SOCKET);
  // KubeEdge's mapper template puts the mapper's socket beside edgecore's: /etc/kubeedge/<protocol>.sock.
  const socket = resolve(flags.socket ?? join(dirname(managerSocket), `${protocol}.sock`));
  const retryMs = flags.retryMs ?? 5000;

  const manager = await DeviceManagerClient.open(managerSocket);
  const sink = new DmiReportSink(manager, log);
  const host = new MapperHost({ sink, drivers: [loader], log: log.child({ component: 'mapper' }), dataDir: config.dataDir });
  const runtime = new DmiDevices({ host, sink, log, protocol, retryMs });
  const server = await serveDeviceMapper(socket, runtime);
  log.info({ socket, protocol, driver: loader.name, deviceManager: managerSocket }, 'DMI mapper listening');

  let closed = false;
  let timer: NodeJS.Timeout | undefined;
  // edgecore may start after its mappers: keep registering until it answers.
  const register = async () => {
    try {
      const { models, devices } = await manager.register({ name: flags.name ?? `edgetwin-${loader.name}`, version: '1', protocol, address: socket });
      log.info({ devices: devices.length, models: models.length, deviceManager: managerSocket }, 'registered with the device manager');
      await runtime.replaceAll(models, devices);
    } catch (err) {
      if (closed) return;
      log.warn({ deviceManager: managerSocket, err: (err as Error).message, retryInMs: retryMs }, 'cannot register with the device manager; retrying');
      timer = setTimeout(() => void register(), retryMs);
    }
  };
  await register();
  return {
    socket,
    async close() {
      closed = true;
      clearTimeout(timer);
      runtime.close();
      await server.close();
      await host.close();
      manager.close();
    },
  };
}

/** The devices the device manager gave, resolved and run by a MapperHost. */
class DmiDevices {
  readonly #models = new Map<string, PbDeviceModel>();
  readonly #pb = new Map<DeviceId, PbDevice>();
  readonly #resolved = new Map<DeviceId, DeviceSpecResolved>();
  /** Per device and property: the desired value last written (or being written). */
  readonly #desired = new Map<string, { value: PropertyValue; done: boolean; timer?: NodeJS.Timeout }>();
  #closed = false;
  /** One apply at a time: gRPC calls arrive concurrently, the host's apply must not interleave. */
  #applying: Promise<void> = Promise.resolve();

  constructor(private readonly o: { host: MapperHost; sink: DmiReportSink; log: Logger; protocol: string; retryMs: number }) {}

  async replaceAll(models: PbDeviceModel[], devices: PbDevice[]): Promise<void> {
    this.#models.clear();
    for (const m of models) this.#models.set(key(m.namespace, m.name), m);
    this.#pb.clear();
    const errors: string[] = [];
    for (const d of devices) {
      const problem = await this.#resolve(d);
      if (problem) errors.push(problem);
      else this.#pb.set(key(d.namespace, d.name), d);
    }
    for (const e of errors) this.o.log.error(e);
    await this.#apply();
  }

  // ---- DeviceMapperHandlers ----

  registerDevice = async (device: PbDevice): Promise<void> => {
    const problem = await this.#resolve(device);
    if (problem) throw new GrpcStatusError(GrpcStatus.INVALID_ARGUMENT, problem);
    this.#pb.set(key(device.namespace, device.name), device);
    await this.#apply();
  };

  updateDevice = this.registerDevice;

  removeDevice = async (namespace: string, name: string): Promise<void> => {
    this.#pb.delete(key(namespace, name));
    await this.#apply();
  };

  createModel = async (model: PbDeviceModel): Promise<void> => {
    this.#models.set(key(model.namespace, model.name), model);
    // Devices that came before their model can run now.
    await this.#apply();
  };

  updateModel = this.createModel;

  removeModel = async (namespace: string, name: string): Promise<void> => {
    this.#models.delete(key(namespace, name));
    await this.#apply();
  };

  getDevice = (namespace: string, name: string): PbDevice | undefined => {
    const spec = this.#resolved.get(key(namespace, name));
    return spec ? toPbDevice(spec) : this.#pb.get(key(namespace, name));
  };

  close(): void {
    this.#closed = true;
    for (const d of this.#desired.values()) clearTimeout(d.timer);
  }

  // ---- running ----

  /** Resolves one device with its model and checks it with its driver; returns what is wrong with it, or undefined. */
  async #resolve(device: PbDevice): Promise<string | undefined> {
    const id = key(device.namespace, device.name);
    const modelName = device.spec?.deviceModelReference ?? '';
    const model = this.#models.get(key(device.namespace, modelName));
    if (!model) return undefined; // waits for CreateDeviceModel, as KubeEdge's mappers do
    let texts: string;
    try {
      texts = toKubeEdgeDocuments(device, model, this.o.protocol).map((doc) => JSON.stringify(doc)).join('\n---\n');
    } catch (err) {
      if (err instanceof ConfigDataError) return `device ${id}: ${err.message}`;
      throw err;
    }
    const load = loadFromTexts([{ file: `dmi:${id}`, text: texts }]);
    // The driver's own schemas and check(), as for a device from a YAML file.
    const checked = await this.o.host.check(load.devices);
    const problems = [...load.errors, ...checked.errors].map((e) => e.format());
    if (problems.length > 0) return `device ${id}: ${problems.join('; ')}`;
    return undefined;
  }

  #apply(): Promise<void> {
    const run = this.#applying.then(() => this.#applyNow());
    this.#applying = run.catch(() => undefined);
    return run;
  }

  async #applyNow(): Promise<void> {
    if (this.#closed) return;
    const specs: DeviceSpecResolved[] = [];
    for (const [id, device] of this.#pb) {
      const model = this.#models.get(key(device.namespace, device.spec?.deviceModelReference ?? ''));
      if (!model) {
        this.o.log.warn({ device: id, model: device.spec?.deviceModelReference }, 'device waits for its DeviceModel (CreateDeviceModel)');
        continue;
      }
      const text = toKubeEdgeDocuments(device, model, this.o.protocol).map((doc) => JSON.stringify(doc)).join('\n---\n');
      const load = loadFromTexts([{ file: `dmi:${id}`, text }]);
      specs.push(...load.devices);
    }
    const checked = await this.o.host.check(specs);
    for (const e of checked.errors) this.o.log.error({ code: e.code, device: e.where.device }, e.format());
    this.#resolved.clear();
    for (const s of checked.accepted) this.#resolved.set(s.id, s);
    this.o.sink.devices(this.#resolved);
    const applied = await this.o.host.apply(checked.accepted);
    for (const e of applied.errors) this.o.log.error({ code: e.code, device: e.where.device }, e.format());
    for (const k of [...this.#desired.keys()]) {
      const [id, property] = splitKey(k);
      if (!this.#resolved.get(id)?.properties.some((p) => p.name === property && p.desired !== undefined)) {
        clearTimeout(this.#desired.get(k)!.timer);
        this.#desired.delete(k);
      }
    }
    for (const spec of checked.accepted) {
      for (const p of spec.properties) if (p.desired !== undefined && p.accessMode === 'ReadWrite') this.#want(spec.id, p.name, p.desired);
    }
  }

  /** Writes a desired value the device manager sent, until the device takes it or a newer one comes. */
  #want(id: DeviceId, property: string, value: PropertyValue): void {
    const k = `${id}#${property}`;
    const had = this.#desired.get(k);
    if (had && sameValue(had.value, value)) return;
    if (had) clearTimeout(had.timer);
    const entry: { value: PropertyValue; done: boolean; timer?: NodeJS.Timeout } = { value, done: false };
    this.#desired.set(k, entry);
    const attempt = async () => {
      if (this.#closed || this.#desired.get(k) !== entry) return;
      const outcome = await this.o.host.write(id, property, value);
      if (this.#desired.get(k) !== entry) return;
      if (outcome.ok) {
        entry.done = true;
        this.o.log.info({ device: id, property }, 'desired value written');
        // The read-back is the device's value: report it now rather than at the next poll.
        if (outcome.readBack !== undefined) this.o.sink.report([{ device: id, property, value: outcome.readBack, time: Date.now(), quality: 'good' }]);
        return;
      }
      this.o.log.warn({ device: id, property, err: outcome.error, retryInMs: outcome.permanent ? undefined : this.o.retryMs }, outcome.permanent ? 'the device refused the desired value' : 'desired value not written yet; retrying');
      if (!outcome.permanent) entry.timer = setTimeout(() => void attempt(), this.o.retryMs);
    };
    void attempt();
  }
}

/** Readings and states to the device manager: one ReportDeviceStatus per device per tick. */
class DmiReportSink implements ReadingSink {
  #specs = new Map<DeviceId, DeviceSpecResolved>();
  readonly #pending = new Map<DeviceId, Map<string, ReportedTwin>>();
  #scheduled = false;
  #failing = false;

  constructor(private readonly manager: DeviceManagerClient, private readonly log: Logger) {}

  devices(specs: Map<DeviceId, DeviceSpecResolved>): void {
    this.#specs = specs;
  }

  report(readings: readonly Reading[]): void {
    for (const r of readings) {
      const prop = this.#specs.get(r.device)?.properties.find((p) => p.name === r.property);
      if (!prop || r.value === undefined || r.quality === 'bad') continue;
      let twins = this.#pending.get(r.device);
      if (!twins) this.#pending.set(r.device, (twins = new Map()));
      twins.set(r.property, { property: r.property, value: formatValue(prop.type, r.value), time: r.time, type: prop.type.toUpperCase() });
    }
    if (!this.#scheduled && this.#pending.size > 0) {
      this.#scheduled = true;
      setImmediate(() => void this.#flush());
    }
  }

  state(device: DeviceId, state: DeviceState, reason?: string): void {
    const [namespace, name] = splitId(device);
    this.manager.reportState(namespace, name, state).then(
      () => this.#ok(),
      (err: Error) => this.#failed(err, { device, state, reason }),
    );
  }

  async #flush(): Promise<void> {
    this.#scheduled = false;
    const batch = [...this.#pending];
    this.#pending.clear();
    for (const [device, twins] of batch) {
      // A device removed since its reading was taken is not reported any more.
      if (!this.#specs.has(device)) continue;
      const [namespace, name] = splitId(device);
      try {
        await this.manager.reportTwins(namespace, name, [...twins.values()]);
        this.#ok();
      } catch (err) {
        // Not queued: a value that changes is reported again, and reportCycle repeats the rest.
        this.#failed(err as Error, { device });
      }
    }
  }

  #ok(): void {
    if (this.#failing) this.log.info('the device manager takes reports again');
    this.#failing = false;
  }

  #failed(err: Error, fields: object): void {
    if (!this.#failing) this.log.warn({ ...fields, err: err.message }, 'cannot report to the device manager; reports are dropped until it answers');
    this.#failing = true;
  }
}

const key = (namespace: string | undefined, name: string): DeviceId => `${namespace || 'default'}/${name}`;

function splitId(id: DeviceId): [string, string] {
  const i = id.indexOf('/');
  return [id.slice(0, i), id.slice(i + 1)];
}

function splitKey(k: string): [DeviceId, string] {
  const i = k.lastIndexOf('#');
  return [k.slice(0, i), k.slice(i + 1)];
}
