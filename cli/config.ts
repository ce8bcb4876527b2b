// Gateway settings: defaults, then the YAML config file, then flags (flag > file > default).
// File keys mirror the flags (design.md "Names fixed for everyone").

import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, resolve } from 'node:path';
import { Ajv } from 'ajv';
import { LineCounter, parseDocument } from 'yaml';
import { EdgetwinError, ErrorCodes } from '../core/errors.ts';
import type { DriverRef } from './drivers.ts';

export interface GatewayConfig {
  devices: string[];
  /** Driver packages or paths beyond the built-in drivers: the config file's, then --driver's (none when absent). */
  drivers?: DriverRef[];
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
  api: { port: number; host: string };
  log: { level: string };
}

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
  logLevel?: string;
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
    drivers: { type: 'array', items: { type: 'string', minLength: 1 } },
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
      properties: { port: { type: 'integer', minimum: 0, maximum: 65535 }, host: { type: 'string' } },
    },
    log: { type: 'object', additionalProperties: false, properties: { level: { enum: ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] } } },
  },
} as const;

const validateFile = new Ajv({ allErrors: true }).compile(fileSchema);

type FileConfig = Partial<Omit<GatewayConfig, 'mqtt' | 'api' | 'log' | 'drivers'>> & {
  drivers?: string[];
  mqtt?: Partial<GatewayConfig['mqtt']>;
  api?: Partial<GatewayConfig['api']>;
  log?: Partial<GatewayConfig['log']>;
};

/** Read and validate a config file; paths inside it are relative to the file. */
export function readConfigFile(file: string): FileConfig & { file: string } {
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
  return { ...data, file: resolve(file) };
}

export function resolveConfig(flags: ConfigFlags): GatewayConfig {
  const file: FileConfig & { file?: string } = flags.config ? readConfigFile(flags.config) : {};
  const devices = flags.devices && flags.devices.length > 0 ? flags.devices : file.devices ?? [];
  // A package name in the file resolves from the file's folder, as its paths do; a flag's from here.
  const drivers: DriverRef[] = [
    ...(file.drivers ?? []).map((spec) => ({ spec, base: dirname(file.file!), via: file.file! })),
    ...(flags.drivers ?? []).map((spec) => ({ spec, base: process.cwd(), via: '--driver' })),
  ];
  return {
    devices,
    drivers,
    dataDir: resolve(flags.dataDir ?? file.dataDir ?? DEFAULTS.dataDir),
    nodeName: flags.nodeName ?? file.nodeName ?? hostname(),
    mqtt: {
      url: flags.mqttUrl ?? (flags.mqttPort === undefined ? file.mqtt?.url : undefined),
      port: flags.mqttPort ?? file.mqtt?.port ?? DEFAULTS.mqttPort,
      username: file.mqtt?.username,
      passwordFile: file.mqtt?.passwordFile,
      tls: file.mqtt?.tls,
    },
    api: { port: flags.apiPort ?? file.api?.port ?? DEFAULTS.apiPort, host: file.api?.host ?? DEFAULTS.apiHost },
    log: { level: flags.logLevel ?? file.log?.level ?? process.env.EDGETWIN_LOG_LEVEL ?? 'info' },
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
