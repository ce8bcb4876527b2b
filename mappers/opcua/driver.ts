// The OPC UA driver: subscriptions with monitored items by default (the server pushes changes with
// their source timestamps), or polling with one batched ReadRequest per cycle. Writes use the
// variant type of the node's DataType, read once per session and cached.

import { routeLibraryLogToGateway } from './library-log.ts';
import { AttributeIds, type DataType, type NodeId } from 'node-opcua-client';
import { codedError, errorCode } from '../sdk/async.ts';
import { defineDriver, SDK_VERSION, type Connection, type DeviceBinding, type DriverContext, type PropertyBinding, type PushChannel, type RawReading, type ReadRequest } from '../sdk/driver.ts';
import { leaseSession, type SessionLease } from './shared-session.ts';
import { asSessionError } from './client.ts';
import { discoverOpcua } from './discover.ts';
import { checkDevice, identity, normalisePolicy, protocolSchema, securityMode, visitorSchema, withFiles, type OpcuaProtocol, type OpcuaVisitor } from './config.ts';
import { NodeResolver, type Resolved } from './resolve.ts';
import { SubscriptionKeeper } from './subscription.ts';
import { statusError, toRaw, toVariant } from './values.ts';
import type { PropertyValue } from '../../core/values.ts';
import { IoCodes } from '../../core/errors.ts';

type Device = DeviceBinding<OpcuaProtocol, OpcuaVisitor>;
type Property = PropertyBinding<OpcuaVisitor>;

const DEFAULT_TIMEOUT_S = 10;
/** A server refuses a deadband filter on a non-numeric node; the runtime's own deadband still applies. */
const NUMERIC = new Set(['int', 'float', 'double']);
function timeoutMs(device: Device): number {
  return (device.config.timeout ?? DEFAULT_TIMEOUT_S) * 1000;
}

class OpcuaConnection implements Connection<OpcuaVisitor> {
  readonly #device: Device;
  readonly #ctx: DriverContext;
  readonly #lease: SessionLease;
  readonly #nodes: Map<string, Resolved>;
  readonly #dataTypes = new Map<string, Promise<DataType>>();

  constructor(device: Device, ctx: DriverContext, lease: SessionLease, nodes: Map<string, Resolved>) {
    this.#device = device;
    this.#ctx = ctx;
    this.#lease = lease;
    this.#nodes = nodes;
  }

  async read(request: ReadRequest<OpcuaVisitor>): Promise<RawReading[]> {
    const out: RawReading[] = [];
    const wanted: { property: string; nodeId: NodeId }[] = [];
    for (const p of request.properties) {
      const node = this.#nodes.get(p.name)!;
      if ('error' in node) out.push({ property: p.name, quality: 'bad', error: node.error });
      else wanted.push({ property: p.name, nodeId: node.nodeId });
    }
    if (!wanted.length) return out;
    let values;
    try {
      // One ReadRequest for every polled node of the request: the whole point of the plan.
      values = await this.#lease.session.read(wanted.map((w) => ({ nodeId: w.nodeId, attributeId: AttributeIds.Value })), 0);
    } catch (err) {
      throw asSessionError(err, `reading ${wanted.length} node(s) from ${this.#device.config.url}`);
    }
    values.forEach((dv, i) => out.push(toRaw(wanted[i]!.property, dv, `node ${wanted[i]!.nodeId.toString()}`)));
    return out;
  }

  async write(property: Property, input: { value: PropertyValue }): Promise<void> {
    const node = this.#nodes.get(property.name)!;
    if ('error' in node) throw codedError(node.error.code, node.error.message);
    let dataType = this.#dataTypes.get(property.name);
    if (!dataType) {
      dataType = this.#lease.session.getBuiltInDataType(node.nodeId);
      this.#dataTypes.set(property.name, dataType);
      dataType.catch(() => this.#dataTypes.delete(property.name));
    }
    let status;
    try {
      const variant = toVariant(input.value, await dataType);
      status = await this.#lease.session.write({ nodeId: node.nodeId, attributeId: AttributeIds.Value, value: { value: variant } });
    } catch (err) {
      if (errorCode(err, '') === IoCodes.TYPE || errorCode(err, '') === IoCodes.RANGE) throw err;
      throw asSessionError(err, `writing node ${node.nodeId.toString()}`);
    }
    if (status.isNotGood()) throw statusError(status, `writing node ${node.nodeId.toString()}`);
  }

  /** Only the properties Driver.pushes names arrive here; the runtime polls the others through plan(). */
  async subscribe(properties: readonly Property[], emit: (readings: RawReading[]) => void, push?: PushChannel): Promise<() => Promise<void>> {
    const c = this.#device.config;
    const unresolved: RawReading[] = [];
    const nodes = [];
    for (const [index, p] of properties.entries()) {
      const node = this.#nodes.get(p.name)!;
      if ('error' in node) unresolved.push({ property: p.name, quality: 'bad', error: node.error });
      else nodes.push({ property: p.name, index, nodeId: node.nodeId, samplingInterval: p.visitor.samplingInterval ?? p.spec.collectCycle, queueSize: p.visitor.queueSize ?? 1, deadband: NUMERIC.has(p.spec.type) ? p.spec.deadband : undefined });
    }
    if (unresolved.length) emit(unresolved);
    if (!nodes.length) return async () => undefined;
    const keeper = new SubscriptionKeeper({
      session: this.#lease.session,
      nodes,
      publishingInterval: c.publishingInterval ?? Math.min(...properties.map((p) => p.spec.collectCycle)),
      keepAliveCount: c.keepAliveCount ?? 10,
      timeoutMs: timeoutMs(this.#device),
      emit,
      push,
      lost: (err, sessionDead) => (sessionDead ? this.#lease.fail(err) : this.#ctx.lost(err)),
      log: this.#ctx.log,
    });
    await keeper.start();
    return () => keeper.stop();
  }

  close(): Promise<void> {
    return this.#lease.release();
  }
}

export const opcuaDriver = defineDriver<OpcuaProtocol, OpcuaVisitor>({
  name: 'opcua',
  sdkVersion: `^${SDK_VERSION}`,
  protocolSchema,
  visitorSchema,
  check: (device) => checkDevice(device),
  link: (device) => device.config.url,
  // OPC UA pipelines requests on one secure channel: devices on one server need not queue behind each other.
  maxInFlight: () => 4,
  timeout: timeoutMs,
  // Subscribe by default; `mode: poll` on the device or one property's visitor polls instead.
  pushes: (p, device) => (p.visitor.mode ?? device.config.mode ?? 'subscribe') === 'subscribe',
  plan(_device, properties) {
    const byCycle = new Map<number, Property[]>();
    for (const p of properties) byCycle.set(p.spec.collectCycle, [...(byCycle.get(p.spec.collectCycle) ?? []), p]);
    return [...byCycle.values()].map((group) => ({ properties: group }));
  },
  async connect(device, ctx) {
    const c = device.config;
    routeLibraryLogToGateway(ctx.log.level);
    const lease = await leaseSession(ctx, withFiles(device), timeoutMs(device));
    try {
      const resolver = new NodeResolver(lease.session);
      const nodes = new Map<string, Resolved>();
      await Promise.all(device.properties.map(async (p) => nodes.set(p.name, await resolver.resolve(p))));
      ctx.log.info({ url: c.url, securityPolicy: normalisePolicy(c.securityPolicy), securityMode: securityMode(c), identity: identity(c).kind, user: c.userName, mode: c.mode ?? 'subscribe' }, 'OPC UA session open');
      return new OpcuaConnection(device, ctx, lease, nodes);
    } catch (err) {
      await lease.release();
      throw err;
    }
  },
  // Browse the address space and propose a Device: see discover.ts.
  discover: discoverOpcua,
});
