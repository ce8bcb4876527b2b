// Composition root of `edgetwin run`: wires the twin, the mapper host, the MQTT event bus and
// the local API. It owns no logic of its own beyond the order things start and stop in.

import { mkdirSync } from 'node:fs';
import { collectDefaultMetrics, Registry } from 'prom-client';
import type { Logger } from '../core/log.ts';
import { MapperHost } from '../mappers/sdk/host.ts';
import { startApi } from '../twin/api.ts';
import { startEmbeddedBroker, type EmbeddedBroker } from '../twin/broker.ts';
import { MqttEventBus } from '../twin/eventbus.ts';
import { TwinStore } from '../twin/store.ts';
import { DeviceTwin } from '../twin/twin.ts';
import { DeviceCatalog, type CatalogLoad } from './catalog.ts';
import { readPassword, type GatewayConfig } from './config.ts';
import { loadDrivers, unknownProtocolHint } from './drivers.ts';

export interface Gateway {
  readonly config: GatewayConfig;
  readonly twin: DeviceTwin;
  readonly host: MapperHost;
  readonly apiUrl: string;
  readonly mqttUrl: string;
  readonly firstLoad: CatalogLoad;
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
    const store = TwinStore.open(config.dataDir);
    cleanup.push(() => store.close());
    const twin = new DeviceTwin({ store, log: log.child({ component: 'twin' }), nodeName: config.nodeName, registry });
    cleanup.push(() => twin.close());
    // A driver package that fails to load is logged and left out; devices of other protocols run.
    const drivers = await loadDrivers(config.drivers);
    for (const e of drivers.errors) log.error({ code: e.code }, e.format());
    const host = new MapperHost({
      sink: twin, drivers: drivers.loaders, log: log.child({ component: 'mapper' }), dataDir: config.dataDir, registry,
      unknownProtocolHint: unknownProtocolHint(drivers.loaders),
    });
    cleanup.push(() => host.close());
    twin.setWriter(host);

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
      health: () => ({ nodeName: config.nodeName, mqtt: mqttUrl, devices: catalog.devices.length }),
    });
    cleanup.push(() => api.close());

    return {
      config,
      twin,
      host,
      apiUrl: api.url,
      mqttUrl,
      firstLoad,
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
