// Composition root of `edgetwin run`: wires the twin, the mapper host, the MQTT event bus and
// the local API. It owns no logic of its own beyond the order things start and stop in.

import { mkdirSync } from 'node:fs';
import { collectDefaultMetrics, Registry } from 'prom-client';
import type { Logger } from '../core/log.ts';
import { redactUrl, urlHasPassword } from '../core/redact.ts';
import { MapperHost } from '../mappers/sdk/host.ts';
import { startApi } from '../twin/api.ts';
import { startEmbeddedBroker, type EmbeddedBroker } from '../twin/broker.ts';
import { MqttEventBus } from '../twin/eventbus.ts';
import { TwinStore } from '../twin/store.ts';
import { DeviceTwin } from '../twin/twin.ts';
import { loadApiAuth } from './api-auth.ts';
import { DeviceCatalog, type CatalogLoad } from './catalog.ts';
import { readPassword, type GatewayConfig } from './config.ts';
import { driverLoaders } from './drivers.ts';

export interface Gateway {
  readonly config: GatewayConfig;
  readonly twin: DeviceTwin;
  readonly host: MapperHost;
  readonly apiUrl: string;
  /** The broker's URL for display: a password in it is redacted. */
  readonly mqttUrl: string;
  readonly firstLoad: CatalogLoad;
  reload(): Promise<CatalogLoad>;
  /** Re-reads the --pods files (no-op without edged). */
  reloadPods(): void;
  close(): Promise<void>;
}

export async function startGateway(config: GatewayConfig, log: Logger): Promise<Gateway> {
  // Credentials problems stop the start before the data directory or a device is touched.
  const apiAuth = loadApiAuth(config.api, log);
  if (config.mqtt.url && urlHasPassword(config.mqtt.url)) {
    log.warn({ mqtt: redactUrl(config.mqtt.url) }, 'the MQTT URL carries a password, which shell history and process lists show: set mqtt.username and mqtt.passwordFile instead');
  }
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
    const host = new MapperHost({ sink: twin, drivers: driverLoaders, log: log.child({ component: 'mapper' }), dataDir: config.dataDir, registry });
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

    // The pod runtime and its gRPC stack load only when edged is on.
    const edged = config.edged.enabled ? await startPods(config, log, registry) : undefined;
    if (edged) cleanup.push(() => edged.close());

    const api = await startApi({
      twin,
      host: config.api.host,
      port: config.api.port,
      ...apiAuth,
      allowedHosts: config.api.allowedHosts,
      log,
      registry,
      health: () => ({ nodeName: config.nodeName, mqtt: redactUrl(mqttUrl), devices: catalog.devices.length, ...(edged ? { pods: edged.pods().length, containerRuntime: edged.runtime().reachable } : {}) }),
      pods: edged && (() => edged.pods().map((p) => ({ ...p, logDirectory: edged.logDirectory(p.namespace, p.name) }))),
    });
    cleanup.push(() => api.close());

    return {
      config,
      twin,
      host,
      apiUrl: api.url,
      mqttUrl: redactUrl(mqttUrl),
      firstLoad,
      async reload() {
        const load = await catalog.load();
        await applyLoad(load);
        return load;
      },
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

/** Standalone pods from --pods files, run on containerd. */
async function startPods(config: GatewayConfig, log: Logger, registry: Registry) {
  const { startEdged } = await import('../hub/edged/edged.ts');
  const { DirPodSource } = await import('../hub/edged/source.ts');
  const source = new DirPodSource(config.edged.pods);
  const report = () => {
    for (const p of source.reload()) log.warn({ file: p.file, line: p.line }, `${p.file}${p.line ? `:${p.line}` : ''}: ${p.message}`);
    log.info({ pods: source.pods().length }, 'pods loaded');
  };
  report();
  const edged = await startEdged(
    {
      containerd: config.edged.containerd,
      cniBinDir: config.edged.cniBinDir,
      cniConfDir: config.edged.cniConfDir,
      bridge: config.edged.bridge,
      podCidr: config.edged.podCidr,
      dataDir: config.dataDir,
      nodeName: config.nodeName,
      syncIntervalMs: config.edged.syncIntervalMs,
      backoffBaseMs: config.edged.backoffBaseMs,
      registry,
    },
    source,
    log,
  );
  return { ...edged, reload: report };
}
