// `edgetwin run`: start the gateway, report what loaded, reload on file change and SIGHUP,
// shut down cleanly on SIGINT/SIGTERM.

import { createWriteStream, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../core/log.ts';
import { LogRing } from '../core/log-ring.ts';
import { redactText } from '../core/redact.ts';
import { resolveConfig, type ConfigFlags, type GatewayConfig } from './config.ts';
import { configError, exitCodeOf, formatFailure } from './failure.ts';
import { EdgetwinError } from '../core/errors.ts';
import { startGateway, type Gateway } from './gateway.ts';
import type { CatalogLoad } from './catalog.ts';
import { startLiveView } from './live-view.ts';
import { startLogSummary } from './log-summary.ts';
import { watchPaths } from './watch.ts';

export async function runCommand(flags: ConfigFlags & { live?: boolean; bleBinding?: string }): Promise<void> {
  let config: GatewayConfig;
  try {
    config = resolveConfig(flags, { requireDevicePaths: true });
  } catch (err) {
    fail(err);
    return;
  }
  const live = flags.live ?? Boolean(process.stdout.isTTY);
  // The live table owns the terminal, so the log goes to a file beside the store; warnings and
  // errors also stay on screen under the table.
  const problems: string[] = [];
  // The last warnings and errors, for the dashboard.
  const logs = new LogRing();
  let logFile: string | undefined;
  let log: Logger;
  if (live) {
    logFile = join(config.dataDir, 'edgetwin.log');
    try {
      mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
    } catch (err) {
      fail(configError(`cannot create the data directory: ${(err as Error).message}`, { flag: '--data-dir' }, 'pick a directory this user may write, with --data-dir or dataDir'));
      return;
    }
    log = createLogger({ level: config.log.level, destination: teeProblems(logFile, problems), ring: logs });
  } else {
    log = createLogger({ level: config.log.level, ring: logs });
  }
  if (config.devices.length === 0) {
    log.warn('no --devices given: the gateway runs with no devices (twin and MQTT only)');
  }
  let gateway: Gateway;
  try {
    gateway = await startGateway(config, log, { logs, bleBinding: flags.bleBinding });
  } catch (err) {
    // The log file (live mode) keeps the reason too; the terminal gets the formatted one.
    if (live) log.fatal({ code: (err as { code?: string }).code }, redactText((err as Error).message));
    // A failure that is not a user's mistake keeps its stack for --log-level debug.
    if (!(err instanceof EdgetwinError)) log.debug({ err }, 'start failed');
    log.flush?.();
    fail(err);
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
  // devices.d is always watched: the dashboard adds proposals there, a person may drop files in.
  const unwatch = watchPaths([...config.devices, gateway.devicesDir], () => reload('file changed'));
  const unwatchPods = config.edged.pods.length > 0 ? watchPaths(config.edged.pods, () => gateway.reloadPods()) : () => {};
  const onHup = () => {
    reload('SIGHUP');
    gateway.reloadPods();
  };
  process.on('SIGHUP', onHup);

  const stopView = startLiveView(gateway.twin, log, {
    live,
    footer: () => [
      `API ${gateway.apiUrl}   MQTT ${gateway.mqttUrl}   log ${logFile}   Ctrl-C stops`,
      ...problems.slice(-6),
    ],
  });

  const stopSummary = startLogSummary({ twin: gateway.twin, registry: gateway.registry, log, intervalMs: config.log.summaryIntervalMs });

  await new Promise<void>((done) => {
    const stop = (signal: string) => {
      log.info({ signal }, 'shutting down');
      done();
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
  stopView();
  stopSummary();
  unwatch();
  unwatchPods();
  process.off('SIGHUP', onHup);
  await reloading;
  await gateway.close();
  log.info('stopped; store flushed');
  log.flush?.();
}

/** Ends `run` with what failed, where and a hint; never a stack trace. */
function fail(err: unknown): void {
  process.stderr.write(redactText(formatFailure(err)));
  process.exitCode = exitCodeOf(err);
}

function reportLoad(log: Logger, load: CatalogLoad): void {
  for (const w of load.warnings) log.warn({ code: w.code, file: w.where.file, line: w.where.line }, w.format());
  for (const e of load.errors) log.error({ code: e.code, file: e.where.file, line: e.where.line }, e.format());
  if (load.kept.length > 0) log.warn({ devices: load.kept }, 'kept the last good version of devices whose new version failed to load');
  log.info({ devices: load.devices.map((d) => d.id), errors: load.errors.length, warnings: load.warnings.length }, 'devices loaded');
}

/** A log destination that appends to a file and keeps the last warnings and errors for the screen. */
function teeProblems(file: string, problems: string[]): Writable {
  const sink = createWriteStream(file, { flags: 'a' });
  return new Writable({
    write(chunk: Buffer, _enc, done) {
      sink.write(chunk);
      for (const line of chunk.toString('utf8').split('\n')) {
        if (!line) continue;
        try {
          const entry = JSON.parse(line) as { level: number; msg?: string };
          if (entry.level >= 40) {
            problems.push(`${entry.level >= 50 ? 'error' : 'warning'}: ${entry.msg ?? ''}`);
            if (problems.length > 50) problems.shift();
          }
        } catch {
          // Not a log line of ours; the file keeps it.
        }
      }
      done();
    },
  });
}
