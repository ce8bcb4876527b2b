// `edgetwin cloud`, `edgetwin cloud token` and `edgetwin cloud revoke`: the composition root of
// the cloud process. The logic lives in hub/; this file reads flags and the config file.
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { createLogger } from '../core/log.ts';
import { CLOUD_DEFAULTS, startCloud } from '../hub/cloudhub/cloud.ts';
import type { CloudHubSettings } from '../hub/cloudhub/server.ts';
import { CertificateAuthority } from '../hub/join/ca.ts';
import { Revocations } from '../hub/join/revocation.ts';
import { isValidNodeName } from '../hub/join/server.ts';
import { DirCaStore } from '../hub/join/store.ts';
import { createJoinToken, DEFAULT_TOKEN_TTL_MS, parseDuration } from '../hub/join/token.ts';

export interface CloudCommandOptions {
  listen?: string;
  port?: number;
  joinPort?: number;
  httpPort?: number;
  advertise?: string;
  stateDir?: string;
  kubeconfig?: string;
  namespace?: string;
  config?: string;
  logLevel?: string;
}

/** What a `--config` file may set for the cloud, all optional. */
export interface CloudFileConfig {
  settings: Partial<CloudHubSettings>;
  revocationPollMs?: number;
}

const CLOUDHUB_KEYS = ['keepaliveTimeout', 'maxFrameBytes', 'nodeLimit', 'nodeAuthorization', 'resendInterval', 'maxResendInterval', 'revocationPoll'];

/** Reads the `cloudhub:` section of a YAML config file. Errors name the file and key. */
export function loadCloudConfig(file: string): CloudFileConfig {
  let doc: unknown;
  try {
    doc = parseYaml(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`${file}: ${(err as Error).message}`);
  }
  const root = (doc ?? {}) as Record<string, unknown>;
  const hub = (root.cloudhub ?? {}) as Record<string, unknown>;
  if (typeof hub !== 'object' || Array.isArray(hub)) throw new Error(`${file}: cloudhub must be a map of ${CLOUDHUB_KEYS.join(', ')}`);
  for (const key of Object.keys(hub)) {
    if (!CLOUDHUB_KEYS.includes(key)) throw new Error(`${file}: cloudhub.${key} is not a setting; the settings are ${CLOUDHUB_KEYS.map((k) => `cloudhub.${k}`).join(', ')}`);
  }
  const duration = (key: string): number | undefined => {
    const v = hub[key];
    if (v === undefined) return undefined;
    if (typeof v === 'number' && v > 0) return v;
    if (typeof v === 'string') {
      try {
        return parseDuration(v);
      } catch (err) {
        throw new Error(`${file}: cloudhub.${key}: ${(err as Error).message}`);
      }
    }
    throw new Error(`${file}: cloudhub.${key} must be a duration like 30s (or a number of milliseconds)`);
  };
  const count = (key: string): number | undefined => {
    const v = hub[key];
    if (v === undefined) return undefined;
    if (typeof v === 'number' && Number.isInteger(v) && v > 0) return v;
    throw new Error(`${file}: cloudhub.${key} must be a whole number above 0`);
  };
  const settings: Partial<CloudHubSettings> = {};
  const keepalive = duration('keepaliveTimeout');
  if (keepalive !== undefined) settings.keepaliveTimeoutMs = keepalive;
  const maxFrame = count('maxFrameBytes');
  if (maxFrame !== undefined) settings.maxFrameBytes = maxFrame;
  const limit = count('nodeLimit');
  if (limit !== undefined) settings.nodeLimit = limit;
  if (hub.nodeAuthorization !== undefined) {
    if (typeof hub.nodeAuthorization !== 'boolean') throw new Error(`${file}: cloudhub.nodeAuthorization must be true or false`);
    settings.nodeAuthorization = hub.nodeAuthorization;
  }
  const resend = duration('resendInterval');
  const maxResend = duration('maxResendInterval');
  if (resend !== undefined || maxResend !== undefined) {
    settings.resend = {
      resendIntervalMs: resend ?? 5000,
      retriesAtInterval: 4,
      maxResendIntervalMs: maxResend ?? Math.max(60_000, resend ?? 0),
    };
  }
  const out: CloudFileConfig = { settings };
  const poll = duration('revocationPoll');
  if (poll !== undefined) out.revocationPollMs = poll;
  return out;
}

export function kubernetesSource(flag: string | undefined): string | undefined {
  if (flag) return flag;
  if (process.env.KUBECONFIG) return process.env.KUBECONFIG;
  if (process.env.KUBERNETES_SERVICE_HOST) return 'in-cluster';
  return undefined;
}

export async function cloudCommand(opts: CloudCommandOptions): Promise<void> {
  const log = createLogger({ level: opts.logLevel, name: 'edgetwin-cloud' });
  let file: CloudFileConfig = { settings: {} };
  try {
    if (opts.config) file = loadCloudConfig(opts.config);
    if (opts.kubeconfig && !existsSync(opts.kubeconfig)) throw new Error(`--kubeconfig ${opts.kubeconfig}: no such file`);
  } catch (err) {
    process.stderr.write(`error: ${(err as Error).message}\n`);
    process.exitCode = 1;
    return;
  }
  let cloud;
  try {
    cloud = await startCloud({
      stateDir: resolve(opts.stateDir ?? CLOUD_DEFAULTS.stateDir),
      listen: opts.listen,
      port: opts.port,
      joinPort: opts.joinPort,
      httpPort: opts.httpPort,
      advertise: opts.advertise?.split(',').map((s) => s.trim()).filter(Boolean),
      settings: file.settings,
      revocationPollMs: file.revocationPollMs,
      kubernetes: kubernetesSource(opts.kubeconfig),
      namespace: opts.namespace,
      log,
    });
  } catch (err) {
    process.stderr.write(`error: ${(err as Error).message}\n`);
    process.exitCode = 1;
    return;
  }
  const started = cloud;
  const stop = (signal: string) => {
    log.info({ signal }, 'stopping the cloud');
    started.close().then(() => process.exit(0), (err: Error) => {
      log.error({ err: err.message }, 'stopping the cloud failed');
      process.exit(1);
    });
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
}

export async function tokenCommand(opts: { ttl?: string; stateDir?: string }): Promise<void> {
  const ttl = opts.ttl ? parseDuration(opts.ttl) : DEFAULT_TOKEN_TTL_MS;
  const dir = resolve(opts.stateDir ?? CLOUD_DEFAULTS.stateDir);
  const ca = await CertificateAuthority.loadOrCreate(dir, {
    onCreate: (where) => process.stderr.write(`created a new CA in ${where}\n`),
  });
  process.stdout.write(`${await createJoinToken(ca, ttl)}\n`);
}

export async function revokeCommand(node: string, opts: { stateDir?: string }): Promise<void> {
  if (!isValidNodeName(node)) throw new Error(`"${node}" is not a valid node name`);
  const dir = resolve(opts.stateDir ?? CLOUD_DEFAULTS.stateDir);
  const store = new DirCaStore(dir);
  if (!(await store.get('ca.crt'))) throw new Error(`${dir} holds no cloud CA: pass the cloud's --state-dir`);
  await new Revocations(store).revoke(node);
  process.stdout.write(`node ${node} is revoked: its certificates are refused from now on (a running cloud ends its session within seconds); it can join again only with a new token\n`);
}
