// How the event bus reaches MQTT. With an external broker it is an MQTT client (mqtt.js, loaded
// only then). With the embedded broker it publishes and subscribes inside the broker itself:
// no socket, no second MQTT stack in the process (mqtt.js alone costs ~15 MB of memory), and
// every MQTT application still sees exactly the same topics and payloads.

import { randomBytes } from 'node:crypto';
import type { Aedes } from 'aedes';
import type { Logger } from '../core/log.ts';
import { redactText, redactUrl } from '../core/redact.ts';

/** `retained`: the broker delivered a stored retained message, not one published just now. */
export type OnMessage = (topic: string, payload: Buffer, retained: boolean) => void;

export interface BusTransport {
  readonly connected: boolean;
  /** QoS 0: results, deltas and data updates are superseded by the next ones. A Buffer is sent as is, not copied. */
  publish(topic: string, payload: string | Buffer): void;
  /** QoS 1: resolves when the broker acknowledged it (PUBACK), for what must not be lost. */
  publishConfirmed(topic: string, payload: string): Promise<void>;
  /** Called with true on every (re)connection and false on every loss of the broker. */
  onLink(fn: (connected: boolean) => void): void;
  /** Resolves once subscribed, or after `patienceMs` while it keeps trying in the background. */
  start(topics: string[], onMessage: OnMessage, patienceMs: number): Promise<void>;
  close(): Promise<void>;
}

export interface ClientOptions {
  url: string;
  clientIdPrefix: string;
  username?: string;
  password?: string;
  tls?: { ca?: string; cert?: string; key?: string; rejectUnauthorized?: boolean };
  log: Logger;
}

/** A QoS 0 publish has nothing to wait for: one callback for all of them, not a closure each. */
const ignore = (): void => {};

/** In-process transport on the embedded aedes broker. */
export class AedesTransport implements BusTransport {
  private open = true;

  constructor(private readonly aedes: Aedes) {}

  get connected(): boolean {
    return this.open && !this.aedes.closed;
  }

  publish(topic: string, payload: string | Buffer): void {
    if (!this.connected) return;
    this.aedes.publish({ cmd: 'publish', topic, payload: typeof payload === 'string' ? Buffer.from(payload) : payload, qos: 0, retain: false, dup: false }, ignore);
  }

  publishConfirmed(topic: string, payload: string): Promise<void> {
    return new Promise((resolve, reject) =>
      this.aedes.publish({ cmd: 'publish', topic, payload: Buffer.from(payload), qos: 1, retain: false, dup: false }, (err) => (err ? reject(err) : resolve())),
    );
  }

  /** In-process: the link is the broker itself, up for as long as the gateway runs. */
  onLink(): void {}

  async start(topics: string[], onMessage: OnMessage): Promise<void> {
    await Promise.all(
      topics.map(
        (topic) =>
          new Promise<void>((resolve) =>
            this.aedes.subscribe(
              topic,
              (packet, done) => {
                // An in-process subscription gets live messages only (the broker replays retained
                // ones to subscribing clients, not to this handler), whatever flag the publisher set.
                onMessage(packet.topic, Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload), false);
                done();
              },
              () => resolve(),
            ),
          ),
      ),
    );
  }

  async close(): Promise<void> {
    this.open = false;
  }
}

/** A real MQTT client for an external broker (mosquitto, EMQX, a cloud broker). */
export class ClientTransport implements BusTransport {
  private client: import('mqtt').MqttClient | undefined;
  private wasConnected = false;
  private readonly linkListeners: ((connected: boolean) => void)[] = [];

  constructor(private readonly opts: ClientOptions) {}

  get connected(): boolean {
    return this.client?.connected ?? false;
  }

  publish(topic: string, payload: string | Buffer): void {
    this.client?.publish(topic, payload, { qos: 0 });
  }

  publishConfirmed(topic: string, payload: string): Promise<void> {
    const client = this.client;
    if (!client) return Promise.reject(new Error('the MQTT client is closed'));
    return new Promise((resolve, reject) => client.publish(topic, payload, { qos: 1 }, (err) => (err ? reject(err) : resolve())));
  }

  onLink(fn: (connected: boolean) => void): void {
    this.linkListeners.push(fn);
  }

  private link(connected: boolean): void {
    for (const fn of this.linkListeners) fn(connected);
  }

  async start(topics: string[], onMessage: OnMessage, patienceMs: number): Promise<void> {
    const { default: mqtt } = await import('mqtt');
    const { tls, username, password, log } = this.opts;
    const url = this.opts.url;
    // What the logs say: the URL may carry a password, and so may an error quoting it.
    const shown = redactUrl(url);
    const client = mqtt.connect(url, {
      clientId: `${this.opts.clientIdPrefix}-${randomBytes(4).toString('hex')}`.slice(0, 64),
      reconnectPeriod: 1000,
      connectTimeout: 10_000,
      queueQoSZero: false,
      clean: true,
      ...(username !== undefined ? { username } : {}),
      ...(password !== undefined ? { password } : {}),
      ...(tls?.ca ? { ca: tls.ca } : {}),
      ...(tls?.cert ? { cert: tls.cert } : {}),
      ...(tls?.key ? { key: tls.key } : {}),
      ...(tls?.rejectUnauthorized !== undefined ? { rejectUnauthorized: tls.rejectUnauthorized } : {}),
    });
    this.client = client;
    client.on('message', (topic, payload, packet) => onMessage(topic, payload, packet.retain));
    client.on('error', (err) => log.warn({ url: shown, err: redactText(err.message) }, 'eventbus: MQTT error'));
    client.on('offline', () => {
      if (this.wasConnected) log.warn({ url: shown }, 'eventbus: lost the MQTT broker, reconnecting');
      this.wasConnected = false;
      this.link(false);
    });
    client.on('close', () => this.link(false));
    const subscribed = new Promise<void>((resolve) => {
      client.on('connect', () => {
        // Results and data/update are small packets: send them now, not after Nagle's delay.
        (client.stream as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);
        this.wasConnected = true;
        log.info({ url: shown }, 'eventbus: connected to the MQTT broker');
        client.subscribeAsync(topics, { qos: 1 }).then(
          () => {
            resolve();
            this.link(true);
          },
          (err: Error) => log.error({ err: redactText(err.message) }, 'eventbus: subscribe failed'),
        );
      });
    });
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        log.warn({ url: shown }, 'eventbus: MQTT broker not reachable yet; the gateway runs on and keeps retrying');
        resolve();
      }, patienceMs);
    });
    await Promise.race([subscribed, late]);
    clearTimeout(timer);
  }

  async close(): Promise<void> {
    const c = this.client;
    this.client = undefined;
    if (c) await c.endAsync(true).catch(() => undefined);
  }
}
