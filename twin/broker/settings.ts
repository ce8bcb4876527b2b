// The embedded broker's settings (config file block `broker`) and the rules they must meet to start.

import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { EdgetwinError, ErrorCodes } from '../../core/errors.ts';

export interface BrokerTls {
  cert?: string;
  key?: string;
  /** CA that signs client certificates; with it, a client certificate's CN is its user. */
  ca?: string;
  /** Refuse clients without a certificate signed by `ca`. */
  requireClientCert?: boolean;
}

export interface BrokerSettings {
  host: string;
  maxPacketBytes: number;
  maxQueueBytes: number;
  maxQueueMessages: number;
  maxRetained: number;
  maxRetainedBytes: number;
  /** QoS 1/2 messages stored for one client id of a persistent session (offline, or not yet acknowledged). */
  maxStoredMessages: number;
  /** Payload bytes of all stored QoS 1/2 messages together. */
  maxStoredBytes: number;
  passwordFile?: string;
  aclFile?: string;
  /** Users (password file or certificate CN) that act as KubeEdge mappers: see permissions.ts. */
  mapperUsers: string[];
  tls?: BrokerTls;
}

const MB = 1024 * 1024;

export const BROKER_DEFAULTS: BrokerSettings = {
  host: '127.0.0.1',
  maxPacketBytes: 1 * MB,
  // Enough for a fast subscriber at 10 MB/s to ride out a pause of more than a second.
  maxQueueBytes: 16 * MB,
  maxQueueMessages: 20_000,
  maxRetained: 1000,
  // Below maxQueueBytes, so a new subscriber to '#' can take every retained message at once.
  maxRetainedBytes: 8 * MB,
  // A persistent-session subscriber that stays away holds a bounded backlog, not the gateway's memory.
  maxStoredMessages: 10_000,
  maxStoredBytes: 32 * MB,
  mapperUsers: [],
};

export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1';
}

/** Secure by default: a broker reachable beyond this machine needs users. */
export function checkExposure(s: BrokerSettings): void {
  if (isLoopback(s.host)) return;
  if (s.passwordFile || s.tls?.requireClientCert) return;
  throw new EdgetwinError(
    ErrorCodes.CONFIG,
    `the embedded MQTT broker would listen on ${s.host} with no authentication: anyone who reaches it could set desired values and fake device data`,
    { path: 'broker.host' },
    'set broker.passwordFile (made with mosquitto_passwd) or broker.tls with ca and requireClientCert: true, or keep broker.host 127.0.0.1',
  );
}

export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
  ca?: Buffer;
  requireClientCert: boolean;
}

export function readTls(tls: BrokerTls): TlsMaterial {
  const read = (key: 'cert' | 'key' | 'ca') => {
    const file = tls[key];
    if (!file) return undefined;
    try {
      return readFileSync(file);
    } catch (err) {
      throw new EdgetwinError(ErrorCodes.CONFIG, `cannot read broker.tls.${key}: ${(err as Error).message}`, { file, path: `broker.tls.${key}` });
    }
  };
  const cert = read('cert');
  const key = read('key');
  if (!cert || !key) throw new EdgetwinError(ErrorCodes.CONFIG, 'broker.tls needs both cert and key (PEM files)', { path: 'broker.tls' });
  const ca = read('ca');
  if (tls.requireClientCert && !ca) {
    throw new EdgetwinError(ErrorCodes.CONFIG, 'broker.tls.requireClientCert needs broker.tls.ca, the CA that signs client certificates', { path: 'broker.tls.ca' });
  }
  return { cert, key, ca, requireClientCert: tls.requireClientCert ?? false };
}
