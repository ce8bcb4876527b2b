// The embedded MQTT broker (aedes) for a gateway that runs with no broker of its own.
// Loopback by default; anywhere else it needs users (a password file or client certificates) and
// serves only TLS: broker.tls's certificate, else a self-signed one kept in tlsDir, so no password
// crosses the network in clear. The pod bridge listener is plain and open to the pod CIDR only.
// Each client gets a bounded outgoing queue (twin/broker/outgoing.ts explains why aedes needs
// one), packets are refused above broker.maxPacketBytes before they are buffered, and retained
// messages are bounded by count and bytes.

import { createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { Aedes, type Client } from 'aedes';
import { Registry } from 'prom-client';
import type { Logger } from '../core/log.ts';
import { AclFile } from './broker/acl.ts';
import { brokerMetrics } from './broker/metrics.ts';
import { boundOutgoingQueue } from './broker/outgoing.ts';
import { PacketSizeGuard } from './broker/packet-guard.ts';
import { boundStoredMessages } from './broker/stored-bound.ts';
import { PasswordFile } from './broker/passwords.ts';
import { Permissions, type Who } from './broker/permissions.ts';
import { BROKER_DEFAULTS, checkExposure, isLoopback, readTls, type BrokerSettings, type TlsMaterial } from './broker/settings.ts';
import { selfSignedListenerTls } from './listener-tls.ts';
import { insideCidr } from './pod-cidr.ts';
import type { ScopedCredentials } from './scoped-credentials.ts';

export { BROKER_DEFAULTS, type BrokerSettings } from './broker/settings.ts';

export interface EmbeddedBroker {
  url: string;
  port: number;
  /** The broker itself, for the gateway's own event bus to use in-process. */
  aedes: Aedes;
  /** True while it accepts connections (for /healthz). */
  readonly serving: boolean;
  /** The self-signed certificate file the broker serves (beyond loopback with no broker.tls); clients trust it. */
  certFile?: string;
  /**
   * Also listens on `host` (the pod bridge's address), same port, in plain MQTT, for connections from
   * inside `podCidr` only: there a client must authenticate (a scoped credential or a password file
   * user); anonymous clients are refused.
   */
  addListener(host: string, podCidr: string): Promise<{ url: string; close(): Promise<void> }>;
  /** The URL pods are given for the broker on the bridge address `host` (see addListener). */
  podUrl(host: string): string;
  close(): Promise<void>;
}

export interface EmbeddedBrokerOptions {
  port: number;
  log: Logger;
  /** Defaults: BROKER_DEFAULTS. `host` is kept for callers that only move the address. */
  settings?: Partial<BrokerSettings>;
  host?: string;
  registry?: Registry;
  /** True when a local driver serves the device `ns/name` (only the gateway publishes its data/update). */
  servedLocally?: (device: string) => boolean;
  /** Credentials with a scope (pods'): the password of their user, limited to their namespaces' devices. */
  scoped?: ScopedCredentials;
  /** Where the self-signed certificate is kept (`{dataDir}/tls`, as broker.crt and broker.key). */
  tlsDir?: string;
}

export async function startEmbeddedBroker(opts: EmbeddedBrokerOptions): Promise<EmbeddedBroker> {
  const s: BrokerSettings = { ...BROKER_DEFAULTS, ...opts.settings, ...(opts.host ? { host: opts.host } : {}) };
  checkExposure(s);
  // Any tls block means TLS: `requireClientCert` alone must never leave a plain listener open.
  const configured = s.tls ? readTls(s.tls) : undefined;
  const passwords = s.passwordFile ? PasswordFile.read(s.passwordFile) : undefined;
  const permissions = new Permissions({ acl: s.aclFile ? AclFile.read(s.aclFile) : undefined, mapperUsers: s.mapperUsers, servedLocally: opts.servedLocally });
  const log = opts.log.child({ component: 'broker' });
  // Beyond loopback, TLS always: a password must not cross the network in clear.
  const generated = !configured && !isLoopback(s.host)
    ? await selfSignedListenerTls({ name: 'broker', what: 'the embedded MQTT broker', host: s.host, dir: opts.tlsDir, setting: 'broker.tls', trust: 'mosquitto_sub --cafile {cert}', log })
    : undefined;
  const tls: TlsMaterial | undefined = configured ?? (generated ? { cert: Buffer.from(generated.cert), key: Buffer.from(generated.key), requireClientCert: false } : undefined);
  if (s.mapperUsers.length > 0 && !passwords && !tls?.ca) {
    log.warn({ mapperUsers: s.mapperUsers }, 'broker.mapperUsers is set, but with no broker.passwordFile or broker.tls.ca no client can authenticate as one');
  }
  const who = new WeakMap<Client, Who>();
  // Connections accepted on a listener beyond loopback added by addListener: no anonymous client there.
  const strict = new WeakSet<object>();
  const scoped = opts.scoped;
  const whoIs = (client: Client): Who => who.get(client) ?? { clientId: client.id };

  const aedes = await Aedes.createBroker({
    // No cap on publishes in flight: deliveries are released at once (twin/broker/outgoing.ts), so a cap
    // would only add mqemitter's queue, which drains recursively and overflows the stack when long.
    concurrency: 0,
    authenticate(client, username, password, done) {
      const refuseConnect = (why: string) => {
        m.refused.inc({ action: 'connect' });
        log.warn({ client: client.id, user: username, address: remoteAddress(client) }, `mqtt connect refused: ${why}`);
        done(Object.assign(new Error(why), { returnCode: 4 as const }), false);
      };
      const scope = username !== undefined && password !== undefined ? scoped?.verifyUser(username, password) : undefined;
      if (scope) {
        who.set(client, { user: username, clientId: client.id, scope });
        return done(null, true);
      }
      // A pod's user name is only ever its own credential's: never a claim, never a password file entry.
      if (scoped?.reserved(username)) return refuseConnect('bad user name or password');
      const cn = certificateUser(client);
      if (cn !== undefined) {
        who.set(client, { user: cn, clientId: client.id });
        return done(null, true);
      }
      if (strict.has(client.conn)) {
        if (passwords && username !== undefined && password !== undefined && passwords.verify(username, password)) {
          who.set(client, { user: username, clientId: client.id });
          return done(null, true);
        }
        return refuseConnect('this listener is for pods: connect as user pod:<namespace>/<name> with the token of /var/run/edgetwin/token');
      }
      if (!passwords) {
        // No password file: a user name is only a claim, so the client counts as anonymous.
        who.set(client, { clientId: client.id });
        return done(null, true);
      }
      if (username !== undefined && password !== undefined && passwords.verify(username, password)) {
        who.set(client, { user: username, clientId: client.id });
        return done(null, true);
      }
      m.refused.inc({ action: 'connect' });
      log.warn({ client: client.id, user: username, address: remoteAddress(client) }, 'mqtt connect refused: bad user name or password');
      done(Object.assign(new Error('bad user name or password'), { returnCode: 4 as const }), false);
    },
    authorizePublish(client, packet, done) {
      if (!client) return done(null);
      const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
      const reason = permissions.publish(whoIs(client), packet.topic, payload);
      if (reason === undefined) return done(null);
      m.refused.inc({ action: 'publish' });
      log.warn({ client: client.id, user: whoIs(client).user, topic: packet.topic, reason }, 'mqtt publish refused; the client is disconnected');
      done(new Error(`publish to ${packet.topic} refused: ${reason}`));
    },
    authorizeSubscribe(client, sub, done) {
      if (permissions.subscribe(whoIs(client), sub.topic)) return done(null, sub);
      m.refused.inc({ action: 'subscribe' });
      log.info({ client: client.id, user: whoIs(client).user, topic: sub.topic }, 'mqtt subscription refused by the ACL file');
      done(null, null);
    },
    authorizeForward(client, packet) {
      return permissions.read(whoIs(client), packet.topic) ? packet : null;
    },
  });
  const m = brokerMetrics(opts.registry ?? new Registry(), () => aedes.connectedClients);
  boundRetained(aedes, s, (topic, reason) => {
    m.dropped.inc({ reason: 'retained_limit' });
    log.warn({ topic, reason, maxRetained: s.maxRetained, maxRetainedBytes: s.maxRetainedBytes }, 'retained message delivered but not kept');
  });
  // Warned once per client id until its stored backlog drains: a stalled session would otherwise log per message.
  const warnedStored = new Set<string>();
  const stored = boundStoredMessages(aedes, { perClient: s.maxStoredMessages, totalBytes: s.maxStoredBytes }, (clientId, reason) => {
    m.dropped.inc({ reason: 'stored_limit' });
    if (warnedStored.has(clientId)) return;
    warnedStored.add(clientId);
    log.warn({ client: clientId, reason, maxStoredMessages: s.maxStoredMessages, maxStoredBytes: s.maxStoredBytes }, 'QoS 1/2 message not stored for a persistent session that holds too many unacknowledged messages (it is delivered live, at most once, while the client is online)');
  });
  aedes.on('clientReady', (client) => {
    if (stored.count(client.id) === 0) warnedStored.delete(client.id);
  });
  aedes.on('clientError', (client, err) => log.debug({ client: client.id, err: err.message }, 'mqtt client error'));
  aedes.on('connectionError', (_client, err) => log.debug({ err: err.message }, 'mqtt connection error'));

  const accept = (conn: Socket, podBridge = false) => {
    if (podBridge) strict.add(conn);
    // Small MQTT packets must not wait for Nagle's algorithm (40 ms with delayed ACKs on Linux).
    conn.setNoDelay(true);
    const client = aedes.handle(conn, undefined as never) as Client;
    guardPacketSize(client, s.maxPacketBytes, (size) => {
      m.oversized.inc();
      log.warn({ client: client.id ?? undefined, address: conn.remoteAddress, announcedBytes: size, maxPacketBytes: s.maxPacketBytes }, 'mqtt packet bigger than broker.maxPacketBytes refused; connection closed');
    });
    boundOutgoingQueue(client, { maxBytes: s.maxQueueBytes, maxMessages: s.maxQueueMessages }, {
      dropped: () => m.dropped.inc({ reason: 'slow_client' }),
      slow: (c, queued) => {
        m.slowDisconnected.inc();
        log.warn({ client: c.id, user: whoIs(c).user, queuedBytes: queued.bytes, queuedMessages: queued.messages }, 'slow mqtt client disconnected: its outgoing queue is full (broker.maxQueueBytes / maxQueueMessages)');
      },
    });
  };
  const makeServer = (): Server => {
    const onConn = (conn: Socket) => accept(conn);
    const srv: Server = tls
      ? createTlsServer({ cert: tls.cert, key: tls.key, ca: tls.ca, requestCert: tls.ca !== undefined, rejectUnauthorized: tls.requireClientCert }, onConn)
      : createServer(onConn);
    if (tls) srv.on('tlsClientError', (err) => log.info({ err: err.message }, 'mqtt TLS handshake failed'));
    return srv;
  };
  /** The pod bridge's listener: plain (the traffic stays on this host's bridge), pods' addresses only, no anonymous client. */
  const makeBridgeServer = (podCidr: string): Server => {
    const fromPod = insideCidr(podCidr);
    return createServer((conn) => {
      if (fromPod(conn.remoteAddress)) return accept(conn, true);
      log.warn({ address: conn.remoteAddress, podCidr }, 'mqtt: a connection to the pod bridge listener from outside the pod CIDR closed');
      conn.destroy();
    });
  };
  const listen = (srv: Server, bindHost: string, bindPort: number) =>
    new Promise<void>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) => {
        const hint = err.code === 'EADDRINUSE' ? ' (another broker is using it: pass --mqtt-url to use that broker, or --mqtt-port to pick another port)' : '';
        reject(new Error(`embedded MQTT broker cannot listen on ${bindHost}:${bindPort}: ${err.message}${hint}`, { cause: err }));
      };
      srv.once('error', onError);
      srv.listen(bindPort, bindHost, () => {
        srv.off('error', onError);
        resolve();
      });
    });
  const server = makeServer();
  const host = s.host;
  try {
    await listen(server, host, opts.port);
  } catch (err) {
    aedes.close();
    throw err;
  }
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : opts.port;
  const at = (h: string) => `${h.includes(':') ? `[${h}]` : h}:${port}`;
  const urlOf = (h: string) => `${tls ? 'mqtts' : 'mqtt'}://${at(h)}`;
  const url = urlOf(host);
  const wildcard = ['', '0.0.0.0', '::', '[::]'].includes(host);
  // The main listener's URL where it takes the bridge address too (a wildcard), or where it is plain on
  // loopback (podEnv points hostNetwork pods at loopback, the others at the bridge, whose listener is plain
  // too); else the plain bridge listener's, for every pod.
  const podUrl = (bridgeHost: string) => (wildcard || (isLoopback(host) && !tls) ? url : `mqtt://${at(bridgeHost)}`);
  const extra = new Set<Server>();
  log.info({ url, users: passwords?.size, acl: s.aclFile !== undefined, clientCerts: tls?.ca !== undefined, tls: configured ? 'broker.tls' : generated ? generated.certFile : 'none (loopback only)' }, 'embedded MQTT broker listening');
  let closing: Promise<void> | undefined;
  return {
    url,
    port,
    aedes,
    ...(generated ? { certFile: generated.certFile } : {}),
    podUrl,
    get serving() {
      return server.listening && !aedes.closed;
    },
    async addListener(bridgeHost, podCidr) {
      // A wildcard main listener already takes the address, under its own (secure-by-default) rules.
      if (wildcard) return { url: urlOf(bridgeHost), close: async () => undefined };
      const srv = makeBridgeServer(podCidr);
      await listen(srv, bridgeHost, port);
      extra.add(srv);
      log.info({ url: `mqtt://${at(bridgeHost)}`, podCidr }, 'embedded MQTT broker listening for pods (plain MQTT, pod CIDR only, authenticated clients only)');
      return {
        url: `mqtt://${at(bridgeHost)}`,
        close: () =>
          new Promise<void>((resolve) => {
            extra.delete(srv);
            srv.close(() => resolve());
          }),
      };
    },
    close() {
      closing ??= Promise.all(
        [server, ...extra].map((srv) => new Promise<void>((resolve) => srv.close(() => resolve()))).concat([Promise.resolve(aedes.close())]),
      ).then(() => undefined);
      return closing;
    },
  };
}

/** The CN of a client certificate that the broker's CA verified; undefined otherwise. */
function certificateUser(client: Client): string | undefined {
  const conn = client.conn as Partial<TLSSocket>;
  if (!conn.authorized || typeof conn.getPeerCertificate !== 'function') return undefined;
  const cn = conn.getPeerCertificate().subject?.CN;
  return typeof cn === 'string' && cn !== '' ? cn : undefined;
}

function remoteAddress(client: Client): string | undefined {
  return (client.conn as Partial<Socket>).remoteAddress;
}

/** Checks each chunk aedes hands its packet parser; aedes keeps the parser on the client as `_parser`. */
function guardPacketSize(client: Client, maxBytes: number, refused: (announced: number) => void): void {
  const parser = (client as unknown as { _parser?: { parse(buf: Buffer): number } })._parser;
  if (!parser || typeof parser.parse !== 'function') throw new Error('aedes changed: its client has no _parser.parse to guard (see twin/broker/packet-guard.ts)');
  const parse = parser.parse.bind(parser);
  const guard = new PacketSizeGuard(maxBytes);
  let closed = false;
  parser.parse = (buf: Buffer) => {
    if (closed) return 0;
    const announced = guard.scan(buf);
    if (announced === undefined) return parse(buf);
    closed = true;
    refused(announced);
    client.conn.destroy();
    return 0;
  };
}

/** Bounds retained storage by count and bytes: a retained message beyond them is delivered live but not kept. */
function boundRetained(aedes: Aedes, s: BrokerSettings, refused: (topic: string, reason: string) => void): void {
  type Persistence = { storeRetained(packet: { topic: string; payload: Buffer }): Promise<void> };
  const persistence = (aedes as unknown as { persistence: Persistence }).persistence;
  const store = persistence.storeRetained.bind(persistence);
  const sizes = new Map<string, number>();
  let total = 0;
  persistence.storeRetained = async (packet) => {
    const size = packet.payload.length;
    const previous = sizes.get(packet.topic);
    if (size === 0) {
      // An empty retained message clears the topic.
      if (previous !== undefined) {
        sizes.delete(packet.topic);
        total -= previous;
      }
      return store(packet);
    }
    if (previous === undefined && sizes.size >= s.maxRetained) return refused(packet.topic, `${sizes.size} topics already retain a message (broker.maxRetained)`);
    if (total - (previous ?? 0) + size > s.maxRetainedBytes) return refused(packet.topic, `retained messages would take more than broker.maxRetainedBytes`);
    sizes.set(packet.topic, size);
    total += size - (previous ?? 0);
    return store(packet);
  };
}
