// The Modbus driver: KubeEdge configData in, a coalesced read plan, raw registers out (the SDK
// codec decodes them), writes through the codec in reverse. Links and transports are shared per
// ip:port or serial port; the runtime's link scheduler keeps it fair and bounded.

import { codedError, defineDriver, reorder, SDK_VERSION, serialKey, type DriverContext, type PropertyBinding, type ReadRequest } from '../sdk/index.ts';
import { article, checkDevice, isRegisterMap, isRtu, mapOf, registerMap, serialSettings, TABLES, tcpEndpoint, unitOf, visitorSchema, protocolSchema, type ModbusProtocol, type ModbusVisitor } from './config.ts';
import { parseResponse, readRequest, writeMultipleRegisters, writeSingleCoil, writeSingleRegister } from './pdu.ts';
import { limitsOf, planReads, type PlanLimits, type Span } from './plan.ts';
import { decodeSpan, spanLayouts } from './span.ts';
import { isSplit, readInParts, refusedAddress } from './split-reads.ts';
import { RtuTransport } from './rtu.ts';
import { TcpTransport } from './tcp.ts';
import type { Transport } from './transport.ts';
import { IoCodes } from '../../core/errors.ts';

type Request = ReadRequest<ModbusVisitor>;
type Binding = PropertyBinding<ModbusVisitor>;

export const DEFAULT_TIMEOUT_MS = 1000;

/** The read request of a planned span, built once: a plan's spans live as long as its configuration. */
const requests = new WeakMap<Span, Uint8Array>();

function requestOf(span: Span): Uint8Array {
  let pdu = requests.get(span);
  if (!pdu) requests.set(span, (pdu = readRequest(TABLES[span.table].fc, span.address, span.count)));
  return pdu;
}

function timeoutOf(config: ModbusProtocol): number {
  return config.timeout ?? DEFAULT_TIMEOUT_MS;
}

/** The transport of every unit id behind one endpoint or bus: when it dies, the runtime reconnects them all. */
async function openTransport(config: ModbusProtocol, ctx: DriverContext): Promise<Transport> {
  const serial = serialSettings(config);
  const { host, port } = tcpEndpoint(config);
  const lease = await ctx.share<Transport>(serial ? `modbus-rtu:${serial.path}` : `modbus-tcp:${host}:${port}`, async (fail) => {
    const t = serial
      ? new RtuTransport(await ctx.links.acquireSerial(serial, 'modbus'), () => ctx.links.release(serialKey(serial.path)))
      : await TcpTransport.open(host, port, timeoutOf(config));
    t.onLost(fail);
    if (t.dead) fail(codedError(IoCodes.CONNECTION_RESET, 'the Modbus transport closed as it opened'));
    return t;
  });
  return lease.link;
}

export const modbusDriver = defineDriver<ModbusProtocol, ModbusVisitor>({
  name: 'modbus',
  sdkVersion: `^${SDK_VERSION}`,
  protocolSchema,
  visitorSchema,
  check(device) {
    const problems = checkDevice(device);
    const limits = limitsOf(device.config);
    for (const p of device.properties) {
      if (problems.some((x) => x.property === p.name) || TABLES[p.visitor.register].bits) continue;
      const count = mapOf(p).count;
      if (count > limits.maxRegisters) problems.push({ property: p.name, path: 'limit', message: `needs ${count} registers but maxRegistersPerRequest is ${limits.maxRegisters}` });
    }
    return problems;
  },
  link: (d) => (isRtu(d.config) ? `serial:${d.config.serialName}` : `tcp:${tcpEndpoint(d.config).host}:${tcpEndpoint(d.config).port}`),
  maxInFlight: (d) => (isRtu(d.config) ? 1 : d.config.maxInFlight ?? 1),
  timeout: (d) => timeoutOf(d.config),
  serial: (d) => serialSettings(d.config),
  plan: (d, properties) => planReads(properties, limitsOf(d.config)),
  // check() has already refused a property without a valid map; the preparer still asks for codecs.
  codec: (p) => {
    const m = registerMap(p.visitor);
    return isRegisterMap(m) ? m.codec : undefined;
  },

  async connect(device, ctx) {
    const unit = unitOf(device.config);
    const limits: PlanLimits = limitsOf(device.config);
    const maps = new Map(device.properties.map((p) => [p.name, mapOf(p)]));
    const layout = spanLayouts(maps);
    const transport = await openTransport(device.config, ctx);

    const ask = async (pdu: Uint8Array, signal: AbortSignal) => parseResponse(pdu, await transport.request(unit, pdu, signal));
    const fetchSpan = (span: Span, signal: AbortSignal) => ask(requestOf(span), signal);

    const readPart = async (part: Request, signal: AbortSignal) => decodeSpan(part, await fetchSpan(part.detail as Span, signal), maps);

    return {
      async read(request, signal) {
        if (!isSplit(request)) {
          // The common case: the request as planned answers, as one block of registers or bits
          // (the runtime cuts it into properties only when it changed).
          try {
            const data = await fetchSpan(request.detail as Span, signal);
            return { block: data, readings: () => decodeSpan(request, data, maps), layout: layout(request) };
          } catch (err) {
            if (!refusedAddress(err)) throw err;
            return readInParts(request, limits, (part) => readPart(part, signal), ctx.log, err);
          }
        }
        return readInParts(request, limits, (part) => readPart(part, signal), ctx.log);
      },

      async write(p: Binding, { raw }, signal) {
        const m = maps.get(p.name)!;
        if (!TABLES[m.table].writable) throw codedError(IoCodes.MODBUS_NOT_WRITABLE, `${article(m.table)} cannot be written; only CoilRegister and HoldingRegister can`);
        if (!raw) throw codedError(IoCodes.CODEC, `no encoded value for ${p.name}`);
        if (TABLES[m.table].bits) {
          await ask(writeSingleCoil(m.address, raw.some((b) => b !== 0)), signal);
        } else if (m.codec.type === 'bit') {
          // One bit of a register: read the register, change that bit, write it back.
          const current = await fetchSpan({ table: m.table, address: m.address, count: m.count }, signal);
          const next = Uint8Array.from(current);
          const index = m.codec.bitIndex ?? 0;
          const mask = new Uint8Array(next.length);
          mask[mask.length - 1 - Math.floor(index / 8)] = 1 << index % 8;
          // raw is already in wire order; the mask must be too.
          const placed = reorder(mask, m.codec.order);
          for (let i = 0; i < next.length; i++) next[i] = (next[i]! & ~placed[i]!) | (raw[i]! & placed[i]!);
          await ask(m.count === 1 ? writeSingleRegister(m.address, next) : writeMultipleRegisters(m.address, next), signal);
        } else if (m.count === 1) {
          await ask(writeSingleRegister(m.address, raw), signal);
        } else {
          await ask(writeMultipleRegisters(m.address, raw), signal);
        }
      },

      async close() {},
    };
  },
});
