// Composition root of `edgetwin run`: wires the twin, the mapper host, the MQTT event bus and
// the local API. It owns no logic of its own beyond the order things start and stop in.

import { mkdirSync } from 'node:fs';
import { collectDefaultMetrics, Registry } from 'prom-client';
import type { Logger } from '../core/log.ts';
import type { EdgeLink } from '../hub/edge.ts';
import { MapperHost } from '../mappers/sdk/host.ts';
import { startApi } from '../twin/api.ts';
import { startEmbeddedBroker, type EmbeddedBroker } from '../twin/broker.ts';
import { MqttEventBus } from '../twin/eventbus.ts';
import { TwinStore } from '../twin/store.ts';
import { DeviceTwin } from '../twin/twin.ts';
import { DeviceCatalog, type CatalogLoad } from './catalog.ts';
import { readPassword, type GatewayConfig } from './config.ts';
import { driverLoaders } from './drivers.ts';

export interface Gateway {
  readonly config: GatewayConfig;
  readonly twin: DeviceTwin;
  readonly host: MapperHost;
  readonly apiUrl: string;
  readonly mqttUrl: string;
  readonly firstLoad: CatalogLoad;
  /** The cloud link, when `--cloud` configured one. */
  readonly cloud?: EdgeLink;
  reload(): Promise<CatalogLoad>;
  close(): Promise<void>;
}

export async function startGateway(config: GatewayConfig, log: Logger): Promise<Gateway> {
  mkdirSync(config.dataDir, { recursive: true });
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
    // The cloud link's code (ws, X.509) loads only when configured: a standalone gateway never pays for it.
    const edge = config.cloud ? await import('../hub/edge.ts') : undefined;
    const identity = edge?.nodeIdentity(config.dataDir, config.nodeNameGiven ? config.nodeName : undefined);
    if (identity) config = { ...config, nodeName: identity.nodeName };
    const store = TwinStore.open(config.dataDir);
    cleanup.push(() => store.close());
    const twin = new DeviceTwin({ store, log: log.child({ component: 'twin' }), nodeName: config.nodeName, registry });
    cleanup.push(() => twin.close());
    const host = new MapperHost({ sink: twin, drivers: driverLoaders, log: log.child({ component: 'mapper' }), dataDir: config.dataDir, registry });
    cleanup.push(() => host.close());
    twin.setWriter(host);
    const cloud = edge && identity && config.cloud ? edge.startEdgeLink({ config: config.cloud, dataDir: config.dataDir, twin, log, registry, ...identity }) : undefined;
    if (cloud) cleanup.push(() => cloud.close());

    let mqttUrl = config.mqtt.url;
    let inProcess: EmbeddedBroker['aedes'] | undefined;
    if (!mqttUrl) {
      const broker = await startEmbeddedBroker({ host: '127.0.0.1', port: config.mqtt.port, log });
      cleanup.push(() => broker.close());
      mqttUrl = broker.url;
      inProcess = broker.aedes;
    }
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
    });
    await bus.start();
    cleanup.push(() => bus.stop());

    const catalog = new DeviceCatalog(config.devices, (devices) => host.check(devices));
    const applyLoad = async (load: CatalogLoad) => {
      for (const d of load.devices) {
        if (d.nodeName && d.nodeName !== config.nodeName) {
          log.info({ device: d.id, nodeName: d.nodeName, gateway: config.nodeName }, 'device is bound to another node; a standalone gateway runs it anyway');
        }
      }
      twin.setDevices(load.devices);
      const applied = await host.apply(load.devices);
      for (const e of applied.errors) log.error({ code: e.code, device: e.where.device }, e.format());
      return applied;
    };
    const firstLoad = await catalog.load();
    await applyLoad(firstLoad);

    const api = await startApi({
      twin,
      host: config.api.host,
      port: config.api.port,
      log,
      registry,
      health: () => ({ nodeName: config.nodeName, mqtt: mqttUrl, devices: catalog.devices.length, ...(cloud ? { cloud: cloud.status() } : {}) }),
    });
    cleanup.push(() => api.close());

    return {
      config,
      twin,
      host,
      apiUrl: api.url,
      mqttUrl,
      firstLoad,
      cloud,
      async reload() {
        const load = await catalog.load();
        await applyLoad(load);
        return load;
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
