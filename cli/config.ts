// Gateway settings: defaults, then the YAML config file, then flags (flag > file > default).
// File keys mirror the flags (design.md "Names fixed for everyone").

import { existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, resolve } from 'node:path';
import { EdgetwinError, ErrorCodes, type Where } from '../core/errors.ts';
import { redactUrl } from '../core/redact.ts';
import { BROKER_DEFAULTS, type BrokerSettings } from '../twin/broker/settings.ts';
import { parseConfigFile, mqttUrlProblem } from './config-file.ts';
import { LOG_LEVELS, type CloudFileConfig, type FileConfig } from './config-schema.ts';
import { configError } from './failure.ts';
import { DEFAULT_SUMMARY_INTERVAL_MS } from './log-summary.ts';
import type { CloudLinkConfig } from '../hub/edge.ts';
import type { DriverRef } from './drivers.ts';

export interface GatewayConfig {
  devices: string[];
  /** Driver packages or paths beyond the built-in drivers: the config file's, then --driver's (none when absent). */
  drivers?: DriverRef[];
  dataDir: string;
  /** How often to retry the store after it refused a write (a full disk), in ms. */
  storeRetryMs: number;
  flushWindowMs: number;
  nodeName: string;
  /** True when --node-name or the file named the node (with a cloud link it must match the certificate). */
  nodeNameGiven: boolean;
  /** The cloud link (`run --cloud`); absent for a standalone gateway. */
  cloud?: CloudLinkConfig;
  mqtt: {
    /** External broker URL; absent means the embedded broker on 127.0.0.1:port. */
    url?: string;
    port: number;
    username?: string;
    passwordFile?: string;
    tls?: { ca?: string; cert?: string; key?: string; rejectUnauthorized?: boolean };
    /** Bounds of what an external broker's outage may keep for later (entries, payload bytes). */
    outbox?: { maxEntries?: number; maxBytes?: number };
  };
  api: {
    port: number;
    host: string;
    /** Bearer token file; required (or tls.clientCa) when host is not loopback. */
    tokenFile?: string;
    /** Host header values accepted besides the loopback names (DNS rebinding guard). */
    allowedHosts?: string[];
    tls?: { cert?: string; key?: string; clientCa?: string };
  };
  /** The embedded broker (used when mqtt.url is absent); see docs/configuration.md. */
  broker: BrokerSettings;
  /** summaryIntervalMs: the info line with reads and errors per protocol; 0 turns it off. */
  log: { level: string; summaryIntervalMs: number };
  /** The pod runtime (docs/edged.md); on with --pods. */
  edged: EdgedSettings;
  /** KubeEdge DMI DeviceManagerService for mappers in other processes (docs/mapper-guide.md). */
  dmi: DmiSettings;
}

export interface DmiSettings {
  enabled: boolean;
  /** The unix socket DeviceManagerService listens on; default {dataDir}/dmi.sock. */
  socket: string;
  /** Delay before a mapper that did not answer is dialled again, ms (tests lower it). */
  retryMs?: number;
}

export interface EdgedSettings {
  enabled: boolean;
  /** Pod, ConfigMap and Secret YAML files or folders of a standalone gateway (`--pods`). */
  pods: string[];
  containerd: string;
  cniBinDir: string;
  cniConfDir: string;
  bridge: string;
  podCidr: string;
  /** How often pods are checked again without a change, ms (tuning; tests lower it). */
  syncIntervalMs?: number;
  /** First CrashLoopBackOff / ImagePullBackOff delay, ms (Kubernetes: 10 s). */
  backoffBaseMs?: number;
  /** How often to look for the pod bridge's address to listen on, ms (tuning; default 1000). */
  bridgeCheckMs?: number;
}

export const EDGED_CONFIG_DEFAULTS = {
  containerd: 'unix:///run/containerd/containerd.sock',
  cniBinDir: '/usr/lib/cni',
  cniConfDir: '/etc/cni/net.d',
  bridge: 'edgetwin0',
  podCidr: '10.88.0.0/16',
} as const;

export interface ConfigFlags {
  devices?: string[];
  /** --driver, repeatable: adds to the config file's `drivers:`. */
  drivers?: string[];
  config?: string;
  dataDir?: string;
  nodeName?: string;
  mqttPort?: number;
  mqttUrl?: string;
  apiPort?: number;
  apiHost?: string;
  apiTokenFile?: string;
  brokerHost?: string;
  logLevel?: string;
  cloud?: string;
  pods?: string[];
  /** --dmi-socket: serve the DMI there (turns it on). */
  dmiSocket?: string;
}

export { closest, readConfigFile } from './config-file.ts';
export { LOG_LEVELS, MQTT_SCHEMES } from './config-schema.ts';

export const DEFAULTS = {
  dataDir: './edgetwin-data',
  mqttPort: 1883,
  apiPort: 7180,
  apiHost: '127.0.0.1',
  storeRetryMs: 5000,
  flushWindowMs: 5,
  cloud: { projectId: 'e632aba927ea4ac2b575ec1603d56f10', qps: 100, burst: 200, heartbeat: 15, reconnectFirst: 1, reconnectMax: 30, resend: 30, nodeStatusUpdate: 10, nodeStatusReport: 300, nodeLease: 10 },
} as const;

export interface ResolveOptions {
  /** Refuse --devices paths (or the file's devices) that do not exist: `run` must not start with 0 devices by mistake. */
  requireDevicePaths?: boolean;
}

export function resolveConfig(flags: ConfigFlags, opts: ResolveOptions = {}): GatewayConfig {
  const parsed = flags.config ? parseConfigFile(flags.config) : undefined;
  const file: FileConfig = parsed?.data ?? {};
  const fromFlags = Boolean(flags.devices && flags.devices.length > 0);
  const devices = fromFlags ? flags.devices! : file.devices ?? [];
  if (opts.requireDevicePaths) {
    const where: Where = fromFlags ? { flag: '--devices' } : { file: flags.config, line: parsed?.lineOf(['devices']) };
    for (const path of devices) {
      if (!existsSync(path)) {
        throw configError(`the devices path ${path} does not exist`, where, 'name an existing Device/DeviceModel file or folder (relative paths start from the current directory)');
      }
    }
  }
  if (flags.mqttUrl !== undefined) {
    const problem = mqttUrlProblem(flags.mqttUrl);
    if (problem) throw configError(`the MQTT URL ${problem.what}`, { flag: '--mqtt-url' }, problem.hint);
  }
  // A package name in the file resolves from the file's folder, as its paths do; a flag's from here.
  const configFile = flags.config ? resolve(flags.config) : undefined;
  const drivers: DriverRef[] = [
    ...(file.drivers ?? []).map((spec) => ({ spec, base: dirname(configFile!), via: configFile! })),
    ...(flags.drivers ?? []).map((spec) => ({ spec, base: process.cwd(), via: '--driver' })),
  ];
  const dataDir = resolve(flags.dataDir ?? file.dataDir ?? DEFAULTS.dataDir);
  return {
    devices,
    drivers,
    dataDir,
    storeRetryMs: file.storeRetryMs ?? DEFAULTS.storeRetryMs,
    flushWindowMs: file.flushWindowMs ?? DEFAULTS.flushWindowMs,
    nodeName: flags.nodeName ?? file.nodeName ?? hostname(),
    nodeNameGiven: (flags.nodeName ?? file.nodeName) !== undefined,
    cloud: cloudConfig(flags.cloud, file.cloud, { file: flags.config, line: parsed?.lineOf(['cloud', 'url']) }),
    mqtt: {
      url: flags.mqttUrl ?? (flags.mqttPort === undefined ? file.mqtt?.url : undefined),
      port: flags.mqttPort ?? file.mqtt?.port ?? DEFAULTS.mqttPort,
      username: file.mqtt?.username,
      passwordFile: file.mqtt?.passwordFile,
      tls: file.mqtt?.tls,
      outbox: file.mqtt?.outbox,
    },
    api: {
      port: flags.apiPort ?? file.api?.port ?? DEFAULTS.apiPort,
      host: flags.apiHost ?? file.api?.host ?? DEFAULTS.apiHost,
      tokenFile: flags.apiTokenFile ? resolve(flags.apiTokenFile) : file.api?.tokenFile,
      allowedHosts: file.api?.allowedHosts,
      tls: file.api?.tls,
    },
    broker: { ...BROKER_DEFAULTS, ...file.broker, ...(flags.brokerHost ? { host: flags.brokerHost } : {}) },
    log: { level: logLevel(flags.logLevel, file.log?.level), summaryIntervalMs: file.log?.summaryIntervalMs ?? DEFAULT_SUMMARY_INTERVAL_MS },
    edged: resolveEdged(flags, file),
    dmi: {
      enabled: flags.dmiSocket !== undefined || (file.dmi?.enabled ?? false),
      socket: flags.dmiSocket ? resolve(flags.dmiSocket) : file.dmi?.socket ?? resolve(dataDir, 'dmi.sock'),
      retryMs: file.dmi?.retryMs,
    },
  };
}

function logLevel(flag: string | undefined, fromFile: string | undefined): string {
  const levels = LOG_LEVELS.join(', ');
  if (flag !== undefined) {
    if (!(LOG_LEVELS as readonly string[]).includes(flag)) throw configError(`unknown log level "${flag}"`, { flag: '--log-level' }, `use one of ${levels}`);
    return flag;
  }
  if (fromFile !== undefined) return fromFile;
  const env = process.env.EDGETWIN_LOG_LEVEL;
  if (env !== undefined && env !== '') {
    if (!(LOG_LEVELS as readonly string[]).includes(env)) {
      throw configError(`unknown log level "${env}"`, { flag: 'environment variable EDGETWIN_LOG_LEVEL' }, `use one of ${levels}, or unset it`);
    }
    return env;
  }
  return 'info';
}

/** The cloud link, when --cloud or cloud.url names CloudHub. Intervals are seconds in the file, ms inside. */
function cloudConfig(flag: string | undefined, file: CloudFileConfig | undefined, fileWhere: Where): CloudLinkConfig | undefined {
  const url = flag ?? file?.url;
  if (!url) return undefined;
  if (!/^wss:\/\/[^/]+/.test(url)) {
    const where: Where = flag !== undefined ? { flag: '--cloud' } : { ...fileWhere, path: 'cloud.url' };
    throw configError(`"${redactUrl(url)}" is not a wss:// URL`, where, 'for example --cloud wss://cloud.example.com:10000');
  }
  const d = DEFAULTS.cloud;
  const ms = (s: number) => Math.round(s * 1000);
  return {
    url,
    projectId: file?.projectId ?? d.projectId,
    qps: file?.qps ?? d.qps,
    burst: file?.burst ?? d.burst,
    heartbeatMs: ms(file?.heartbeat ?? d.heartbeat),
    resendMs: ms(file?.resend ?? d.resend),
    reconnect: { firstMs: ms(file?.reconnect?.first ?? d.reconnectFirst), maxMs: ms(file?.reconnect?.max ?? d.reconnectMax) },
    serviceBus: { allowedPorts: file?.serviceBus?.allowedPorts ?? [] },
    node: {
      statusMs: ms(file?.node?.statusUpdate ?? d.nodeStatusUpdate),
      reportMs: ms(file?.node?.statusReport ?? d.nodeStatusReport),
      leaseMs: ms(file?.node?.lease ?? d.nodeLease),
    },
  };
}

/** The broker password, read from its file at start so it never sits in a config or a log. */
export function readPassword(file: string | undefined): string | undefined {
  if (!file) return undefined;
  try {
    return readFileSync(file, 'utf8').replace(/\r?\n$/, '');
  } catch (err) {
    throw new EdgetwinError(ErrorCodes.CONFIG, `cannot read mqtt.passwordFile: ${(err as Error).message}`, { file }, 'check the path of mqtt.passwordFile (relative to the config file) and that this user may read it');
  }
}

function resolveEdged(flags: ConfigFlags, file: FileConfig): EdgedSettings {
  const pods = flags.pods && flags.pods.length > 0 ? flags.pods.map((p) => resolve(p)) : file.edged?.pods ?? [];
  const e = file.edged ?? {};
  return {
    // A cloud-linked gateway runs the pods the cloud assigns it (containerd missing is only a warning).
    enabled: e.enabled ?? (pods.length > 0 || Boolean(flags.cloud ?? file.cloud?.url)),
    pods,
    containerd: e.containerd ?? EDGED_CONFIG_DEFAULTS.containerd,
    cniBinDir: e.cniBinDir ?? EDGED_CONFIG_DEFAULTS.cniBinDir,
    cniConfDir: e.cniConfDir ?? EDGED_CONFIG_DEFAULTS.cniConfDir,
    bridge: e.bridge ?? EDGED_CONFIG_DEFAULTS.bridge,
    podCidr: e.podCidr ?? EDGED_CONFIG_DEFAULTS.podCidr,
    syncIntervalMs: e.syncIntervalMs,
    backoffBaseMs: e.backoffBaseMs,
    bridgeCheckMs: e.bridgeCheckMs,
  };
}
