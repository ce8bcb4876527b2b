// The mapper runtime's front door: it takes the desired set of devices, checks each against its
// driver, runs one DeviceRunner per device and one LinkScheduler per link, and is the
// PropertyWriter the twin writes desired values through.

import type { LinkHealth } from '../../core/link-health.ts';
import type { Registry } from 'prom-client';
import type { DeviceId, DeviceSpecResolved } from '../../core/device.ts';
import { EdgetwinError, ErrorCodes, type Where } from '../../core/errors.ts';
import type { Logger } from '../../core/log.ts';
import type { DeviceState, PropertyWriter, ReadingSink, WriteOutcome } from '../../core/reading.ts';
import type { PropertyValue } from '../../core/values.ts';
import { errorMessage } from './async.ts';
import type { BackoffOptions } from './backoff.ts';
import { realClock, type Clock } from './clock.ts';
import { DeviceRunner } from './device-runner.ts';
import { SDK_VERSION, type DiscoveredDevice, type Driver } from './driver.ts';
import { discoverWith } from './discovery.ts';
import type { ConfigData } from '../../core/model/types.ts';
import { driverProblems, sdkCompatible, type DriverLoader } from './plugin.ts';
import { checkSerialClaims, LinkRegistry, type SerialClaim } from './links.ts';
import { MapperMetrics } from './metrics.ts';
import { DevicePreparer, type PreparedDevice } from './prepare.ts';
import { LinkScheduler } from './scheduler.ts';

export type { DriverLoader } from './plugin.ts';

export interface MapperHostOptions {
  sink: ReadingSink;
  drivers: DriverLoader[];
  log: Logger;
  dataDir: string;
  registry?: Registry;
  /** Reconnect delays; default 0.5 s doubling to 30 s with full jitter. */
  backoff?: BackoffOptions;
  clock?: Clock;
  links?: LinkRegistry;
  /** What to tell a user whose device names a protocol no loader serves (how this gateway adds drivers). */
  unknownProtocolHint?: (protocol: string) => string;
  /** A driver hook holding the event loop this long is logged (each new longest per protocol and hook); default 50 ms. */
  blockingWarnMs?: number;
}

interface SchedulerSlot {
  scheduler: LinkScheduler;
  users: number;
  protocol: string;
  /** The totals at the start of the current rate window, and the rates of the last full window. */
  window?: { at: number; requests: number; errors: number; busyMs: number; rates: { requests: number; errors: number; utilisation: number } };
}

export class MapperHost implements PropertyWriter {
  readonly #opts: MapperHostOptions;
  readonly #loaders = new Map<string, DriverLoader>();
  readonly #loaded = new Map<DriverLoader, Promise<Driver>>();
  readonly #preparer = new DevicePreparer();
  readonly #runners = new Map<DeviceId, DeviceRunner>();
  readonly #schedulers = new Map<string, SchedulerSlot>();
  readonly #links: LinkRegistry;
  readonly #clock: Clock;
  readonly metrics: MapperMetrics;
  #closed = false;

  constructor(opts: MapperHostOptions) {
    this.#opts = opts;
    for (const loader of opts.drivers) {
      for (const name of [loader.name, ...(loader.aliases ?? [])]) this.#loaders.set(name.toLowerCase(), loader);
    }
    this.#links = opts.links ?? new LinkRegistry();
    this.#clock = opts.clock ?? realClock;
    this.metrics = new MapperMetrics(opts.registry);
  }

  async check(devices: DeviceSpecResolved[]): Promise<{ accepted: DeviceSpecResolved[]; errors: EdgetwinError[] }> {
    const { prepared, errors } = await this.#prepareAll(devices);
    return { accepted: devices.filter((d) => prepared.has(d.id)), errors };
  }

  async apply(devices: DeviceSpecResolved[]): Promise<{ started: string[]; stopped: string[]; restarted: string[]; errors: EdgetwinError[] }> {
    if (this.#closed) throw new Error('MapperHost is closed');
    const { prepared, errors } = await this.#prepareAll(devices);
    const wanted = new Set(devices.map((d) => d.id));
    const started: string[] = [];
    const stopped: string[] = [];
    const restarted: string[] = [];
    for (const [id, runner] of [...this.#runners]) {
      // A device whose new version is invalid keeps its last good version running.
      if (!wanted.has(id)) {
        await this.#stop(id, runner);
        stopped.push(id);
      }
    }
    for (const [id, device] of prepared) {
      const running = this.#runners.get(id);
      if (running && running.prepared.spec.fingerprint === device.spec.fingerprint) continue;
      if (running) await this.#stop(id, running);
      this.#start(device);
      (running ? restarted : started).push(id);
    }
    if (started.length || stopped.length || restarted.length) this.#opts.log.info({ started, stopped, restarted, errors: errors.length }, 'devices applied');
    return { started, stopped, restarted, errors };
  }

  /**
   * Each link's health: rates over a window of at least `windowMs` (a second by default), so
   * however often the dashboard asks, the numbers stay steady.
   */
  linkHealth(windowMs = 1000): LinkHealth[] {
    const now = this.#clock.now();
    const out: LinkHealth[] = [];
    for (const [link, slot] of this.#schedulers) {
      const st = slot.scheduler.stats();
      const w = slot.window;
      if (!w) slot.window = { at: now, requests: st.requests, errors: st.errors, busyMs: st.busyMs, rates: { requests: 0, errors: 0, utilisation: 0 } };
      else if (now - w.at >= windowMs) {
        const span = (now - w.at) / 1000;
        w.rates = { requests: (st.requests - w.requests) / span, errors: (st.errors - w.errors) / span, utilisation: Math.min(1, (st.busyMs - w.busyMs) / (now - w.at)) };
        Object.assign(w, { at: now, requests: st.requests, errors: st.errors, busyMs: st.busyMs });
      }
      const rates = slot.window!.rates;
      out.push({
        link,
        protocol: slot.protocol,
        devices: slot.scheduler.devices,
        requestsPerSecond: rates.requests,
        errorsPerSecond: rates.errors,
        errors: st.errors,
        latenessP99Ms: st.latenessP99Ms,
        utilisation: rates.utilisation,
      });
    }
    return out;
  }

  serves(device: DeviceId): boolean {
    return this.#runners.has(device);
  }

  write(device: DeviceId, property: string, value: PropertyValue, signal?: AbortSignal): Promise<WriteOutcome> {
    const runner = this.#runners.get(device);
    if (!runner) return Promise.resolve({ ok: false, error: { code: ErrorCodes.NOT_FOUND, message: `no running driver serves device ${device}` } });
    return runner.write(property, value, signal);
  }

  /** State of a running device, for status pages and tests. */
  state(device: DeviceId): DeviceState | undefined {
    return this.#runners.get(device)?.state;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all([...this.#runners].map(([id, runner]) => this.#stop(id, runner)));
    for (const slot of this.#schedulers.values()) slot.scheduler.close();
    this.#schedulers.clear();
    await this.#links.closeAll();
  }

  /**
   * Ask a protocol's driver for the devices it can find (a BLE scan, an OPC UA browse), for
   * onboarding: the dashboard and the CLI call this. Links are shared with running devices.
   */
  async discover(protocol: string, options: ConfigData = {}, signal?: AbortSignal): Promise<DiscoveredDevice[]> {
    const driver = await this.#driverFor(protocol, { flag: 'protocol' });
    if (driver instanceof EdgetwinError) throw driver;
    return discoverWith(driver, options, { log: this.#opts.log, dataDir: this.#opts.dataDir, links: this.#links, signal });
  }

  async #driverFor(protocol: string, where: Where): Promise<Driver | EdgetwinError> {
    const loader = this.#loaders.get(protocol.toLowerCase());
    if (!loader) {
      const known = [...new Set(this.#opts.drivers.map((l) => l.name))].join(', ') || 'none';
      const hint = this.#opts.unknownProtocolHint?.(protocol) ?? 'give the MapperHost a driver loader for it';
      return new EdgetwinError(ErrorCodes.PROTOCOL_UNKNOWN, `no driver for protocol "${protocol}" (installed: ${known})`, where, hint);
    }
    const from = loader.source ? ` (from ${loader.source})` : '';
    let loading = this.#loaded.get(loader);
    if (!loading) {
      loading = loader.load();
      this.#loaded.set(loader, loading);
    }
    let driver: Driver;
    try {
      driver = await loading;
    } catch (err) {
      this.#loaded.delete(loader);
      return new EdgetwinError(ErrorCodes.PROTOCOL_UNKNOWN, `the ${loader.name} driver${from} failed to load: ${errorMessage(err)}`, where, 'check that its package and native dependencies are installed (npm ls), or remove it from --driver / drivers:', { cause: err });
    }
    const problems = driverProblems(driver);
    if (problems.length > 0) {
      return new EdgetwinError(ErrorCodes.PROTOCOL_UNKNOWN, `the ${loader.name} driver${from} is not a driver: ${problems.join('; ')}`, where, 'its load() must return the object defineDriver() builds from edgetwin/sdk');
    }
    if (driver.name.toLowerCase() !== loader.name.toLowerCase()) {
      return new EdgetwinError(ErrorCodes.PROTOCOL_UNKNOWN, `the ${loader.name} driver loader${from} returned a driver named "${driver.name}"`, where, 'give the loader and its driver the same name');
    }
    if (!sdkCompatible(driver.sdkVersion)) {
      return new EdgetwinError(ErrorCodes.PROTOCOL_UNKNOWN, `the ${driver.name} driver${from} was written for mapper SDK ${driver.sdkVersion}, this gateway runs ${SDK_VERSION}`, where, 'install a driver version built for this SDK');
    }
    return driver;
  }

  async #prepareAll(devices: DeviceSpecResolved[]): Promise<{ prepared: Map<DeviceId, PreparedDevice>; errors: EdgetwinError[] }> {
    const prepared = new Map<DeviceId, PreparedDevice>();
    const errors: EdgetwinError[] = [];
    for (const device of devices) {
      const driver = await this.#driverFor(device.protocol, { file: device.source?.file, line: device.source?.line, device: device.id, path: 'spec.protocol.protocolName' });
      if (driver instanceof EdgetwinError) {
        errors.push(driver);
        continue;
      }
      const result = this.#preparer.prepare(device, driver);
      errors.push(...result.errors);
      if (result.prepared) prepared.set(device.id, result.prepared);
    }
    const claims: SerialClaim[] = [...prepared.values()]
      .filter((p) => p.serial)
      .map((p) => ({ device: p.spec.id, protocol: p.driver.name, settings: p.serial!, source: p.spec.source }));
    for (const conflict of checkSerialClaims(claims)) {
      errors.push(conflict);
      if (conflict.where.device) prepared.delete(conflict.where.device);
    }
    return { prepared, errors };
  }

  #start(prepared: PreparedDevice): void {
    let slot = this.#schedulers.get(prepared.link);
    if (!slot) {
      const protocol = prepared.spec.protocol;
      const scheduler = new LinkScheduler({
        key: prepared.link,
        maxInFlight: prepared.maxInFlight,
        clock: this.#clock,
        onLateness: (device, ms) => this.metrics.lateness.observe({ device, protocol }, ms / 1000),
      });
      slot = { scheduler, users: 0, protocol };
      this.#schedulers.set(prepared.link, slot);
    }
    slot.scheduler.limit(prepared.maxInFlight);
    slot.users++;
    const runner = new DeviceRunner({
      prepared,
      sink: this.#opts.sink,
      log: this.#opts.log.child({ device: prepared.spec.id, protocol: prepared.spec.protocol }),
      links: this.#links,
      dataDir: this.#opts.dataDir,
      metrics: this.metrics,
      scheduler: slot.scheduler,
      backoff: this.#opts.backoff,
      clock: this.#clock,
      blockingWarnMs: this.#opts.blockingWarnMs ?? 50,
    });
    this.#runners.set(prepared.spec.id, runner);
    runner.start();
  }

  async #stop(id: DeviceId, runner: DeviceRunner): Promise<void> {
    this.#runners.delete(id);
    await runner.stop();
    const link = runner.prepared.link;
    const slot = this.#schedulers.get(link);
    if (slot && --slot.users === 0) {
      slot.scheduler.close();
      this.#schedulers.delete(link);
    }
  }
}
