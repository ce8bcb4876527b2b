// The embedded MQTT broker (aedes) for a gateway that runs with no broker of its own.
// Loopback by default; anywhere else it needs users (a password file or client certificates).
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
import { PasswordFile } from './broker/passwords.ts';
import { Permissions, type Who } from './broker/permissions.ts';
import { BROKER_DEFAULTS, checkExposure, readTls, type BrokerSettings } from './broker/settings.ts';

export { BROKER_DEFAULTS, type BrokerSettings } from './broker/settings.ts';

export interface EmbeddedBroker {
  url: string;
  port: number;
  /** The broker itself, for the gateway's own event bus to use in-process. */
  aedes: Aedes;
  /** True while it accepts connections (for /healthz). */
  readonly serving: boolean;
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
}

export async function startEmbeddedBroker(opts: EmbeddedBrokerOptions): Promise<EmbeddedBroker> {
  const s: BrokerSettings = { ...BROKER_DEFAULTS, ...opts.settings, ...(opts.host ? { host: opts.host } : {}) };
  checkExposure(s);
  // Any tls block means TLS: `requireClientCert` alone must never leave a plain listener open.
  const tls = s.tls ? readTls(s.tls) : undefined;
  const passwords = s.passwordFile ? PasswordFile.read(s.passwordFile) : undefined;
  const permissions = new Permissions({ acl: s.aclFile ? AclFile.read(s.aclFile) : undefined, mapperUsers: s.mapperUsers, servedLocally: opts.servedLocally });
  const log = opts.log.child({ component: 'broker' });
  if (s.mapperUsers.length > 0 && !passwords && !tls?.ca) {
    log.warn({ mapperUsers: s.mapperUsers }, 'broker.mapperUsers is set, but with no broker.passwordFile or broker.tls.ca no client can authenticate as one');
  }
  const who = new WeakMap<Client, Who>();
  const whoIs = (client: Client): Who => who.get(client) ?? { clientId: client.id };

  const aedes = await Aedes.createBroker({
    // No cap on publishes in flight: deliveries are released at once (twin/broker/outgoing.ts), so a cap
    // would only add mqemitter's queue, which drains recursively and overflows the stack when long.
    concurrency: 0,
    authenticate(client, username, password, done) {
      const cn = certificateUser(client);
      if (cn !== undefined) {
        who.set(client, { user: cn, clientId: client.id });
        return done(null, true);
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
  aedes.on('clientError', (client, err) => log.debug({ client: client.id, err: err.message }, 'mqtt client error'));
  aedes.on('connectionError', (_client, err) => log.debug({ err: err.message }, 'mqtt connection error'));

  const accept = (conn: Socket) => {
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
  const server: Server = tls
    ? createTlsServer({ cert: tls.cert, key: tls.key, ca: tls.ca, requestCert: tls.ca !== undefined, rejectUnauthorized: tls.requireClientCert }, accept)
    : createServer(accept);
  if (tls) server.on('tlsClientError', (err) => log.info({ err: err.message }, 'mqtt TLS handshake failed'));

  const host = s.host;
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      aedes.close();
      const hint = err.code === 'EADDRINUSE' ? ' (another broker is using it: pass --mqtt-url to use that broker, or --mqtt-port to pick another port)' : '';
      reject(new Error(`embedded MQTT broker cannot listen on ${host}:${opts.port}: ${err.message}${hint}`, { cause: err }));
    };
    server.once('error', onError);
    server.listen(opts.port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : opts.port;
  const url = `${tls ? 'mqtts' : 'mqtt'}://${host.includes(':') ? `[${host}]` : host}:${port}`;
  log.info({ url, users: passwords?.size, acl: s.aclFile !== undefined, clientCerts: tls?.ca !== undefined }, 'embedded MQTT broker listening');
  let closing: Promise<void> | undefined;
  return {
    url,
    port,
    aedes,
    get serving() {
      return server.listening && !aedes.closed;
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        aedes.close();
      });
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
