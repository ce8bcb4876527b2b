// One BLE device's connection: a GATT session when it has characteristic properties (a slot on
// the adapter, found by scan, connected, services discovered), and an advertisement listener when
// it has advertisement properties. The runtime reconnects it with backoff after `lost`, and calls
// subscribe again on the new connection, which re-subscribes every notification.

import type { Characteristic, Peripheral } from '@stoprocent/noble';
import { codedError, errorMessage, raceAbort, type CodecSpec, type Connection, type DriverContext, type PropertyBinding, type RawReading, type ReadRequest } from '../sdk/index.ts';
import type { BleAdapter } from './adapter.ts';
import type { BleProtocol, BleVisitor } from './config.ts';
import { normAddress, normUuid } from './ids.ts';
import { advertisementPayload, atOffset, dataWriteBytes, decodeDirect, type AdvertisementView } from './values.ts';
import { IoCodes } from '../../core/errors.ts';

type Prop = PropertyBinding<BleVisitor>;
type Emit = (readings: RawReading[]) => void;

export interface ConnectionDeps {
  id: string;
  config: BleProtocol;
  properties: readonly Prop[];
  adapter: BleAdapter;
  ctx: DriverContext;
  codec: (p: Prop) => CodecSpec | undefined;
  /** Give the adapter back (the runtime's link registry counts users). */
  release: () => Promise<void>;
}

/** Notified, indicated and advertised properties arrive by subscription; the others are polled. */
export const isPush = (p: Prop) => Boolean(p.visitor.advertisement) || p.visitor.mode === 'notify' || p.visitor.mode === 'indicate';

/** noble rejects with "Disconnected <reason>" when the link drops mid-request. */
function gattError(err: unknown, what: string): Error {
  const message = errorMessage(err);
  if (/^Disconnected/i.test(message)) return codedError(IoCodes.CONNECTION_RESET, `${what}: the peripheral disconnected (${message})`);
  return codedError(IoCodes.ATT, `${what}: ${message}`);
}

/** `promise`, or ETIMEDOUT saying what took too long. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  const signal = AbortSignal.timeout(ms);
  return raceAbort(promise, signal).catch((err: unknown) => {
    if (signal.aborted) throw codedError(IoCodes.TIMED_OUT, `${what} timed out after ${Math.round(ms)} ms`);
    throw err;
  });
}

export async function openConnection(d: ConnectionDeps): Promise<Connection<BleVisitor>> {
  const gatt = d.properties.filter((p) => !p.visitor.advertisement);
  const adv = d.properties.filter((p) => p.visitor.advertisement);
  const cleanups: (() => void | Promise<void>)[] = [];
  // A little inside the runtime's own connect timeout, so the user reads which step ran out.
  const deadline = Date.now() + d.config.timeout * 0.9;
  const left = () => Math.max(1, deadline - Date.now());
  const address = normAddress(d.config.macAddress);
  let peripheral: Peripheral | undefined;
  const chars = new Map<string, Characteristic>();
  let lastAdv: { view: AdvertisementView; rssi: number; at: number } | undefined;
  let onAdvertisement: (() => void) | undefined;
  const written = new Map<string, Buffer>();

  const close = async () => {
    for (const fn of cleanups.reverse()) await Promise.resolve(fn()).catch(() => undefined);
    cleanups.length = 0;
  };
  cleanups.push(() => d.release());
  cleanups.push(d.adapter.onPowerLoss((state) => d.ctx.lost(codedError(IoCodes.NO_ADAPTER, `Bluetooth adapter ${d.adapter.name} went ${state}`))));

  try {
    d.adapter.assertPowered();
    if (adv.length) {
      const seen = new Promise<void>((resolve) => {
        const unwatch = d.adapter.watch((p) => {
          if (normAddress(p.address) !== address) return;
          lastAdv = { view: { localName: p.advertisement.localName, manufacturerData: p.advertisement.manufacturerData, serviceData: p.advertisement.serviceData }, rssi: p.rssi, at: Date.now() };
          resolve();
          onAdvertisement?.();
        });
        cleanups.push(unwatch);
      });
      if (!gatt.length) {
        const timer = new Promise<never>((_, reject) => {
          const t = setTimeout(() => reject(codedError(IoCodes.TIMED_OUT, `${d.config.macAddress} sent no advertisement within ${d.config.timeout} ms: is it powered and in range?`)), left());
          cleanups.push(() => clearTimeout(t));
        });
        await raceAbort(Promise.race([seen, timer]), d.ctx.signal);
      }
      const staleness = setInterval(() => {
        if (lastAdv && Date.now() - lastAdv.at > d.config.advertisementTimeout) {
          d.ctx.lost(codedError(IoCodes.TIMED_OUT, `no advertisement from ${d.config.macAddress} for ${d.config.advertisementTimeout} ms`));
        }
      }, Math.min(1000, d.config.advertisementTimeout));
      cleanups.push(() => clearInterval(staleness));
    }

    if (gatt.length) {
      const releaseSlot = await d.adapter.acquireSlot(d.id, Math.ceil(d.config.timeout / 2), d.ctx.signal);
      cleanups.push(releaseSlot);
      const p = await d.adapter.find(address, left(), d.ctx.signal);
      await d.adapter.connect(p, left());
      peripheral = p;
      const onDisconnect = (reason: unknown) => d.ctx.lost(codedError(IoCodes.CONNECTION_RESET, `${d.config.macAddress} disconnected (${String(reason)})`));
      p.once('disconnect', onDisconnect);
      cleanups.push(async () => {
        p.removeListener('disconnect', onDisconnect);
        if (p.state === 'connected') await within(p.disconnectAsync(), 2000, 'disconnecting').catch(() => undefined);
      });
      const services = await within(p.discoverServicesAsync([]), left(), `discovering the services of ${d.config.macAddress}`);
      for (const s of services) {
        for (const c of await within(s.discoverCharacteristicsAsync([]), left(), `discovering the characteristics of service ${s.uuid}`)) {
          chars.set(`${s.uuid}/${c.uuid}`, c);
          if (!chars.has(c.uuid)) chars.set(c.uuid, c);
        }
      }
    }
  } catch (err) {
    await close();
    throw err;
  }

  const characteristic = (p: Prop): Characteristic => {
    const uuid = normUuid(p.visitor.characteristicUUID!);
    const c = chars.get(p.visitor.serviceUUID ? `${normUuid(p.visitor.serviceUUID)}/${uuid}` : uuid);
    if (!c) {
      const found = [...chars.keys()].filter((k) => k.includes('/')).join(', ') || 'none';
      throw codedError(IoCodes.NO_CHARACTERISTIC, `${d.config.macAddress} has no characteristic ${p.visitor.characteristicUUID}${p.visitor.serviceUUID ? ` in service ${p.visitor.serviceUUID}` : ''} (service/characteristic found: ${found})`);
    }
    return c;
  };

  const fromBytes = (p: Prop, data: Uint8Array): RawReading => {
    try {
      return d.codec(p) ? { property: p.name, raw: atOffset(data, p.visitor) } : { property: p.name, value: decodeDirect(p, data) };
    } catch (err) {
      return { property: p.name, error: { code: IoCodes.CODEC, message: errorMessage(err) } };
    }
  };

  const fromAdvertisement = (p: Prop): RawReading => {
    if (!lastAdv) return { property: p.name, error: { code: IoCodes.NO_DATA, message: `no advertisement from ${d.config.macAddress} yet` } };
    const payload = advertisementPayload(lastAdv.view, lastAdv.rssi, p.visitor.advertisement!);
    if (payload === undefined) return { property: p.name, error: { code: IoCodes.NO_DATA, message: `the last advertisement carried no ${p.visitor.advertisement!.source}${p.visitor.advertisement!.companyId !== undefined ? ` of company ${p.visitor.advertisement!.companyId}` : ''}` } };
    if (typeof payload === 'number') return { property: p.name, value: payload, time: lastAdv.at };
    const bytes = typeof payload === 'string' ? Buffer.from(payload) : payload;
    return { ...fromBytes(p, bytes), time: lastAdv.at };
  };

  const readGatt = async (p: Prop, signal: AbortSignal): Promise<RawReading> => {
    let c: Characteristic;
    try {
      c = characteristic(p);
    } catch (err) {
      return { property: p.name, error: { code: IoCodes.NO_CHARACTERISTIC, message: errorMessage(err) } };
    }
    if (!c.properties.includes('read')) {
      const last = written.get(p.name);
      // A write-only characteristic: the value last written, marked uncertain (nobody read it).
      if (last) return { ...fromBytes(p, last), quality: 'uncertain' };
      return { property: p.name, error: { code: IoCodes.NOT_READABLE, message: `characteristic ${c.uuid} cannot be read (it allows ${c.properties.join(', ')})` } };
    }
    try {
      return fromBytes(p, await raceAbort(c.readAsync(), signal));
    } catch (err) {
      // The runtime's own abort (timeout, stop) keeps its code; a bare timeout signal becomes ETIMEDOUT.
      if (signal.aborted) throw (signal.reason as { code?: string })?.code ? signal.reason : codedError(IoCodes.TIMED_OUT, `reading ${p.visitor.characteristicUUID} timed out`);
      const e = gattError(err, `reading ${p.visitor.characteristicUUID}`);
      if ((e as Error & { code: string }).code === IoCodes.CONNECTION_RESET) throw e;
      return { property: p.name, error: { code: IoCodes.ATT, message: e.message } };
    }
  };

  const connection: Connection<BleVisitor> = {
    async read(request: ReadRequest<BleVisitor>, signal: AbortSignal) {
      const out: RawReading[] = [];
      for (const p of request.properties) out.push(p.visitor.advertisement ? fromAdvertisement(p) : await readGatt(p, signal));
      return out;
    },
    async write(p, { value, raw }, signal) {
      const v = p.visitor;
      let bytes: Buffer;
      try {
        bytes = v.dataWrite ? dataWriteBytes(v.dataWrite, value) : raw ? Buffer.from(raw) : typeof value === 'string' ? Buffer.from(value, 'utf8') : value instanceof Uint8Array ? Buffer.from(value) : (() => { throw new Error(`say how to write a ${p.spec.type}: dataType (the SDK codec) or dataWrite`); })();
      } catch (err) {
        throw codedError(IoCodes.CODEC, errorMessage(err));
      }
      const c = characteristic(p);
      try {
        await raceAbort(c.writeAsync(bytes, v.writeWithoutResponse ?? false), signal);
      } catch (err) {
        throw gattError(err, `writing ${v.characteristicUUID}`);
      }
      written.set(p.name, bytes);
    },
    close,
  };

  if (d.properties.some(isPush)) {
    connection.subscribe = async (properties, emit: Emit) => {
      const stops: (() => void | Promise<void>)[] = [];
      const advProps = properties.filter((p) => p.visitor.advertisement);
      if (advProps.length) {
        onAdvertisement = () => emit(advProps.map(fromAdvertisement));
        if (lastAdv) onAdvertisement();
        stops.push(() => { onAdvertisement = undefined; });
      }
      for (const p of properties.filter((x) => x.visitor.mode === 'notify' || x.visitor.mode === 'indicate')) {
        let c: Characteristic;
        try {
          c = characteristic(p);
        } catch (err) {
          emit([{ property: p.name, error: { code: IoCodes.NO_CHARACTERISTIC, message: errorMessage(err) } }]);
          continue;
        }
        const onData = (data: Buffer, isNotification: boolean) => { if (isNotification) emit([fromBytes(p, data)]); };
        c.on('data', onData);
        stops.push(() => { c.removeListener('data', onData); });
        try {
          await within(c.subscribeAsync(), d.config.timeout, `subscribing to ${p.visitor.characteristicUUID}`);
        } catch (err) {
          const e = gattError(err, `subscribing to ${p.visitor.characteristicUUID} (mode ${p.visitor.mode})`);
          // A lost link is the runtime's to handle; a refused subscription is this property's failure.
          if ((e as Error & { code: string }).code === IoCodes.CONNECTION_RESET) throw e;
          emit([{ property: p.name, error: { code: IoCodes.NOTIFY, message: e.message } }]);
          continue;
        }
        // Many sensors notify only on change: one read now gives the twin a value from the start.
        if (c.properties.includes('read')) emit([await readGatt(p, AbortSignal.timeout(d.config.timeout))]);
        stops.push(async () => {
          if (peripheral?.state === 'connected') await within(c.unsubscribeAsync(), 2000, 'unsubscribing').catch(() => undefined);
        });
      }
      return async () => { for (const s of stops) await s(); };
    };
  }
  return connection;
}
