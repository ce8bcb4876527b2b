// The gateway's side of KubeEdge's DMI: it serves DeviceManagerService on a unix socket, so a
// KubeEdge mapper written in any language registers for a protocol, receives the devices of
// that protocol through its DeviceMapperService, and reports twins and states into the twin.
// Registrations persist in the gateway's database: after a restart each mapper is dialled
// again and its devices are sent again, without waiting for it to re-register.

import type Database from 'better-sqlite3';
import type { DeviceId, DeviceSpecResolved } from '../../core/device.ts';
import { deviceId } from '../../core/device.ts';
import { ErrorCodes } from '../../core/errors.ts';
import type { Logger } from '../../core/log.ts';
import { canonicalProtocol } from '../../core/model/resolve.ts';
import type { DeviceState, PropertyWriter, Reading, ReadingSink, WriteOutcome } from '../../core/reading.ts';
import { formatValue, parseValue, ValueError, type PropertyValue } from '../../core/values.ts';
import { locateProto, openUnixGrpc, GrpcCallError, type UnixGrpcClient } from '../grpc-unix.ts';
import { GrpcStatus, GrpcStatusError, serveUnixGrpc, type UnixGrpcServer } from '../grpc-unix-server.ts';
import { ConfigDataError } from './any.ts';
import { toPbDevice, toPbModel, type PbDevice, type PbDeviceModel } from './convert.ts';
import { RegistrationStore, type MapperRegistration } from './registrations.ts';

export const DMI_PROTO = () => locateProto(import.meta.url, 'dmi.proto', 'hub/dmi/dmi.proto');
const MAPPER_SERVICE = 'v1beta1.DeviceMapperService';

export interface DmiManagerOptions {
  /** Where DeviceManagerService listens ({dataDir}/dmi.sock by default). */
  socket: string;
  /** The gateway's database: registrations live beside the twin. */
  db: Database.Database;
  /** The twin: reported twins and states go here. */
  sink: ReadingSink;
  log: Logger;
  /** The local driver serving a protocol, if any: a mapper may not take that protocol over. */
  localDriver(protocol: string): string | undefined;
  /** A protocol got its first mapper: reload the device catalog so its devices are accepted. */
  protocolAdded(protocol: string): Promise<void>;
  /** The twin's desired value of a property, as text (what UpdateDevice carries to the mapper). */
  desired(device: DeviceId, property: string): string | undefined;
  /** Deadline of each call to a mapper; KubeEdge's is 10 s. */
  callTimeoutMs?: number;
  /** Delay before a mapper that did not answer is dialled again; default 5 s. */
  retryMs?: number;
}

/** One registered mapper and what it has been given. */
interface MapperLink {
  reg: MapperRegistration;
  client?: UnixGrpcClient;
  /** Device id -> fingerprint of the version the mapper has. */
  sent: Map<DeviceId, string>;
  /** Model keys ({namespace}/{name}) the mapper has. */
  models: Set<string>;
  /** Serialises the calls to this mapper. */
  chain: Promise<void>;
  /** Held while a registration is answered, so nothing is sent twice. */
  holding: boolean;
  retry?: NodeJS.Timeout;
  lastError?: string;
}

export interface DmiMapperStatus {
  protocol: string;
  name: string;
  address: string;
  devices: number;
  reachable: boolean;
  error?: string;
}

export class DmiManager implements PropertyWriter {
  readonly #opts: DmiManagerOptions;
  readonly #store: RegistrationStore;
  readonly #links = new Map<string, MapperLink>();
  /** The devices of DMI protocols, from the last apply. */
  #devices = new Map<DeviceId, DeviceSpecResolved>();
  #server?: UnixGrpcServer;
  #closed = false;

  private constructor(opts: DmiManagerOptions) {
    this.#opts = opts;
    this.#store = new RegistrationStore(opts.db);
    for (const reg of this.#store.all()) this.#links.set(reg.protocol, this.#newLink(reg));
  }

  /** Restores the registrations and starts serving DeviceManagerService. */
  static async start(opts: DmiManagerOptions): Promise<DmiManager> {
    const m = new DmiManager(opts);
    for (const reg of m.#links.values()) opts.log.info({ protocol: reg.reg.protocol, mapper: reg.reg.name, address: reg.reg.address }, 'dmi: mapper registration restored; its devices are sent again');
    m.#server = await serveUnixGrpc(DMI_PROTO(), opts.socket, 'v1beta1.DeviceManagerService', {
      MapperRegister: (req) => m.#register(req),
      ReportDeviceStatus: (req) => m.#reportStatus(req),
      ReportDeviceStates: (req) => m.#reportStates(req),
    });
    opts.log.info({ socket: m.#server.socket }, 'dmi: DeviceManagerService listening');
    return m;
  }

  get socket(): string {
    return this.#opts.socket;
  }

  /** True when a registered mapper takes devices of this protocol. */
  handles(protocol: string): boolean {
    return this.#links.has(canonicalProtocol(protocol));
  }

  status(): DmiMapperStatus[] {
    return [...this.#links.values()].map((l) => ({
      protocol: l.reg.protocol,
      name: l.reg.name,
      address: l.reg.address,
      devices: [...this.#devices.values()].filter((d) => d.protocol === l.reg.protocol).length,
      reachable: l.lastError === undefined,
      ...(l.lastError ? { error: l.lastError } : {}),
    }));
  }

  /** Hands each mapper the devices of its protocol: new ones registered, changed ones updated, gone ones removed. */
  apply(devices: DeviceSpecResolved[]): void {
    this.#devices = new Map(devices.filter((d) => this.handles(d.protocol)).map((d) => [d.id, d]));
    for (const link of this.#links.values()) this.#sync(link);
  }

  serves(device: DeviceId): boolean {
    return this.#devices.has(device);
  }

  /** A desired value travels to the mapper as UpdateDevice with the property's desired set, as edgecore sends it. */
  async write(device: DeviceId, property: string, value: PropertyValue): Promise<WriteOutcome> {
    const spec = this.#devices.get(device);
    const link = spec && this.#links.get(spec.protocol);
    if (!spec || !link) return { ok: false, error: { code: ErrorCodes.NOT_FOUND, message: `no DMI mapper serves device ${device}` } };
    const prop = spec.properties.find((p) => p.name === property);
    const text = prop ? formatValue(prop.type, value) : String(value);
    const pb = toPbDevice(spec, (name) => (name === property ? text : this.#opts.desired(device, name)));
    try {
      await this.#queue(link, async (client) => {
        await client.call('UpdateDevice', { device: pb }, this.#timeout);
      });
      return { ok: true };
    } catch (err) {
      return { ok: false, error: { code: ErrorCodes.DMI_MAPPER, message: `the DMI mapper ${link.reg.name} at ${link.reg.address}: ${(err as Error).message}` } };
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const link of this.#links.values()) {
      clearTimeout(link.retry);
      link.client?.close();
    }
    await this.#server?.close();
  }

  get #timeout(): number {
    return this.#opts.callTimeoutMs ?? 10_000;
  }

  #newLink(reg: MapperRegistration): MapperLink {
    return { reg, sent: new Map(), models: new Set(), chain: Promise.resolve(), holding: false };
  }

  // ---- DeviceManagerService ----

  async #register(req: { withData?: boolean; mapper?: { name?: string; version?: string; apiVersion?: string; protocol?: string; address?: Uint8Array; state?: string } }): Promise<object> {
    const info = req.mapper;
    const address = info?.address ? Buffer.from(info.address).toString('utf8') : '';
    if (!info?.protocol) throw new GrpcStatusError(GrpcStatus.INVALID_ARGUMENT, 'MapperRegister: mapper.protocol is empty; set it to the protocolName of the devices the mapper serves');
    if (!address.startsWith('/') && !address.startsWith('unix://')) {
      throw new GrpcStatusError(GrpcStatus.INVALID_ARGUMENT, `MapperRegister: mapper.address "${address}" is not a unix socket path; set it to the absolute path the mapper's DeviceMapperService listens on`);
    }
    const protocol = canonicalProtocol(info.protocol);
    const local = this.#opts.localDriver(protocol);
    if (local) {
      this.#opts.log.warn({ protocol, mapper: info.name, address }, 'dmi: mapper registration refused: a local driver serves the protocol');
      throw new GrpcStatusError(GrpcStatus.FAILED_PRECONDITION,
        `protocol "${info.protocol}" is served by edgetwin's ${local} driver, so a DMI mapper cannot take it: register the mapper under another protocolName (and use that name in its Devices), or run edgetwin without that driver`);
    }
    const reg: MapperRegistration = { protocol, name: info.name || protocol, version: info.version ?? '', apiVersion: info.apiVersion ?? '', address, registeredAt: Date.now() };
    this.#store.put(reg);
    const known = this.#links.get(protocol);
    if (known) {
      clearTimeout(known.retry);
      known.client?.close();
    }
    const link = this.#newLink(reg);
    link.holding = true;
    this.#links.set(protocol, link);
    this.#opts.log.info({ protocol, mapper: reg.name, address, withData: Boolean(req.withData) }, known ? 'dmi: mapper registered again' : 'dmi: mapper registered');
    try {
      // The catalog refused this protocol's devices until now ("no driver"): load them again.
      if (!known) await this.#opts.protocolAdded(protocol);
    } finally {
      link.holding = false;
    }
    const mine = [...this.#devices.values()].filter((d) => d.protocol === protocol);
    if (!req.withData) {
      this.#sync(link);
      return { modelList: [], deviceList: [] };
    }
    const models = new Map<string, PbDeviceModel>();
    const deviceList: PbDevice[] = [];
    for (const d of mine) {
      models.set(`${d.namespace}/${d.model}`, toPbModel(d));
      deviceList.push(toPbDevice(d, (p) => this.#opts.desired(d.id, p)));
      link.sent.set(d.id, d.fingerprint);
    }
    for (const key of models.keys()) link.models.add(key);
    return { modelList: [...models.values()], deviceList };
  }

  #dmiDevice(name: string | undefined, namespace: string | undefined, what: string): DeviceSpecResolved {
    if (!name) throw new GrpcStatusError(GrpcStatus.INVALID_ARGUMENT, `${what}: deviceName is empty`);
    const id = deviceId(namespace, name);
    const spec = this.#devices.get(id);
    if (!spec) {
      throw new GrpcStatusError(GrpcStatus.NOT_FOUND, `${what}: device ${id} is not one edgetwin handed to a DMI mapper (known: ${[...this.#devices.keys()].join(', ') || 'none'})`);
    }
    return spec;
  }

  #reportStatus(req: { deviceName?: string; deviceNamespace?: string; reportedDevice?: { twins?: { propertyName?: string; reported?: { value?: string; metadata?: Record<string, string> } | null }[] } | null }): object {
    const spec = this.#dmiDevice(req.deviceName, req.deviceNamespace, 'ReportDeviceStatus');
    const now = Date.now();
    const readings: Reading[] = [];
    for (const t of req.reportedDevice?.twins ?? []) {
      if (!t.reported || !t.propertyName) continue;
      const prop = spec.properties.find((p) => p.name === t.propertyName);
      if (!prop) throw new GrpcStatusError(GrpcStatus.INVALID_ARGUMENT, `ReportDeviceStatus: device ${spec.id} has no property "${t.propertyName}" (it has ${spec.properties.map((p) => p.name).join(', ')})`);
      let value: PropertyValue;
      try {
        value = parseValue(prop.type, t.reported.value ?? '');
      } catch (err) {
        if (err instanceof ValueError) throw new GrpcStatusError(GrpcStatus.INVALID_ARGUMENT, `ReportDeviceStatus: ${spec.id} property ${prop.name}: ${err.message}`);
        throw err;
      }
      // KubeEdge mappers put the source time (ms since the epoch) in metadata.timestamp.
      const ts = Number(t.reported.metadata?.timestamp);
      readings.push({ device: spec.id, property: prop.name, value, time: Number.isFinite(ts) && ts > 0 ? ts : now, quality: 'good' });
    }
    if (readings.length) this.#opts.sink.report(readings);
    return {};
  }

  #reportStates(req: { deviceName?: string; deviceNamespace?: string; state?: string }): object {
    const spec = this.#dmiDevice(req.deviceName, req.deviceNamespace, 'ReportDeviceStates');
    this.#opts.sink.state(spec.id, dmiState(req.state), `reported by the DMI mapper for ${spec.protocol}`);
    return {};
  }

  // ---- DeviceMapperService calls ----

  /** Runs `fn` with the mapper's client after the calls queued before it; dials on first use. */
  #queue(link: MapperLink, fn: (client: UnixGrpcClient) => Promise<void>): Promise<void> {
    const run = link.chain.then(async () => {
      if (!link.client) link.client = (await openUnixGrpc(DMI_PROTO(), link.reg.address, [MAPPER_SERVICE]))[MAPPER_SERVICE];
      await fn(link.client!);
    });
    link.chain = run.catch(() => undefined);
    return run;
  }

  #sync(link: MapperLink): void {
    if (this.#closed || link.holding) return;
    void this.#queue(link, async (client) => {
      const protocol = link.reg.protocol;
      const wanted = [...this.#devices.values()].filter((d) => d.protocol === protocol);
      for (const d of wanted) {
        const modelKey = `${d.namespace}/${d.model}`;
        if (!link.models.has(modelKey)) {
          await client.call('CreateDeviceModel', { model: toPbModel(d) }, this.#timeout);
          link.models.add(modelKey);
        }
        const had = link.sent.get(d.id);
        if (had === d.fingerprint) continue;
        const pb = toPbDevice(d, (p) => this.#opts.desired(d.id, p));
        await client.call(had === undefined ? 'RegisterDevice' : 'UpdateDevice', { device: pb }, this.#timeout);
        link.sent.set(d.id, d.fingerprint);
        this.#opts.log.info({ device: d.id, protocol, mapper: link.reg.name }, had === undefined ? 'dmi: device registered with its mapper' : 'dmi: device updated on its mapper');
      }
      const ids = new Set(wanted.map((d) => d.id));
      for (const id of [...link.sent.keys()]) {
        if (ids.has(id)) continue;
        const [namespace, name] = splitId(id);
        await client.call('RemoveDevice', { deviceName: name, deviceNamespace: namespace }, this.#timeout);
        link.sent.delete(id);
        this.#opts.log.info({ device: id, protocol, mapper: link.reg.name }, 'dmi: device removed from its mapper');
      }
      if (link.lastError) this.#opts.log.info({ protocol, mapper: link.reg.name }, 'dmi: mapper answers again');
      link.lastError = undefined;
    }).catch((err: unknown) => {
      if (this.#closed) return;
      const message = err instanceof GrpcCallError || err instanceof ConfigDataError ? err.message : String((err as Error)?.message ?? err);
      if (link.lastError !== message) {
        this.#opts.log.warn({ protocol: link.reg.protocol, mapper: link.reg.name, address: link.reg.address, err: message }, 'dmi: cannot hand devices to the mapper; retrying');
        // Nothing serves these devices now: the twin says so instead of showing the last state the mapper reported.
        for (const d of this.#devices.values()) {
          if (d.protocol === link.reg.protocol) this.#opts.sink.state(d.id, 'unknown', `the DMI mapper ${link.reg.name} at ${link.reg.address} does not answer: ${message}`);
        }
      }
      link.lastError = message;
      // A new client next time: grpc-js would otherwise keep its own backoff on a dead socket.
      link.client?.close();
      link.client = undefined;
      clearTimeout(link.retry);
      link.retry = setTimeout(() => this.#sync(link), this.#opts.retryMs ?? 5000);
      link.retry.unref();
    });
  }
}

function splitId(id: DeviceId): [string, string] {
  const i = id.indexOf('/');
  return [id.slice(0, i), id.slice(i + 1)];
}

/** KubeEdge mappers say "ok" or "online" for a device they reach. */
function dmiState(state: string | undefined): DeviceState {
  switch ((state ?? '').toLowerCase()) {
    case 'ok':
    case 'online':
      return 'online';
    case 'offline':
      return 'offline';
    case 'unhealthy':
      return 'unhealthy';
    default:
      return 'unknown';
  }
}

/** The error a device gets when no local driver and no DMI mapper serves its protocol. */
export function noMapperHint(socket: string): (protocol: string) => string {
  return (protocol) => `or start a KubeEdge DMI mapper that registers protocol "${protocol}" at ${socket} (see "KubeEdge DMI" in docs/mapper-guide.md)`;
}
