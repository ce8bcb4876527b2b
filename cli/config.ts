// Gateway settings: defaults, then the YAML config file, then flags (flag > file > default).
// File keys mirror the flags (design.md "Names fixed for everyone").

import { existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, resolve } from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { EdgetwinError, ErrorCodes, type Where } from '../core/errors.ts';
import { redactUrl } from '../core/redact.ts';
import { compileSchema, dottedPath, type FromSchema } from '../core/schema.ts';
import { BROKER_DEFAULTS, type BrokerSettings } from '../twin/broker/settings.ts';
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

export const DEFAULTS = {
  dataDir: './edgetwin-data',
  mqttPort: 1883,
  apiPort: 7180,
  apiHost: '127.0.0.1',
  storeRetryMs: 5000,
  cloud: { projectId: 'e632aba927ea4ac2b575ec1603d56f10', qps: 100, burst: 200, heartbeat: 15, reconnectFirst: 1, reconnectMax: 30, resend: 30, nodeStatusUpdate: 10, nodeStatusReport: 300, nodeLease: 10 },
} as const;

const seconds = { type: 'number', exclusiveMinimum: 0 } as const;

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
/** What the MQTT client (mqtt.js) connects with; anything else would be retried forever. */
export const MQTT_SCHEMES = ['mqtt', 'mqtts', 'tcp', 'ssl', 'ws', 'wss'] as const;
const DOCS = 'docs/configuration.md';

const fileSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    devices: { type: 'array', items: { type: 'string' } },
    drivers: { type: 'array', items: { type: 'string', minLength: 1 } },
    dataDir: { type: 'string' },
    storeRetryMs: { type: 'integer', minimum: 10 },
    nodeName: { type: 'string', minLength: 1 },
    mqtt: {
      type: 'object',
      additionalProperties: false,
      properties: {
        url: { type: 'string' },
        port: { type: 'integer', minimum: 1, maximum: 65535 },
        username: { type: 'string' },
        passwordFile: { type: 'string' },
        tls: {
          type: 'object',
          additionalProperties: false,
          properties: {
            ca: { type: 'string' },
            cert: { type: 'string' },
            key: { type: 'string' },
            rejectUnauthorized: { type: 'boolean' },
          },
        },
        outbox: {
          type: 'object',
          additionalProperties: false,
          properties: { maxEntries: { type: 'integer', minimum: 1 }, maxBytes: { type: 'integer', minimum: 1024 } },
        },
      },
    },
    api: {
      type: 'object',
      additionalProperties: false,
      properties: {
        port: { type: 'integer', minimum: 0, maximum: 65535 },
        host: { type: 'string', minLength: 1 },
        tokenFile: { type: 'string' },
        allowedHosts: { type: 'array', items: { type: 'string', minLength: 1 } },
        tls: {
          type: 'object',
          additionalProperties: false,
          properties: { cert: { type: 'string' }, key: { type: 'string' }, clientCa: { type: 'string' } },
        },
      },
    },
    broker: {
      type: 'object',
      additionalProperties: false,
      properties: {
        host: { type: 'string', minLength: 1 },
        maxPacketBytes: { type: 'integer', minimum: 64, maximum: 268435455 },
        maxQueueBytes: { type: 'integer', minimum: 1024 },
        maxQueueMessages: { type: 'integer', minimum: 1 },
        maxRetained: { type: 'integer', minimum: 0 },
        maxRetainedBytes: { type: 'integer', minimum: 0 },
        passwordFile: { type: 'string' },
        aclFile: { type: 'string' },
        mapperUsers: { type: 'array', items: { type: 'string', minLength: 1 } },
        tls: {
          type: 'object',
          additionalProperties: false,
          properties: { cert: { type: 'string' }, key: { type: 'string' }, ca: { type: 'string' }, requireClientCert: { type: 'boolean' } },
        },
      },
    },
    cloud: {
      type: 'object',
      additionalProperties: false,
      properties: {
        url: { type: 'string', pattern: '^wss://' },
        projectId: { type: 'string', minLength: 1 },
        qps: { type: 'number', exclusiveMinimum: 0 },
        burst: { type: 'integer', minimum: 1 },
        heartbeat: seconds,
        resend: seconds,
        reconnect: { type: 'object', additionalProperties: false, properties: { first: seconds, max: seconds } },
        node: { type: 'object', additionalProperties: false, properties: { statusUpdate: seconds, statusReport: seconds, lease: seconds } },
        serviceBus: {
          type: 'object',
          additionalProperties: false,
          properties: { allowedPorts: { type: 'array', items: { type: 'integer', minimum: 1, maximum: 65535 } } },
        },
      },
    },
    log: { type: 'object', additionalProperties: false, properties: { level: { enum: LOG_LEVELS }, summaryIntervalMs: { type: 'integer', minimum: 0 } } },
    edged: {
      type: 'object',
      additionalProperties: false,
      properties: {
        enabled: { type: 'boolean' },
        pods: { type: 'array', items: { type: 'string' } },
        containerd: { type: 'string', pattern: '^(unix://)?/' },
        cniBinDir: { type: 'string', minLength: 1 },
        cniConfDir: { type: 'string', minLength: 1 },
        bridge: { type: 'string', pattern: '^[A-Za-z0-9_.-]{1,15}$' },
        podCidr: { type: 'string', pattern: '^\\d{1,3}(\\.\\d{1,3}){3}/\\d{1,2}$' },
        syncIntervalMs: { type: 'integer', minimum: 50 },
        backoffBaseMs: { type: 'integer', minimum: 10 },
        bridgeCheckMs: { type: 'integer', minimum: 50 },
      },
    },
    dmi: {
      type: 'object',
      additionalProperties: false,
      properties: {
        enabled: { type: 'boolean' },
        socket: { type: 'string', minLength: 1 },
        retryMs: { type: 'integer', minimum: 10 },
      },
    },
  },
} as const;

/** The config file as written: its type is the schema's, so the two cannot drift apart. */
type FileConfig = FromSchema<typeof fileSchema>;
type CloudFileConfig = NonNullable<FileConfig['cloud']>;

const fileValidator = compileSchema<FileConfig>(fileSchema);

interface ParsedFile {
  data: FileConfig;
  /** The line of a key in the file, e.g. ['mqtt', 'url']; undefined when absent. */
  lineOf(path: string[]): number | undefined;
}

/** Read and validate a config file; paths inside it are relative to the file. */
export function readConfigFile(file: string): FileConfig & { file: string } {
  return { ...parseConfigFile(file).data, file: resolve(file) };
}

function parseConfigFile(file: string): ParsedFile {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const what = e.code === 'ENOENT' ? 'the config file does not exist' : `cannot read config file: ${e.message}`;
    throw configError(what, { file, flag: '--config' }, 'check the --config path (relative paths start from the current directory)');
  }
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    throw configError(`invalid YAML: ${e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')}`, { file, line: e.linePos?.[0]?.line },
      'fix the YAML at that line: indentation, a missing colon, or an unclosed quote or bracket');
  }
  const lineOf = (path: string[]): number | undefined => {
    const node = path.length ? doc.getIn(path, true) : doc.contents;
    const range = (node as { range?: [number] } | null | undefined)?.range;
    return range ? lines.linePos(range[0]).line : undefined;
  };
  const keyLine = (parent: string[], key: string): number | undefined => {
    const map = parent.length ? doc.getIn(parent, true) : doc.contents;
    const items = (map as { items?: { key?: { value?: unknown; range?: [number] } }[] } | null)?.items ?? [];
    const range = items.find((i) => i.key?.value === key)?.key?.range;
    return range ? lines.linePos(range[0]).line : lineOf(parent);
  };
  const raw: unknown = doc.toJS() ?? {};
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw configError('the config file is not a map of keys', { file, line: 1 }, `write keys such as "api:" and "mqtt:" at the top level; see ${DOCS}`);
  }
  const checked = fileValidator.check(raw);
  if (!checked.ok) {
    const problem = checked.problems[0]!;
    if (problem.unknownKey !== undefined) {
      const parent = problem.path.slice(0, -1).map(String);
      const full = [...parent, problem.unknownKey].join('.');
      const near = closest(full, KNOWN_KEYS);
      throw configError(`unknown config key "${full}"`, { file, line: keyLine(parent, problem.unknownKey) },
        `${near ? `did you mean "${near}"? ` : ''}the keys are listed in ${DOCS}`);
    }
    const path = dottedPath(problem.path) || '(top level)';
    throw configError(`${path}: ${problem.message}`, { file, line: lineOf(problem.path.map(String)) }, `see ${path.replace(/\[\d+\]/g, '')} in ${DOCS}`);
  }
  const data = checked.value;
  if (data.mqtt?.url !== undefined) {
    const problem = mqttUrlProblem(data.mqtt.url);
    if (problem) throw configError(`mqtt.url ${problem.what}`, { file, line: lineOf(['mqtt', 'url']) }, problem.hint);
  }
  const base = dirname(resolve(file));
  const rel = (p: string | undefined) => (p === undefined ? undefined : resolve(base, p));
  if (data.devices) data.devices = data.devices.map((d) => rel(d)!);
  if (data.dataDir) data.dataDir = rel(data.dataDir);
  if (data.mqtt?.passwordFile) data.mqtt.passwordFile = rel(data.mqtt.passwordFile);
  if (data.mqtt?.tls) {
    for (const k of ['ca', 'cert', 'key'] as const) if (data.mqtt.tls[k]) data.mqtt.tls[k] = rel(data.mqtt.tls[k]);
  }
  if (data.api?.tokenFile) data.api.tokenFile = rel(data.api.tokenFile);
  if (data.edged?.pods) data.edged.pods = data.edged.pods.map((d) => rel(d)!);
  if (data.dmi?.socket) data.dmi.socket = rel(data.dmi.socket);
  if (data.api?.tls) {
    for (const k of ['cert', 'key', 'clientCa'] as const) if (data.api.tls[k]) data.api.tls[k] = rel(data.api.tls[k]);
  }
  if (data.broker) {
    for (const k of ['passwordFile', 'aclFile'] as const) if (data.broker[k]) data.broker[k] = rel(data.broker[k]);
    const tls = data.broker.tls;
    if (tls) for (const k of ['ca', 'cert', 'key'] as const) if (tls[k]) tls[k] = rel(tls[k]);
  }
  return { data, lineOf };
}

/** Every key the file accepts, dotted (mqtt.tls.ca), for "did you mean". */
const KNOWN_KEYS: string[] = (function keysOf(schema: { properties?: Record<string, unknown> }, prefix: string): string[] {
  return Object.entries(schema.properties ?? {}).flatMap(([k, v]) => [prefix + k, ...keysOf(v as { properties?: Record<string, unknown> }, `${prefix}${k}.`)]);
})(fileSchema, '');

/** The known key nearest by edit distance, when near enough to be a typo. */
export function closest(word: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const k of known) {
    const d = editDistance(word.toLowerCase(), k.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [k, d];
  }
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[b.length]!;
}

/** Why an MQTT URL cannot work, or undefined when it can. */
function mqttUrlProblem(url: string): { what: string; hint: string } | undefined {
  const schemes = MQTT_SCHEMES.map((s) => `${s}://`).join(', ');
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return { what: 'is not a URL', hint: `write it as mqtt://host:port; accepted schemes: ${schemes}` };
  }
  const scheme = parsed.protocol.replace(/:$/, '');
  if (!(MQTT_SCHEMES as readonly string[]).includes(scheme)) {
    return { what: `has the unknown scheme "${scheme}://"`, hint: `accepted schemes: ${schemes}` };
  }
  if (!parsed.hostname) return { what: 'names no host', hint: 'write it as mqtt://host:port' };
  return undefined;
}

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
