// OPC UA configuration as Device YAML writes it: KubeEdge's typed OPC UA fields (url, userName,
// password as a path to a file, securityPolicy, securityMode, certificate/privateKey, timeout in
// seconds; visitor nodeID, browseName) plus edgetwin's extensions inside configData. No node-opcua
// here: a gateway validates OPC UA devices before it loads the protocol library.

import { existsSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import type { DeviceBinding, PropertyBinding } from '../sdk/driver.ts';

export interface OpcuaProtocol {
  url: string;
  securityPolicy?: string;
  securityMode?: 'None' | 'Sign' | 'SignAndEncrypt';
  userName?: string;
  /** KubeEdge's meaning: a path to a file holding the password. */
  password?: string;
  /** X.509 user identity (edgetwin extension): PEM certificate and private key paths. */
  userCertificate?: string;
  userPrivateKey?: string;
  /** The client's application instance certificate and key (PEM paths). */
  certificate?: string;
  privateKey?: string;
  /** Seconds, as KubeEdge writes it: connect and each request. */
  timeout?: number;
  /** subscribe (default): monitored items push changes; poll: one batched Read per cycle. */
  mode?: 'subscribe' | 'poll';
  publishingInterval?: number;
  keepAliveCount?: number;
}

export interface OpcuaVisitor {
  nodeID?: string;
  /** KubeEdge's field: used as a browse path from Objects when nodeID is absent. */
  browseName?: string;
  /** e.g. "/Objects/2:Line/2:Temperature" or "Line/Temperature" (relative to Objects). */
  browsePath?: string;
  samplingInterval?: number;
  queueSize?: number;
  /** Overrides the device's mode for this property. */
  mode?: 'subscribe' | 'poll';
  scale?: number;
  valueOffset?: number;
}

/** Our names for the policies node-opcua supports, keyed by every spelling we accept. */
const POLICIES: Record<string, string> = {
  None: 'None',
  Basic256Sha256: 'Basic256Sha256',
  Aes128_Sha256_RsaOaep: 'Aes128_Sha256_RsaOaep',
  Aes128Sha256RsaOaep: 'Aes128_Sha256_RsaOaep',
  Aes256_Sha256_RsaPss: 'Aes256_Sha256_RsaPss',
  Aes256Sha256RsaPss: 'Aes256_Sha256_RsaPss',
};

const DEPRECATED = new Set(['Basic128Rsa15', 'Basic256']);

export const protocolSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['url'],
  properties: {
    url: { type: 'string', pattern: '^opc\\.tcp://[^/]+' },
    securityPolicy: { enum: [...Object.keys(POLICIES), ...DEPRECATED] },
    securityMode: { enum: ['None', 'Sign', 'SignAndEncrypt'] },
    userName: { type: 'string', minLength: 1 },
    password: { type: 'string', minLength: 1 },
    userCertificate: { type: 'string', minLength: 1 },
    userPrivateKey: { type: 'string', minLength: 1 },
    certificate: { type: 'string', minLength: 1 },
    privateKey: { type: 'string', minLength: 1 },
    timeout: { type: 'number', exclusiveMinimum: 0 },
    mode: { enum: ['subscribe', 'poll'] },
    publishingInterval: { type: 'number', exclusiveMinimum: 0 },
    keepAliveCount: { type: 'integer', minimum: 1 },
  },
};

export const visitorSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    nodeID: { type: 'string', minLength: 1 },
    browseName: { type: 'string', minLength: 1 },
    browsePath: { type: 'string', minLength: 1 },
    samplingInterval: { type: 'number', minimum: 0 },
    queueSize: { type: 'integer', minimum: 1 },
    mode: { enum: ['subscribe', 'poll'] },
    scale: { type: 'number' },
    valueOffset: { type: 'number' },
  },
};

const NODE_ID = /^(?:(?:ns=\d+|nsu=[^;]+);)?(?:i=\d+|s=.+|g=[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|b=[A-Za-z0-9+/=]+)$/;

export function normalisePolicy(policy: string | undefined): string {
  return POLICIES[policy ?? 'None'] ?? 'None';
}

/** The mode in effect: a secure policy without a mode means SignAndEncrypt. */
export function securityMode(config: OpcuaProtocol): 'None' | 'Sign' | 'SignAndEncrypt' {
  return config.securityMode ?? (normalisePolicy(config.securityPolicy) === 'None' ? 'None' : 'SignAndEncrypt');
}

const FILE_FIELDS = ['password', 'userCertificate', 'userPrivateKey', 'certificate', 'privateKey'] as const;

/**
 * The protocol config with its file fields made absolute: a relative path is relative to the YAML
 * file that declares the device (as the gateway's config file does for its own paths).
 */
export function withFiles(device: DeviceBinding<OpcuaProtocol, OpcuaVisitor>): OpcuaProtocol {
  const base = device.spec.source?.file ? dirname(resolve(device.spec.source.file)) : process.cwd();
  const out = { ...device.config };
  for (const field of FILE_FIELDS) {
    const file = out[field];
    if (file && !isAbsolute(file)) out[field] = resolve(base, file);
  }
  return out;
}

export interface Problem {
  property?: string;
  path: string;
  message: string;
}

export function checkDevice(device: DeviceBinding<OpcuaProtocol, OpcuaVisitor>): Problem[] {
  const c = device.config;
  const problems: Problem[] = [];
  if (c.securityPolicy && DEPRECATED.has(c.securityPolicy)) {
    problems.push({ path: 'securityPolicy', message: `securityPolicy ${c.securityPolicy} is deprecated by the OPC Foundation (SHA-1, weak keys) and refused; use Basic256Sha256, Aes128_Sha256_RsaOaep or Aes256_Sha256_RsaPss` });
  }
  const policy = normalisePolicy(c.securityPolicy);
  const mode = securityMode(c);
  const deprecated = Boolean(c.securityPolicy && DEPRECATED.has(c.securityPolicy));
  if (policy === 'None' && mode !== 'None' && !deprecated) problems.push({ path: 'securityMode', message: `securityMode ${mode} needs a securityPolicy other than None` });
  if (policy !== 'None' && mode === 'None') problems.push({ path: 'securityMode', message: `securityPolicy ${c.securityPolicy} needs securityMode Sign or SignAndEncrypt` });
  if (c.password && !c.userName) problems.push({ path: 'userName', message: 'password is set but userName is missing' });
  if (c.userName && !c.password) problems.push({ path: 'password', message: 'userName is set but password (a path to a file holding the password) is missing' });
  if (c.userName && c.userCertificate) problems.push({ path: 'userCertificate', message: 'choose one identity: userName/password or userCertificate/userPrivateKey' });
  if (Boolean(c.userCertificate) !== Boolean(c.userPrivateKey)) problems.push({ path: c.userCertificate ? 'userPrivateKey' : 'userCertificate', message: 'userCertificate and userPrivateKey go together' });
  if (Boolean(c.certificate) !== Boolean(c.privateKey)) problems.push({ path: c.certificate ? 'privateKey' : 'certificate', message: 'certificate and privateKey (the client application instance certificate) go together' });
  const files = withFiles(device);
  for (const field of FILE_FIELDS) {
    const file = files[field];
    if (file && !existsSync(file)) problems.push({ path: field, message: `${field} names the file ${file}, which does not exist${field === 'password' ? ' (KubeEdge\'s password field is a path to a file holding the password)' : ''}` });
  }
  for (const p of device.properties) problems.push(...checkVisitor(p));
  return problems;
}

function checkVisitor(p: PropertyBinding<OpcuaVisitor>): Problem[] {
  const v = p.visitor;
  if (v.nodeID !== undefined) {
    if (!NODE_ID.test(v.nodeID)) {
      return [{ property: p.name, path: 'nodeID', message: `nodeID "${v.nodeID}" is not in standard notation (e.g. ns=2;s=Line1.Temperature, ns=3;i=1001, nsu=urn:plant:line;s=Speed)` }];
    }
    if (v.browsePath) return [{ property: p.name, path: 'browsePath', message: 'set either nodeID or browsePath, not both' }];
    return [];
  }
  if (!v.browsePath && !v.browseName) return [{ property: p.name, path: 'nodeID', message: 'a visitor needs nodeID (or browsePath) to find the node' }];
  return [];
}

/** How the driver addresses a property's node. */
export function nodeRef(v: OpcuaVisitor): { nodeId: string } | { browsePath: string } {
  if (v.nodeID) return { nodeId: v.nodeID };
  return { browsePath: (v.browsePath ?? v.browseName)! };
}

/** The client secret for the user identity: read at connect, never logged. */
export interface Identity {
  kind: 'anonymous' | 'userName' | 'certificate';
  userName?: string;
  passwordFile?: string;
  certificate?: string;
  privateKey?: string;
}

export function identity(c: OpcuaProtocol): Identity {
  if (c.userName) return { kind: 'userName', userName: c.userName, passwordFile: c.password };
  if (c.userCertificate) return { kind: 'certificate', certificate: c.userCertificate, privateKey: c.userPrivateKey };
  return { kind: 'anonymous' };
}
