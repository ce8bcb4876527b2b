// The config file's schema: every key `edgetwin run --config` accepts, with its type and bounds.
// The file's TypeScript type is derived from it, so the two cannot drift apart.

import type { FromSchema } from '../core/schema.ts';

export const seconds = { type: 'number', exclusiveMinimum: 0 } as const;

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
/** What the MQTT client (mqtt.js) connects with; anything else would be retried forever. */
export const MQTT_SCHEMES = ['mqtt', 'mqtts', 'tcp', 'ssl', 'ws', 'wss'] as const;
export const DOCS = 'docs/configuration.md';

export const fileSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    devices: { type: 'array', items: { type: 'string' } },
    drivers: { type: 'array', items: { type: 'string', minLength: 1 } },
    dataDir: { type: 'string' },
    storeRetryMs: { type: 'integer', minimum: 10 },
    flushWindowMs: { type: 'integer', minimum: 0, maximum: 1000 },
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
        maxStoredMessages: { type: 'integer', minimum: 0 },
        maxStoredBytes: { type: 'integer', minimum: 0 },
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
export type FileConfig = FromSchema<typeof fileSchema>;
export type CloudFileConfig = NonNullable<FileConfig['cloud']>;
