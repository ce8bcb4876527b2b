// Composition root of `edgetwin run`: wires the twin, the mapper host, the MQTT event bus and
// the local API. It owns no logic of its own beyond the order things start and stop in.

import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { collectDefaultMetrics, Registry } from 'prom-client';
import type { Logger } from '../core/log.ts';
import type { LogRing } from '../core/log-ring.ts';
import { redactUrl, urlHasPassword } from '../core/redact.ts';
import type { DmiManager } from '../hub/dmi/manager.ts';
import type { EdgeLink } from '../hub/edge.ts';
import type { DeviceSpecResolved } from '../core/device.ts';
import type { PropertyWriter } from '../core/reading.ts';
import { formatValue } from '../core/values.ts';
import { CLOUD_FILE_PREFIX } from '../core/device-source.ts';
import { POD_USER_PREFIX } from '../hub/edged/credentials.ts';
import { MapperHost } from '../mappers/sdk/host.ts';
import { startApi } from '../twin/api.ts';
import { dashboardRoutes } from '../twin/dashboard-api.ts';
import { PropertyHistory } from '../twin/history.ts';
import { startEmbeddedBroker, type EmbeddedBroker } from '../twin/broker.ts';
import { lockDataDir } from '../twin/datadir-lock.ts';
import { MqttEventBus } from '../twin/eventbus.ts';
import { Health } from '../twin/health.ts';
import { Outbox } from '../twin/outbox.ts';
import { ScopedCredentials } from '../twin/scoped-credentials.ts';
import { TwinStore } from '../twin/store.ts';
import { DeviceTwin } from '../twin/twin.ts';
import { loadApiAuth } from './api-auth.ts';
import { DeviceCatalog, type CatalogLoad } from './catalog.ts';
import { readPassword, type GatewayConfig } from './config.ts';
import { loadDrivers, unknownProtocolHint } from './drivers.ts';
import { onboardingRoutes } from './onboarding-api.ts';
import { startGatewayNode, type GatewayPods } from './gateway-pods.ts';

export interface Gateway {
  readonly config: GatewayConfig;
  readonly twin: DeviceTwin;
  readonly host: MapperHost;
  /** Every metric of the gateway (the /metrics page), also read by the log summary. */
  readonly registry: Registry;
  readonly apiUrl: string;
  /** The broker's URL for display: a password in it is redacted. */
  readonly mqttUrl: string;
  readonly firstLoad: CatalogLoad;
  /** The cloud link, when `--cloud` configured one. */
  readonly cloud?: EdgeLink;
  /** The KubeEdge DMI device manager, when dmi.enabled. */
  readonly dmi?: DmiManager;
  /** `{dataDir}/devices.d`: loaded and watched besides --devices; the dashboard adds files here. */
  readonly devicesDir: string;
  /** Loads every device file again; calls queue, never overlap. */
  reload(): Promise<CatalogLoad>;
  /** Re-reads the --pods files (no-op without edged). */
  reloadPods(): void;
  close(): Promise<void>;
}

/** The built dashboard (dist/dashboard of the package), found from this module whether bundled or not. */
function dashboardPage(): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    if (existsSync(join(dir, 'package.json'))) return join(dir, 'dist', 'dashboard');
    dir = dirname(dir);
  }
  return undefined;
}

/** True when the folder holds a device file (an empty devices.d is normal, not a load error). */
function hasDeviceFiles(dir: string): boolean {
  try {
    return readdirSync(dir, { recursive: true }).some((f) => /\.(ya?ml|json)$/i.test(String(f)));
  } catch {
    return false;
  }
}

export async function startGateway(config: GatewayConfig, log: Logger, extras: { logs?: LogRing; bleBinding?: string } = {}): Promise<Gateway> {
  // Credentials problems stop the start before the data directory or a device is touched.
  const apiAuth = loadApiAuth(config.api, log);
  if (config.mqtt.url && urlHasPassword(config.mqtt.url)) {
    log.warn({ mqtt: redactUrl(config.mqtt.url) }, 'the MQTT URL carries a password, which shell history and process lists show: set mqtt.username and mqtt.passwordFile instead');
  }
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });

  const cleanup: (() => Promise<void> | void)[] = [];
  const closeAll = async () => {
    for (const fn of cleanup.reverse()) {
      try {
        await fn();
      } catch (err) {
        log.error({ err }, 'error while shutting down');
      }
    }
  };

  try {
    // Before anything else touches the directory or a device: one gateway per data directory.
    const lock = lockDataDir(config.dataDir);
    cleanup.push(() => lock.release());
    if (lock.tookOver) log.warn({ file: lock.file, pid: lock.tookOver.pid }, 'took over the data directory lock of a process that is gone (it did not stop cleanly)');
    // The cloud link's code (ws, X.509) loads only when configured: a standalone gateway never pays for it.
    const edge = config.cloud ? await import('../hub/edge.ts') : undefined;
    const identity = edge?.nodeIdentity(config.dataDir, config.nodeNameGiven ? config.nodeName : undefined);
    if (identity) config = { ...config, nodeName: identity.nodeName };
    const devicesDir = join(config.dataDir, 'devices.d');
    mkdirSync(devicesDir, { recursive: true, mode: 0o700 });
    const store = TwinStore.open(config.dataDir);
    cleanup.push(() => store.close());
    const twin = new DeviceTwin({ store, log: log.child({ component: 'twin' }), nodeName: config.nodeName, registry, storeRetryMs: config.storeRetryMs, flushWindowMs: config.flushWindowMs });
    cleanup.push(() => twin.close());
    // A driver package that fails to load is logged and left out; devices of other protocols run.
    const drivers = await loadDrivers(config.drivers);
    for (const e of drivers.errors) log.error({ code: e.code }, e.format());
    const dmiHint = config.dmi.enabled ? (await import('../hub/dmi/manager.ts')).noMapperHint(config.dmi.socket) : undefined;
    const driverHint = unknownProtocolHint(drivers.loaders);
    const host = new MapperHost({
      sink: twin, drivers: drivers.loaders, log: log.child({ component: 'mapper' }), dataDir: config.dataDir, registry,
      unknownProtocolHint: dmiHint ? (p) => `${driverHint(p)}, ${dmiHint(p)}` : driverHint,
    });
    cleanup.push(() => host.close());
    // A protocol a local driver serves (by name or alias) is never handed to a DMI mapper.
    const localDriver = (protocol: string) => drivers.loaders.find((l) => [l.name, ...(l.aliases ?? [])].some((n) => n.toLowerCase() === protocol.toLowerCase()))?.name;
    // Devices whose protocol a registered KubeEdge DMI mapper serves go to it instead of a driver.
    let reloadForDmi: () => Promise<unknown> = async () => {};
    const dmi = config.dmi.enabled
      ? await (await import('../hub/dmi/manager.ts')).DmiManager.start({
        socket: config.dmi.socket, db: store.database, sink: twin, log: log.child({ component: 'dmi' }), localDriver,
        protocolAdded: () => reloadForDmi().then(() => undefined),
        desired: (device, property) => {
          const p = twin.get(device)?.properties[property];
          return p?.desired ? formatValue(p.type, p.desired.value) : undefined;
        },
        retryMs: config.dmi.retryMs,
      })
      : undefined;
    if (dmi) cleanup.push(() => dmi.close());
    const viaDmi = (d: DeviceSpecResolved) => Boolean(dmi && !localDriver(d.protocol) && dmi.handles(d.protocol));
    const writer: PropertyWriter = {
      serves: (device) => host.serves(device) || (dmi?.serves(device) ?? false),
      write: (device, property, value, signal) => (dmi && !host.serves(device) && dmi.serves(device) ? dmi.write(device, property, value) : host.write(device, property, value, signal)),
    };
    twin.setWriter(writer);

    // Until the device files are loaded and applied, the gateway is up but not ready: the API
    // answers (degraded) so a probe can tell "starting" from "dead".
    let lastLoad: CatalogLoad | undefined;
    const health = new Health()
      .add('store', () => twin.storeProblem)
      .add('devices', () => (lastLoad ? devicesProblem(config.devices, lastLoad) : 'loading the device files'));
    let mqttUrl = config.mqtt.url;
    let inProcess: EmbeddedBroker['aedes'] | undefined;
    let embedded: EmbeddedBroker | undefined;
    // Per-pod tokens (hub/edged/credentials.ts), which the broker and the API accept with a scope.
    const scoped = config.edged.enabled ? new ScopedCredentials([POD_USER_PREFIX]) : undefined;
    let outbox: Outbox | undefined;
    if (!mqttUrl) {
      const broker = await startEmbeddedBroker({ port: config.mqtt.port, settings: config.broker, log, registry, servedLocally: (id) => twin.servedLocally(id), scoped, tlsDir: join(config.dataDir, 'tls') });
      embedded = broker;
      cleanup.push(() => broker.close());
      mqttUrl = broker.url;
      inProcess = broker.aedes;
      health.add('broker', () => (broker.serving ? undefined : `the embedded MQTT broker on ${broker.url} does not accept connections`));
    } else {
      // In the gateway's one database file: what waits for the broker survives a restart.
      outbox = new Outbox({ db: store.database, name: 'mqtt', registry, ...config.mqtt.outbox });
    }
    const history = new PropertyHistory(twin);
    cleanup.push(() => history.close());
    // Created once the cloud link exists: on a joined gateway the cloud's Devices are a second source.
    let catalog: DeviceCatalog | undefined;
    // Set once the devices first loaded; the onboarding routes reload through it.
    let reload: () => Promise<CatalogLoad> = () => Promise.reject(new Error('the gateway is still starting'));
    // Every listener (the broker above, the API here) is bound before any device starts, and before
    // waiting on an external broker: a taken port stops the gateway before it touches a device
    // (no YAML setpoint written by a gateway that then exits).
    let edged: GatewayPods | undefined;
    const api = await startApi({
      twin,
      host: config.api.host,
      port: config.api.port,
      ...apiAuth,
      // Beyond loopback with no api.tls, the self-signed certificate is kept here.
      tlsDir: join(config.dataDir, 'tls'),
      allowedHosts: config.api.allowedHosts,
      log,
      registry,
      health: () => ({
        ...health.report(),
        nodeName: config.nodeName,
        mqtt: redactUrl(mqttUrl),
        devices: catalog?.devices.length ?? 0,
        ...(cloud ? { cloud: cloud.status() } : {}),
        ...(edged ? { pods: edged.pods().length, containerRuntime: edged.runtime().reachable } : {}),
        ...(dmi ? { dmi: { socket: dmi.socket, mappers: dmi.status() } } : {}),
      }),
      pods: () => (edged ? edged.pods().map((p) => ({ ...p, logDirectory: edged!.logDirectory(p.namespace, p.name) })) : undefined),
      extend: async (routes) => {
        await dashboardRoutes({ twin, history, pageDir: dashboardPage(), logs: extras.logs, links: () => host.linkHealth() })(routes);
        onboardingRoutes({ dataDir: config.dataDir, devicesDir, bleBinding: extras.bleBinding, log, reload: () => reload() })(routes);
      },
      scoped,
    });
    cleanup.push(() => api.close());

    // After the listeners: a gateway that cannot serve locally never talks to the cloud either.
    const cloud = edge && identity && config.cloud ? edge.startEdgeLink({ config: config.cloud, dataDir: config.dataDir, twin, log, registry, ...identity }) : undefined;
    if (cloud) {
      cleanup.push(() => cloud.close());
      // Running offline is normal for a gateway: the link shows in /healthz but never degrades it.
      health.add('cloud', () => (cloud.status().connected ? undefined : `not connected to ${cloud.status().endpoint}; working offline`), { degrades: false });
    }

    edged = await startGatewayNode({ config, log, registry, cloud, api, embedded, scoped, health, cleanup });

    const bus = new MqttEventBus({
      twin,
      url: mqttUrl,
      inProcess,
      username: config.mqtt.username,
      password: readPassword(config.mqtt.passwordFile),
      tls: config.mqtt.tls,
      nodeName: config.nodeName,
      log,
      registry,
      outbox,
    });
    await bus.start();
    cleanup.push(() => bus.stop());
    if (outbox) {
      const shown = redactUrl(mqttUrl);
      health.add('mqtt', () => (bus.connected ? undefined : `not connected to the MQTT broker ${shown}; ${bus.waiting} messages wait in the outbox for it`));
    }

    const devices = new DeviceCatalog(
      () => [...config.devices, ...(hasDeviceFiles(devicesDir) ? [devicesDir] : [])],
      async (found) => {
        const checked = await host.check(found.filter((d) => !viaDmi(d)));
        return { accepted: [...checked.accepted, ...found.filter(viaDmi)], errors: checked.errors };
      },
      cloud?.devices,
    );
    catalog = devices;
    const applyLoad = async (load: CatalogLoad) => {
      for (const d of load.devices) {
        if (d.nodeName && d.nodeName !== config.nodeName) {
          log.info({ device: d.id, nodeName: d.nodeName, gateway: config.nodeName }, 'device is bound to another node; a standalone gateway runs it anyway');
        }
      }
      twin.setDevices(load.devices);
      dmi?.apply(load.devices.filter(viaDmi));
      const applied = await host.apply(load.devices.filter((d) => !viaDmi(d)));
      for (const e of applied.errors) log.error({ code: e.code, device: e.where.device }, e.format());
      // The cloud's Devices that failed here are reported up (DeviceStatus, an Event); the rest run.
      cloud?.reportDeviceErrors([...load.errors, ...applied.errors]);
      return applied;
    };
    // One load at a time: a file change, a mapper's registration, or the cloud sending a device.
    let loading: Promise<unknown> = Promise.resolve();
    reload = (): Promise<CatalogLoad> => {
      const next = loading.then(async () => {
        const load = await devices.load();
        lastLoad = load;
        await applyLoad(load);
        return load;
      });
      loading = next.catch(() => undefined);
      return next;
    };
    reloadForDmi = reload;
    // Subscribed before the first load: a device the cloud sends meanwhile is not missed.
    if (cloud) {
      const stop = cloud.devices.onChange(() => {
        void reload().then(
          (load) => {
            const cloudErrors = load.errors.filter((e) => e.where.file?.startsWith(CLOUD_FILE_PREFIX));
            for (const e of cloudErrors) log.error({ code: e.code, device: e.where.device }, e.format());
            log.info({ devices: load.devices.map((d) => d.id), cloudErrors: cloudErrors.length }, 'devices from the cloud applied');
          },
          (err: unknown) => log.error({ err }, 'applying the devices from the cloud failed; the last good devices keep running'),
        );
      });
      cleanup.push(stop);
      cleanup.push(async () => {
        await loading;
      });
    }
    const firstLoad = await reload();

    return {
      config,
      twin,
      host,
      registry,
      apiUrl: api.url,
      mqttUrl: redactUrl(mqttUrl),
      firstLoad,
      cloud,
      dmi,
      devicesDir,
      reload: () => reload(),
      reloadPods() {
        edged?.reload();
      },
      async close() {
        await twin.flush();
        await closeAll();
      },
    };
  } catch (err) {
    await closeAll();
    throw err;
  }
}

/** A device file that failed to load (or was emptied) is a reason: its devices are not what the files say. */
function devicesProblem(paths: string[], load: CatalogLoad): string | undefined {
  // A cloud Device's error is the cluster's to see (DeviceStatus, an Event), not a fault of this gateway.
  const errors = load.errors.filter((e) => !e.where.file?.startsWith(CLOUD_FILE_PREFIX));
  if (errors.length > 0) {
    const first = errors[0]!.format();
    return `${errors.length} error${errors.length > 1 ? 's' : ''} loading the device files (${first}); run \`edgetwin validate\` on them`;
  }
  if (paths.length > 0 && load.devices.length === 0) return `the device files (${paths.join(', ')}) hold no Device`;
  return undefined;
}
