// Gateway settings: defaults, then the YAML config file, then flags (flag > file > default).
// File keys mirror the flags (design.md "Names fixed for everyone").

import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, resolve } from 'node:path';
import { Ajv } from 'ajv';
import { LineCounter, parseDocument } from 'yaml';
import { EdgetwinError, ErrorCodes } from '../core/errors.ts';

export interface GatewayConfig {
  devices: string[];
  dataDir: string;
  nodeName: string;
  mqtt: {
    /** External broker URL; absent means the embedded broker on 127.0.0.1:port. */
    url?: string;
    port: number;
    username?: string;
    passwordFile?: string;
    tls?: { ca?: string; cert?: string; key?: string; rejectUnauthorized?: boolean };
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
  log: { level: string };
  /** The pod runtime (docs/edged.md); on with --pods. */
  edged: EdgedSettings;
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
  config?: string;
  dataDir?: string;
  nodeName?: string;
  mqttPort?: number;
  mqttUrl?: string;
  apiPort?: number;
  apiHost?: string;
  apiTokenFile?: string;
  logLevel?: string;
  pods?: string[];
}

export const DEFAULTS = {
  dataDir: './edgetwin-data',
  mqttPort: 1883,
  apiPort: 7180,
  apiHost: '127.0.0.1',
} as const;

const fileSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    devices: { type: 'array', items: { type: 'string' } },
    dataDir: { type: 'string' },
    nodeName: { type: 'string', minLength: 1 },
    mqtt: {
      type: 'object',
      additionalProperties: false,
      properties: {
        url: { type: 'string', pattern: '^(mqtts?|wss?|tcp|ssl)://' },
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
    log: { type: 'object', additionalProperties: false, properties: { level: { enum: ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] } } },
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
      },
    },
  },
} as const;

const validateFile = new Ajv({ allErrors: true }).compile(fileSchema);

type FileConfig = Partial<Omit<GatewayConfig, 'mqtt' | 'api' | 'log' | 'edged'>> & {
  edged?: Partial<EdgedSettings>;
  mqtt?: Partial<GatewayConfig['mqtt']>;
  api?: Partial<GatewayConfig['api']>;
  log?: Partial<GatewayConfig['log']>;
};

/** Read and validate a config file; paths inside it are relative to the file. */
export function readConfigFile(file: string): FileConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new EdgetwinError(ErrorCodes.CONFIG, `cannot read config file: ${(err as Error).message}`, { file }, 'check the --config path');
  }
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    throw new EdgetwinError(ErrorCodes.CONFIG, `invalid YAML: ${e.message.split('\n')[0]}`, { file, line: e.linePos?.[0]?.line });
  }
  const data = (doc.toJS() ?? {}) as FileConfig;
  if (!validateFile(data)) {
    const e = validateFile.errors![0]!;
    const segments = e.instancePath.split('/').filter(Boolean);
    const node = segments.length ? doc.getIn(segments, true) : undefined;
    const range = (node as { range?: [number] } | undefined)?.range;
    const line = range ? lines.linePos(range[0]).line : undefined;
    const path = segments.join('.') || '(top level)';
    const extra = e.keyword === 'additionalProperties' ? ` "${(e.params as { additionalProperty: string }).additionalProperty}"` : '';
    throw new EdgetwinError(ErrorCodes.CONFIG, `${e.message}${extra}`, { file, line, path }, 'see docs/configuration.md for the keys');
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
  if (data.api?.tls) {
    for (const k of ['cert', 'key', 'clientCa'] as const) if (data.api.tls[k]) data.api.tls[k] = rel(data.api.tls[k]);
  }
  return data;
}

export function resolveConfig(flags: ConfigFlags): GatewayConfig {
  const file: FileConfig = flags.config ? readConfigFile(flags.config) : {};
  const devices = flags.devices && flags.devices.length > 0 ? flags.devices : file.devices ?? [];
  return {
    devices,
    dataDir: resolve(flags.dataDir ?? file.dataDir ?? DEFAULTS.dataDir),
    nodeName: flags.nodeName ?? file.nodeName ?? hostname(),
    mqtt: {
      url: flags.mqttUrl ?? (flags.mqttPort === undefined ? file.mqtt?.url : undefined),
      port: flags.mqttPort ?? file.mqtt?.port ?? DEFAULTS.mqttPort,
      username: file.mqtt?.username,
      passwordFile: file.mqtt?.passwordFile,
      tls: file.mqtt?.tls,
    },
    api: {
      port: flags.apiPort ?? file.api?.port ?? DEFAULTS.apiPort,
      host: flags.apiHost ?? file.api?.host ?? DEFAULTS.apiHost,
      tokenFile: flags.apiTokenFile ? resolve(flags.apiTokenFile) : file.api?.tokenFile,
      allowedHosts: file.api?.allowedHosts,
      tls: file.api?.tls,
    },
    log: { level: flags.logLevel ?? file.log?.level ?? process.env.EDGETWIN_LOG_LEVEL ?? 'info' },
    edged: resolveEdged(flags, file),
  };
}

/** The broker password, read from its file at start so it never sits in a config or a log. */
export function readPassword(file: string | undefined): string | undefined {
  if (!file) return undefined;
  try {
    return readFileSync(file, 'utf8').replace(/\r?\n$/, '');
  } catch (err) {
    throw new EdgetwinError(ErrorCodes.CONFIG, `cannot read mqtt.passwordFile: ${(err as Error).message}`, { file });
  }
}

function resolveEdged(flags: ConfigFlags, file: FileConfig): EdgedSettings {
  const pods = flags.pods && flags.pods.length > 0 ? flags.pods.map((p) => resolve(p)) : file.edged?.pods ?? [];
  const e = file.edged ?? {};
  return {
    enabled: e.enabled ?? pods.length > 0,
    pods,
    containerd: e.containerd ?? EDGED_CONFIG_DEFAULTS.containerd,
    cniBinDir: e.cniBinDir ?? EDGED_CONFIG_DEFAULTS.cniBinDir,
    cniConfDir: e.cniConfDir ?? EDGED_CONFIG_DEFAULTS.cniConfDir,
    bridge: e.bridge ?? EDGED_CONFIG_DEFAULTS.bridge,
    podCidr: e.podCidr ?? EDGED_CONFIG_DEFAULTS.podCidr,
    syncIntervalMs: e.syncIntervalMs,
    backoffBaseMs: e.backoffBaseMs,
  };
}
