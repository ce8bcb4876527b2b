// `edgetwin run`: start the gateway, report what loaded, reload on file change and SIGHUP,
// shut down cleanly on SIGINT/SIGTERM.

import { createLogger, type Logger } from '../core/log.ts';
import type { EdgetwinError } from '../core/errors.ts';
import { resolveConfig, type ConfigFlags } from './config.ts';
import { startGateway, type Gateway } from './gateway.ts';
import type { CatalogLoad } from './catalog.ts';
import { startLiveView } from './live-view.ts';
import { watchPaths } from './watch.ts';

export async function runCommand(flags: ConfigFlags & { live?: boolean }): Promise<void> {
  const config = resolveConfig(flags);
  const log = createLogger({ level: config.log.level });
  if (config.devices.length === 0) {
    log.warn('no --devices given: the gateway runs with no devices (twin and MQTT only)');
  }
  let gateway: Gateway;
  try {
    gateway = await startGateway(config, log);
  } catch (err) {
    const e = err as EdgetwinError & { code?: string };
    log.fatal({ code: e.code }, e.format?.() ?? e.message);
    process.exitCode = 1;
    return;
  }
  reportLoad(log, gateway.firstLoad);
  log.info({ api: gateway.apiUrl, mqtt: gateway.mqttUrl, dataDir: config.dataDir, nodeName: config.nodeName, devices: gateway.firstLoad.devices.length }, 'edgetwin gateway running');

  let reloading: Promise<void> = Promise.resolve();
  const reload = (why: string) => {
    reloading = reloading.then(async () => {
      log.info({ why }, 'reloading devices');
      try {
        reportLoad(log, await gateway.reload());
      } catch (err) {
        log.error({ err }, 'reload failed; the last good devices keep running');
      }
    });
  };
  const unwatch = config.devices.length > 0 ? watchPaths(config.devices, () => reload('file changed')) : () => {};
  const onHup = () => reload('SIGHUP');
  process.on('SIGHUP', onHup);

  const stopView = startLiveView(gateway.twin, log, flags.live ?? Boolean(process.stdout.isTTY));

  await new Promise<void>((done) => {
    const stop = (signal: string) => {
      log.info({ signal }, 'shutting down');
      done();
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
  stopView();
  unwatch();
  process.off('SIGHUP', onHup);
  await reloading;
  await gateway.close();
  log.info('stopped; store flushed');
  log.flush?.();
}

function reportLoad(log: Logger, load: CatalogLoad): void {
  for (const w of load.warnings) log.warn({ code: w.code, file: w.where.file, line: w.where.line }, w.format());
  for (const e of load.errors) log.error({ code: e.code, file: e.where.file, line: e.where.line }, e.format());
  if (load.kept.length > 0) log.warn({ devices: load.kept }, 'kept the last good version of devices whose new version failed to load');
  log.info({ devices: load.devices.map((d) => d.id), errors: load.errors.length, warnings: load.warnings.length }, 'devices loaded');
}
