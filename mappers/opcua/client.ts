// One OPC UA client and session (shared by the devices that use it the same way, see
// shared-session.ts): security policy and mode, the user identity, and the certificate store under
// the gateway's data directory (never ~/.config). node-opcua's own
// reconnection is switched off: the runtime owns reconnects (with backoff) and the driver rebuilds
// the session and every monitored item, which is what keeps data flowing after a server restart.

import './library-log.ts';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { OPCUACertificateManager } from 'node-opcua-certificate-manager';
import { exploreCertificate } from 'node-opcua-crypto';
import { MessageSecurityMode, OPCUAClient, SecurityPolicy, UserTokenType, type ClientSession, type UserIdentityInfo } from 'node-opcua-client';
import { codedError, errorCode, errorMessage } from '../sdk/async.ts';
import { identity, normalisePolicy, securityMode, type OpcuaProtocol } from './config.ts';
import { IoCodes } from '../../core/errors.ts';

export interface OpenSession {
  client: OPCUAClient;
  session: ClientSession;
  /** Bounded: a frozen server cannot hold a close for longer than `closeMs`. */
  close(closeMs?: number): Promise<void>;
}

/** Where the client keeps its application certificate, trusted and rejected peers. */
export function pkiFolder(dataDir: string): string {
  return join(dataDir, 'pki', 'opcua');
}

export async function certificateManager(dataDir: string): Promise<OPCUACertificateManager> {
  const cm = new OPCUACertificateManager({ rootFolder: pkiFolder(dataDir), automaticallyAcceptUnknownCertificate: false, disableFileWatchers: true } as ConstructorParameters<typeof OPCUACertificateManager>[0]);
  await cm.initialize();
  return cm;
}

function pemToDer(pem: string): Buffer {
  const body = /-----BEGIN CERTIFICATE-----([\s\S]+?)-----END CERTIFICATE-----/.exec(pem)?.[1];
  if (!body) throw codedError(IoCodes.CONFIG, 'the certificate file holds no PEM certificate');
  return Buffer.from(body.replace(/\s+/g, ''), 'base64');
}

function userIdentity(config: OpcuaProtocol): UserIdentityInfo {
  const id = identity(config);
  if (id.kind === 'userName') {
    // Trailing newlines are an artefact of `echo secret > file`, not part of the password.
    const password = readFileSync(id.passwordFile!, 'utf8').replace(/\r?\n$/, '');
    return { type: UserTokenType.UserName, userName: id.userName!, password };
  }
  if (id.kind === 'certificate') {
    return { type: UserTokenType.Certificate, certificateData: pemToDer(readFileSync(id.certificate!, 'utf8')), privateKey: readFileSync(id.privateKey!, 'utf8') as never };
  }
  return { type: UserTokenType.Anonymous };
}

/** Turn node-opcua's connect errors into ones a plant engineer can act on. */
function explain(err: unknown, config: OpcuaProtocol, pki: string): Error {
  const msg = errorMessage(err).replace(/\s*\n\s*/g, ' ').trim();
  if (/certificate verification failed|BadCertificateUntrusted/i.test(msg)) {
    return codedError('BAD_CERTIFICATE_UNTRUSTED', `the server's certificate at ${config.url} is not trusted (${msg}); node-opcua saved it in ${join(pki, 'rejected')}: after checking its thumbprint, move it to ${join(pki, 'trusted', 'certs')} and the gateway will connect`);
  }
  const token = /Cannot find (\w+) user token policy/i.exec(msg)?.[1]?.toLowerCase();
  if (token) {
    const kind = token === 'anonymous' ? 'anonymous users: set userName and password (or userCertificate)' : token === 'username' ? 'user names and passwords on this endpoint' : `${token} identities on this endpoint`;
    return codedError('BAD_IDENTITY_TOKEN_REJECTED', `the server at ${config.url} does not accept ${kind}`);
  }
  if (/BadUserAccessDenied|BadIdentityTokenRejected|BadIdentityTokenInvalid/i.test(msg)) {
    const check = config.userName ? 'check userName and the password file' : config.userCertificate ? 'check that the server accepts the user certificate' : 'the server does not accept anonymous users: set userName and password';
    return codedError('BAD_USER_ACCESS_DENIED', `the server at ${config.url} refused the user identity${config.userName ? ` ${config.userName}` : ''} (${/Bad\w+/.exec(msg)?.[0] ?? msg}); ${check}`);
  }
  if (/BadSecurityChecksFailed|BadCertificate/i.test(msg)) {
    return codedError('BAD_SECURITY_CHECKS_FAILED', `the server at ${config.url} rejected the secure channel (${msg}); the server must trust the client certificate in ${join(pki, 'own', 'certs')}`);
  }
  if (/Cannot find an Endpoint matching|cannot find endpoint|End point must exist/i.test(msg)) {
    return codedError('BAD_ENDPOINT', `the server at ${config.url} offers no endpoint with securityPolicy ${normalisePolicy(config.securityPolicy)} and securityMode ${securityMode(config)} (${msg})`);
  }
  if (/ECONNREFUSED|connect failed|ENOTFOUND|EHOSTUNREACH|cannot be established/i.test(msg)) {
    // node-opcua wraps the socket error in two sentences of advice; the socket error says it all.
    const cause = /Err = \((.+)\)/.exec(msg)?.[1] ?? msg;
    return codedError(/ENOTFOUND/.test(cause) ? IoCodes.HOST_NOT_FOUND : IoCodes.CONNECTION_REFUSED, `cannot reach ${config.url}: ${cause}`);
  }
  return codedError(errorCode(err, IoCodes.CONNECT), msg, err);
}

/** The application URI a certificate was issued for: the client must present the same one. */
function certificateUri(file: string): string | undefined {
  const info = exploreCertificate(pemToDer(readFileSync(file, 'utf8')));
  return info.tbsCertificate.extensions?.subjectAltName?.uniformResourceIdentifier?.[0];
}

export async function openSession(config: OpcuaProtocol, dataDir: string, timeoutMs: number, onLost: (err: Error) => void): Promise<OpenSession> {
  const cm = await certificateManager(dataDir);
  const client = OPCUAClient.create({
    applicationName: 'edgetwin',
    applicationUri: config.certificate ? certificateUri(config.certificate) : undefined,
    clientCertificateManager: cm,
    certificateFile: config.certificate,
    privateKeyFile: config.privateKey,
    securityPolicy: SecurityPolicy[normalisePolicy(config.securityPolicy) as keyof typeof SecurityPolicy],
    securityMode: MessageSecurityMode[securityMode(config)],
    connectionStrategy: { maxRetry: 0, initialDelay: 100, maxDelay: 1000 },
    endpointMustExist: false,
    // Publish requests keep a subscribing session alive, but a shared session may serve slow polls too.
    keepSessionAlive: true,
    requestedSessionTimeout: Math.max(60_000, timeoutMs * 6),
    defaultTransactionTimeout: timeoutMs,
    transportTimeout: timeoutMs,
  } as Parameters<typeof OPCUAClient.create>[0]);
  let closed = false;
  client.on('connection_lost', () => {
    if (!closed) onLost(codedError(IoCodes.CONNECTION_RESET, `the connection to ${config.url} was lost`));
  });
  const close = async (closeMs = 2000) => {
    if (closed) return;
    closed = true;
    let timer: NodeJS.Timeout | undefined;
    const graceful = (async () => {
      await session?.close(true).catch(() => undefined);
      await client.disconnect();
    })();
    const gaveUp = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), closeMs)));
    const result = await Promise.race([graceful.then(() => 'ok' as const, () => 'ok' as const), gaveUp]);
    clearTimeout(timer);
    if (result === 'timeout') {
      // A frozen server never answers CloseSession: break the socket so nothing lingers.
      (client as unknown as { _secureChannel?: { forceConnectionBreak?(): void } })._secureChannel?.forceConnectionBreak?.();
      await graceful.catch(() => undefined);
    }
    cm.dispose();
  };
  let session: ClientSession | undefined;
  try {
    await client.connect(config.url);
    session = await client.createSession(userIdentity(config));
  } catch (err) {
    await close(500).catch(() => undefined);
    throw explain(err, config, pkiFolder(dataDir));
  }
  session.on('keepalive_failure', () => {
    if (!closed) onLost(codedError(IoCodes.TIMED_OUT, `the session with ${config.url} stopped answering keep-alive reads`));
  });
  session.on('session_closed', (status) => {
    if (!closed) onLost(codedError(IoCodes.CONNECTION_RESET, `the server closed the session (${status?.name ?? 'unknown status'})`));
  });
  return { client, session, close };
}

/** Session-level failures: the runtime must rebuild the session, not just retry the read. */
const SESSION_GONE = /BadSession(Closed|IdInvalid|NotActivated)|BadSecureChannel(Closed|IdInvalid)|BadConnectionClosed|BadServerNotConnected|premature disconnection|Transaction has timed out|socket has been disconnected/i;

/** A read or write failure as a coded error: ECONNRESET when the session itself is gone, so the runtime reconnects. */
export function asSessionError(err: unknown, what: string): Error {
  const message = `${what}: ${errorMessage(err)}`;
  if (SESSION_GONE.test(errorMessage(err))) return codedError(IoCodes.CONNECTION_RESET, message, err);
  return codedError(errorCode(err, IoCodes.READ), message, err);
}
