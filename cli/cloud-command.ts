// `edgetwin cloud`, `edgetwin cloud token` and `edgetwin cloud revoke`: the composition root of
// the cloud process. The logic lives in hub/; this file reads flags and the config file.

import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { parse as parseYaml } from 'yaml';
import { createLogger } from '../core/log.ts';
import { CLOUD_DEFAULTS, startCloud } from '../hub/cloudhub/cloud.ts';
import type { CloudHubSettings } from '../hub/cloudhub/server.ts';
import type { ControllersConfig } from '../hub/controllers/index.ts';
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
  httpListen?: string;
  httpTokenFile?: string;
  httpAllowedHosts?: string;
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
  /** The `devices:` section: the DeviceController's status writes and sync. */
  controllers?: ControllersConfig;
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
  for (const key of Object.keys(root)) {
    if (key !== 'cloudhub' && key !== 'devices') throw new Error(`${file}: ${key} is not a section; the sections are cloudhub and devices`);
  }
  const devices = loadDevicesSection(file, root.devices);
  const hub = (root.cloudhub ?? {}) as Record<string, unknown>;
  if (typeof hub !== 'object' || Array.isArray(hub)) throw new Error(`${file}: cloudhub must be a map of ${CLOUDHUB_KEYS.join(', ')}`);
  for (const key of Object.keys(hub)) {
    if (!CLOUDHUB_KEYS.includes(key)) throw new Error(`${file}: cloudhub.${key} is not a setting; the settings are ${CLOUDHUB_KEYS.map((k) => `cloudhub.${k}`).join(', ')}`);
  }
  const duration = (key: string): number | undefined => configDuration(file, `cloudhub.${key}`, hub[key]);
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
  const out: CloudFileConfig = { settings, ...(devices ? { controllers: { devices } } : {}) };
  const poll = duration('revocationPoll');
  if (poll !== undefined) out.revocationPollMs = poll;
  return out;
}

/** The fleet view's token: the file's first line; a file that cannot be read or is empty is an error naming it. */
function readTokenFile(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`--http-token-file ${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
  const token = text.split(/\r?\n/)[0]!.trim();
  if (token.length < 16) throw new Error(`--http-token-file ${file}: the token must be at least 16 characters on the first line`);
  return token;
}

/** `devices: {statusWriter: {perDeviceInterval, budget}, sync}`: errors name the file and key. */
function loadDevicesSection(file: string, section: unknown): ControllersConfig['devices'] | undefined {
  if (section === undefined || section === null) return undefined;
  if (typeof section !== 'object' || Array.isArray(section)) throw new Error(`${file}: devices must be a map with statusWriter and sync`);
  const d = section as Record<string, unknown>;
  for (const key of Object.keys(d)) {
    if (key !== 'statusWriter' && key !== 'sync') throw new Error(`${file}: devices.${key} is not a setting; the settings are devices.statusWriter.perDeviceInterval, devices.statusWriter.budget, devices.sync`);
  }
  const duration = (key: string, v: unknown): number | undefined => configDuration(file, key, v);
  const out: NonNullable<ControllersConfig['devices']> = {};
  const sync = duration('devices.sync', d.sync);
  if (sync !== undefined) out.syncMs = sync;
  if (d.statusWriter !== undefined) {
    if (!d.statusWriter || typeof d.statusWriter !== 'object') throw new Error(`${file}: devices.statusWriter must be a map with perDeviceInterval and budget`);
    const w = d.statusWriter as Record<string, unknown>;
    for (const key of Object.keys(w)) {
      if (key !== 'perDeviceInterval' && key !== 'budget') throw new Error(`${file}: devices.statusWriter.${key} is not a setting; the settings are perDeviceInterval and budget`);
    }
    out.statusWriter = {};
    const every = duration('devices.statusWriter.perDeviceInterval', w.perDeviceInterval);
    if (every !== undefined) out.statusWriter.perDeviceIntervalMs = every;
    if (w.budget !== undefined) {
      if (typeof w.budget !== 'number' || !Number.isInteger(w.budget) || w.budget < 1) throw new Error(`${file}: devices.statusWriter.budget must be a whole number of writes per second, at least 1`);
      out.statusWriter.budgetPerSecond = w.budget;
    }
  }
  return out;
}

export function kubernetesSource(flag: string | undefined): string | undefined {
  if (flag) return flag;
  if (process.env.KUBECONFIG) return process.env.KUBECONFIG;
  if (process.env.KUBERNETES_SERVICE_HOST) return 'in-cluster';
  return undefined;
}

export async function cloudCommand(opts: CloudCommandOptions): Promise<void> {
  // The bin's --heap-growing-percent=50 (cli/bin/edgetwin.js) is for gateways; with 10,000 nodes'
  // sessions live, it made the cloud spend half its CPU per message in full collections. V8 reads
  // the flag at each collection: back to its own growing factor (0 = V8 decides) for the cloud.
  setFlagsFromString('--heap-growing-percent=0');
  // Pretenuring is off in the bin for a gateway's short-lived readings; a cloud's sessions live
  // long, which is what it is for.
  setFlagsFromString('--allocation-site-pretenuring');
  const log = createLogger({ level: opts.logLevel, name: 'edgetwin-cloud' });
  let file: CloudFileConfig = { settings: {} };
  let httpToken: string | undefined;
  try {
    if (opts.config) file = loadCloudConfig(opts.config);
    if (opts.httpTokenFile) httpToken = readTokenFile(opts.httpTokenFile);
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
      httpListen: opts.httpListen,
      httpToken,
      httpAllowedHosts: opts.httpAllowedHosts?.split(',').map((s) => s.trim()).filter(Boolean),
      advertise: opts.advertise?.split(',').map((s) => s.trim()).filter(Boolean),
      settings: file.settings,
      revocationPollMs: file.revocationPollMs,
      ...(file.controllers ? { controllers: file.controllers } : {}),
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

export async function tokenCommand(opts: { ttl?: string; stateDir?: string; kubeconfig?: string; namespace?: string }): Promise<void> {
  const ttl = opts.ttl ? parseDuration(opts.ttl) : DEFAULT_TOKEN_TTL_MS;
  // With Kubernetes configured the CA lives in Secret edgetwin-ca, as for the running cloud; an
  // explicit --state-dir (without --kubeconfig) names a cloud that runs without Kubernetes.
  const source = opts.kubeconfig || !opts.stateDir ? kubernetesSource(opts.kubeconfig) : undefined;
  if (opts.kubeconfig && !existsSync(opts.kubeconfig)) throw new Error(`--kubeconfig ${opts.kubeconfig}: no such file`);
  const store = source
    ? (await import('../hub/controllers/index.ts')).connectKubernetes(source, { namespace: opts.namespace, log: createLogger({ level: 'warn', name: 'edgetwin-cloud' }) }).caStore()
    : new DirCaStore(resolve(opts.stateDir ?? CLOUD_DEFAULTS.stateDir));
  const ca = await CertificateAuthority.loadOrCreate(store, {
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

/** `edgetwin cloud install-crds`: prints the CRDs (--dry-run) or creates/updates them in the cluster. */
export async function installCrdsCommand(opts: { dryRun?: boolean; force?: boolean; kubeconfig?: string }): Promise<void> {
  const controllers = await import('../hub/controllers/install-crds.ts');
  if (opts.dryRun) {
    process.stdout.write(controllers.crdsYaml());
    return;
  }
  const source = kubernetesSource(opts.kubeconfig);
  if (!source) throw new Error('no Kubernetes configuration: pass --kubeconfig <file>, set KUBECONFIG, or run in a pod; or print the CRDs with --dry-run and pipe them into `kubectl apply -f -`');
  if (opts.kubeconfig && !existsSync(opts.kubeconfig)) throw new Error(`--kubeconfig ${opts.kubeconfig}: no such file`);
  const { loadKube } = await import('../hub/controllers/kube.ts');
  const results = await controllers.installCrds(loadKube(source), { force: opts.force });
  let refused = 0;
  for (const r of results) {
    process.stdout.write(`customresourcedefinition ${r.name} ${r.action}${r.detail ? `: ${r.detail}` : ''}\n`);
    if (r.action === 'refused') refused++;
  }
  if (refused > 0) {
    process.stderr.write(`error: ${refused} CRD(s) not installed (see above)\n`);
    process.exitCode = 1;
  }
}

/** A duration in the cloud's config file: a string like 30s, or a number of milliseconds. */
function configDuration(file: string, key: string, v: unknown): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v === 'number' && v > 0) return v;
  if (typeof v === 'string') {
    try {
      return parseDuration(v);
    } catch (err) {
      throw new Error(`${file}: ${key}: ${(err as Error).message}`);
    }
  }
  throw new Error(`${file}: ${key} must be a duration like 30s (or a number of milliseconds)`);
}
