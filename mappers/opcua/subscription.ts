// One subscription per device with a watchdog. OPC UA promises a keep-alive at least every
// publishingInterval x maxKeepAliveCount; when neither data nor keep-alives arrive in twice that,
// or the subscription reports a Bad status or terminates, the session is probed: alive -> the
// subscription and every monitored item are recreated here; dead -> the session is declared broken,
// every device on it goes offline, and the runtime rebuilds it with backoff. Silence is never
// accepted as "no change".

import './library-log.ts';
import {
  AttributeIds, ClientMonitoredItemGroup, DataChangeFilter, DataChangeTrigger, DeadbandType, TimestampsToReturn,
  type ClientSession, type ClientSubscription, type DataValue, type NodeId,
} from 'node-opcua-client';
import type { Logger } from '../../core/log.ts';
import { codedError, errorMessage } from '../sdk/async.ts';
import type { PushChannel, RawReading } from '../sdk/driver.ts';
import { pushDataValue, toRaw } from './values.ts';
import { IoCodes } from '../../core/errors.ts';

export interface MonitoredNode {
  property: string;
  /** The property's index in what subscribe() received: the push channel's key. */
  index: number;
  nodeId: NodeId;
  samplingInterval: number;
  queueSize: number;
  deadband?: number;
}

export interface SubscriptionOptions {
  session: ClientSession;
  nodes: MonitoredNode[];
  publishingInterval: number;
  keepAliveCount: number;
  timeoutMs: number;
  emit(readings: RawReading[]): void;
  /** The runtime's push channel, when it gave one: values go there without a RawReading each. */
  push?: PushChannel;
  /** `sessionDead`: the session itself failed the probe, not just this subscription. */
  lost(err: Error, sessionDead: boolean): void;
  log: Logger;
}

const SERVER_STATE = 'i=2259';

export class SubscriptionKeeper {
  readonly #o: SubscriptionOptions;
  #subscription?: ClientSubscription;
  #lastHeard = Date.now();
  #watchdog?: NodeJS.Timeout;
  #deadlineMs = 0;
  #closed = false;
  #repairing = false;
  #pending: RawReading[] = [];

  constructor(options: SubscriptionOptions) {
    this.#o = options;
  }

  async start(): Promise<void> {
    await this.#create();
    this.#watchdog = setInterval(() => this.#check(), Math.max(100, Math.min(1000, this.#deadlineMs / 4)));
  }

  async stop(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#watchdog);
    const sub = this.#subscription;
    this.#subscription = undefined;
    await sub?.terminate().catch(() => undefined);
  }

  async #create(): Promise<void> {
    const { session, publishingInterval, keepAliveCount } = this.#o;
    const sub = await session.createSubscription2({
      requestedPublishingInterval: publishingInterval,
      requestedMaxKeepAliveCount: keepAliveCount,
      requestedLifetimeCount: keepAliveCount * 6,
      maxNotificationsPerPublish: 0,
      publishingEnabled: true,
      priority: 10,
    });
    if (this.#closed) {
      await sub.terminate().catch(() => undefined);
      return;
    }
    this.#subscription = sub;
    this.#lastHeard = Date.now();
    const keepAlivePeriod = sub.publishingInterval * sub.maxKeepAliveCount;
    this.#deadlineMs = Math.max(2 * keepAlivePeriod, keepAlivePeriod + 1000);
    const heard = () => (this.#lastHeard = Date.now());
    sub.on('keepalive', heard);
    sub.on('received_notifications', heard);
    sub.on('status_changed', (status) => {
      if (status.isNotGood()) this.#repair(`the subscription reported ${status.name}`);
    });
    sub.on('terminated', () => this.#repair('the server terminated the subscription'));
    sub.on('error', (err) => this.#repair(`subscription error: ${errorMessage(err)}`));
    sub.on('internal_error', (err) => this.#repair(`subscription error: ${errorMessage(err)}`));
    try {
      await Promise.all([...this.#groups()].map(([, nodes]) => this.#monitor(sub, nodes)));
    } catch (err) {
      // The session may be shared: leave no half-built subscription behind in it.
      this.#subscription = undefined;
      sub.removeAllListeners();
      await sub.terminate().catch(() => undefined);
      throw err;
    }
  }

  /** Monitored items sharing sampling, queue and deadband go in one CreateMonitoredItems request. */
  #groups(): Map<string, MonitoredNode[]> {
    const groups = new Map<string, MonitoredNode[]>();
    for (const n of this.#o.nodes) {
      const key = `${n.samplingInterval}/${n.queueSize}/${n.deadband ?? ''}`;
      groups.set(key, [...(groups.get(key) ?? []), n]);
    }
    return groups;
  }

  async #monitor(sub: ClientSubscription, nodes: MonitoredNode[]): Promise<void> {
    const first = nodes[0]!;
    const filter = first.deadband ? new DataChangeFilter({ trigger: DataChangeTrigger.StatusValue, deadbandType: DeadbandType.Absolute, deadbandValue: first.deadband }) : undefined;
    const group = ClientMonitoredItemGroup.create(
      sub,
      nodes.map((n) => ({ nodeId: n.nodeId, attributeId: AttributeIds.Value })),
      { samplingInterval: first.samplingInterval, queueSize: first.queueSize, discardOldest: true, filter },
      TimestampsToReturn.Both,
    );
    // Named once per item, not per value: only a bad value's message uses it, and a NodeId's
    // toString() on every notification showed in the unpaced benchmark's profile.
    const labels = nodes.map((n) => `node ${n.nodeId.toString()}`);
    const push = this.#o.push;
    group.on('changed', (_item: unknown, dv: DataValue, index: number) => {
      const node = nodes[index];
      if (!node || this.#closed) return;
      if (push) pushDataValue(push, node.index, node.property, dv, labels[index]!);
      else this.#push(toRaw(node.property, dv, labels[index]!));
    });
    await new Promise<void>((resolve, reject) => {
      group.once('initialized', () => resolve());
      group.once('err', (message: string) => reject(codedError('BAD_MONITORED_ITEM', `creating monitored items failed: ${message}`)));
    });
    group.monitoredItems.forEach((item, i) => {
      const status = (item as unknown as { statusCode?: { isGood(): boolean; name: string } }).statusCode;
      const node = nodes[i]!;
      if (status && !status.isGood()) {
        // The node does not exist or refuses monitoring: say so instead of staying silent.
        this.#push({ property: node.property, quality: 'bad', error: { code: status.name.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase(), message: `monitoring node ${node.nodeId.toString()} failed: ${status.name}` } });
      }
    });
  }

  /** Readings from one publish response reach the runtime as one batch. */
  #push(reading: RawReading): void {
    if (this.#closed) return;
    if (this.#pending.push(reading) === 1) {
      queueMicrotask(() => {
        const batch = this.#pending;
        this.#pending = [];
        if (!this.#closed) this.#o.emit(batch);
      });
    }
  }

  #check(): void {
    if (this.#closed || this.#repairing) return;
    const silent = Date.now() - this.#lastHeard;
    if (silent > this.#deadlineMs) this.#repair(`no keep-alive or data for ${silent} ms (expected one every ${this.#deadlineMs / 2} ms at most)`);
  }

  /** Probe the session: recreate the subscription in place when it answers, else report the connection lost. */
  #repair(reason: string): void {
    if (this.#closed || this.#repairing) return;
    this.#repairing = true;
    this.#o.log.warn({ reason }, 'OPC UA subscription unhealthy; probing the session');
    void (async () => {
      try {
        await this.#probe();
      } catch (err) {
        this.#o.lost(codedError(IoCodes.TIMED_OUT, `${reason}; the session does not answer either (${errorMessage(err)})`), true);
        return;
      }
      try {
        const old = this.#subscription;
        this.#subscription = undefined;
        old?.removeAllListeners();
        await old?.terminate().catch(() => undefined);
        await this.#create();
        this.#o.log.info({ reason }, 'OPC UA subscription and monitored items recreated');
      } catch (err) {
        this.#o.lost(codedError(IoCodes.CONNECTION_RESET, `${reason}; recreating the subscription failed (${errorMessage(err)})`), false);
      }
    })().finally(() => {
      this.#repairing = false;
    });
  }

  async #probe(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(codedError(IoCodes.TIMED_OUT, `no answer within ${this.#o.timeoutMs} ms`)), this.#o.timeoutMs)));
    try {
      const dv = await Promise.race([this.#o.session.read({ nodeId: SERVER_STATE, attributeId: AttributeIds.Value }), timeout]);
      if (dv.statusCode.isNotGood()) throw codedError(IoCodes.CONNECTION_RESET, `reading the server state returned ${dv.statusCode.name}`);
    } finally {
      clearTimeout(timer);
    }
  }
}
