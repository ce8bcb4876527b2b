// Shared resources a driver opens once for many devices: one TCP endpoint, one serial bus, one
// adapter. Serial ports live here, not in a protocol folder, because Modbus RTU and serial
// instruments can sit on the same port and only one owner may hold its settings.

import { stat } from 'node:fs/promises';
import type { Duplex } from 'node:stream';
import { EdgetwinError, ErrorCodes, IoCodes } from '../../core/errors.ts';
import type { SourceRef } from '../../core/device.ts';

export interface SerialSettings {
  path: string;
  baudRate: number;
  dataBits?: 5 | 6 | 7 | 8;
  stopBits?: 1 | 1.5 | 2;
  parity?: 'none' | 'even' | 'odd' | 'mark' | 'space';
  /**
   * The bus is RS-485. serialport cannot switch the kernel's RS-485 mode, so direction control
   * is left to the adapter (auto-direction adapters need nothing); the flag still takes part in
   * conflict checks, so two devices cannot disagree about the bus.
   */
  rs485?: boolean;
}

export interface SerialLink {
  readonly key: string;
  readonly settings: Readonly<Required<SerialSettings>>;
  readonly port: Duplex;
  /** Run one request alone on the bus: requests of every device on this port are serialized. */
  exclusive<T>(fn: (port: Duplex) => Promise<T>): Promise<T>;
  /**
   * Settles when the port closes for any reason, with an error saying why (the adapter was
   * unplugged, the last user released it); serialport notices a vanished device only while the
   * port is being read. After an unexpected close the next acquireSerial
   * opens the port again, so users treat this as a lost connection and reconnect.
   */
  readonly closed: Promise<Error>;
  /** False once the port has closed. */
  readonly isOpen: boolean;
}

/** Opens a serial port; the default loads `serialport` only when the first port is opened. */
export type SerialOpener = (settings: Required<SerialSettings>) => Promise<Duplex>;

interface Entry {
  count: number;
  value: Promise<unknown>;
  close: () => Promise<void>;
  owner?: string;
  settings?: Required<SerialSettings>;
  /** The serial link last opened under this entry, once open. */
  port?: SerialLink;
}

export function serialKey(path: string): string {
  return `serial:${path}`;
}

export function normaliseSerial(s: SerialSettings): Required<SerialSettings> {
  return { path: s.path, baudRate: s.baudRate, dataBits: s.dataBits ?? 8, stopBits: s.stopBits ?? 1, parity: s.parity ?? 'none', rs485: s.rs485 ?? false };
}

/** Human-readable difference between two settings of one port, or undefined when they agree. */
export function serialDifference(a: SerialSettings, b: SerialSettings): string | undefined {
  const x = normaliseSerial(a);
  const y = normaliseSerial(b);
  const diffs = (['baudRate', 'dataBits', 'stopBits', 'parity', 'rs485'] as const)
    .filter((k) => x[k] !== y[k])
    .map((k) => `${k} ${String(x[k])} vs ${String(y[k])}`);
  return diffs.length ? diffs.join(', ') : undefined;
}

export interface SerialClaim {
  device: string;
  protocol: string;
  settings: SerialSettings;
  source?: SourceRef;
}

/**
 * Load-time check: one port, one protocol, one set of settings. Returns one error per claim that
 * contradicts an earlier claim of the same port (the first claim wins).
 */
export function checkSerialClaims(claims: readonly SerialClaim[]): EdgetwinError[] {
  const first = new Map<string, SerialClaim>();
  const errors: EdgetwinError[] = [];
  for (const claim of claims) {
    const prior = first.get(claim.settings.path);
    if (!prior) {
      first.set(claim.settings.path, claim);
      continue;
    }
    const where = { file: claim.source?.file, line: claim.source?.line, device: claim.device, path: 'spec.protocol.configData' };
    const at = prior.source ? ` (${prior.source.file}:${prior.source.line})` : '';
    if (prior.protocol !== claim.protocol) {
      errors.push(new EdgetwinError(ErrorCodes.LINK_CONFLICT,
        `serial port ${claim.settings.path} is already used by ${prior.protocol} device ${prior.device}${at}; one port serves one protocol`,
        where, 'give this device another port or move it to the same protocol'));
      continue;
    }
    const diff = serialDifference(prior.settings, claim.settings);
    if (diff) {
      errors.push(new EdgetwinError(ErrorCodes.LINK_CONFLICT,
        `serial port ${claim.settings.path} is already opened by device ${prior.device}${at} with other settings: ${diff}`,
        where, 'every device on one bus must use the same baudRate, dataBits, stopBits, parity and rs485'));
    }
  }
  return errors;
}

async function openWithSerialport(s: Required<SerialSettings>): Promise<Duplex> {
  const { SerialPort } = await import('serialport');
  const port = new SerialPort({ path: s.path, baudRate: s.baudRate, dataBits: s.dataBits, stopBits: s.stopBits, parity: s.parity, autoOpen: false });
  await new Promise<void>((resolve, reject) => port.open((err) => (err ? reject(err) : resolve())));
  // Bytes the device sent while nobody had the port open (a late answer to a request of a
  // previous session) are not answers to anything this session asks: drop them.
  await new Promise<void>((resolve) => port.flush(() => resolve()));
  // A SerialPort stream's destroy() leaves the file descriptor open and its reader spinning:
  // destroying it must close the port.
  port._destroy = (err, done) => {
    if (!port.isOpen) return done(err);
    port.close(() => done(err));
  };
  watchPath(port, s.path);
  return port;
}

/**
 * A read on a hung-up port does not always fail (a pty whose peer exited can wait forever), so
 * the device node is checked once a second: when it is gone, the port closes with a reason.
 */
function watchPath(port: Duplex, path: string): void {
  const timer = setInterval(() => {
    stat(path).catch((err: NodeJS.ErrnoException) => {
      if (err.code === IoCodes.NO_ENTRY && !port.destroyed) port.destroy(Object.assign(new Error(`serial port ${path} vanished (device unplugged?)`), { code: IoCodes.NO_DEVICE }));
    });
  }, 1000);
  timer.unref();
  port.once('close', () => clearInterval(timer));
}

function closeDuplex(port: Duplex): Promise<void> {
  return new Promise((resolve) => {
    if (port.destroyed) return resolve();
    port.once('close', () => resolve());
    port.destroy();
  });
}

/** Reference-counted shared resources, keyed by what they connect to. */
/**
 * A device's hold on a link shared by several devices that can break (one TCP connection to a PLC,
 * one OPC UA session): see LinkRegistry.share.
 */
export interface LinkLease<T> {
  readonly link: T;
  /** The link is broken: every device holding it hears (ctx.lost) and the next lease opens a fresh one. */
  fail(err: Error): void;
  /** This device is done with it; the last holder of a broken or idle link closes it. Idempotent. */
  release(): Promise<void>;
}

/** One generation of a shared link: who holds it, and whether it broke. */
class SharedLink<T> {
  readonly holders = new Set<(err: Error) => void>();
  broken = false;
  link!: T;
  constructor(readonly retire: () => void) {}

  fail(err: Error): void {
    if (this.broken) return;
    this.broken = true;
    this.retire();
    for (const lost of [...this.holders]) lost(err);
  }
}

export class LinkRegistry {
  readonly #entries = new Map<string, Entry>();
  /** The live generation of each shared link's key: a broken link is never handed out again. */
  readonly #generations = new Map<string, number>();
  readonly #openSerial: SerialOpener;

  constructor(opts: { openSerial?: SerialOpener } = {}) {
    this.#openSerial = opts.openSerial ?? openWithSerialport;
  }

  /** The resource under `key`, opened by `open` for the first user and shared with the next ones. */
  acquire<T extends { close(): Promise<void> | void }>(key: string, open: () => Promise<T>): Promise<T> {
    const existing = this.#entries.get(key);
    if (existing) {
      existing.count++;
      return existing.value as Promise<T>;
    }
    const value = open();
    const entry: Entry = { count: 1, value, close: async () => { await (await value).close(); } };
    this.#entries.set(key, entry);
    value.catch(() => { if (this.#entries.get(key) === entry) this.#entries.delete(key); });
    return value;
  }

  /**
   * A link shared by every device that reaches it the same way (`base`), which can break. `open`
   * gets the function that declares it broken (call it from the socket's close, a failed keep-alive):
   * then every holder's `lost` is called, so each device goes offline and reconnects, and the next
   * share() opens a fresh link under a new generation while the broken one closes once its last
   * holder has released it. A link that broke before this device got it is skipped once.
   */
  async share<T extends { close(): Promise<void> | void }>(base: string, open: (fail: (err: Error) => void) => Promise<T>, lost: (err: Error) => void, what = `the link ${base}`): Promise<LinkLease<T>> {
    for (let attempt = 1; ; attempt++) {
      const generation = this.#generations.get(base) ?? 0;
      const key = `${base}#${generation}`;
      const retire = () => { if ((this.#generations.get(base) ?? 0) === generation) this.#generations.set(base, generation + 1); };
      const shared = await this.acquire(key, async () => {
        const s = new SharedLink<T>(retire);
        s.link = await open((err) => s.fail(err));
        return { shared: s, close: () => s.link.close() };
      }).then((x) => x.shared as SharedLink<T>);
      if (shared.broken) {
        await this.release(key);
        if (attempt < 2) continue;
        throw Object.assign(new Error(`${what} broke as soon as it opened`), { code: IoCodes.CONNECTION_RESET });
      }
      shared.holders.add(lost);
      let released = false;
      return {
        link: shared.link,
        fail: (err) => shared.fail(err),
        release: async () => {
          if (released) return;
          released = true;
          shared.holders.delete(lost);
          await this.release(key);
        },
      };
    }
  }

  /** One user is done; the last one closes the resource. */
  async release(key: string): Promise<void> {
    const entry = this.#entries.get(key);
    if (!entry) return;
    if (--entry.count > 0) return;
    this.#entries.delete(key);
    await entry.value.then(() => entry.close(), () => undefined);
  }

  /** Open (or share) a serial port. `owner` is the protocol; a second protocol or other settings is LINK_CONFLICT. */
  acquireSerial(settings: SerialSettings, owner: string): Promise<SerialLink> {
    const key = serialKey(settings.path);
    const wanted = normaliseSerial(settings);
    const existing = this.#entries.get(key);
    if (existing) {
      const diff = existing.settings ? serialDifference(existing.settings, wanted) : undefined;
      if (existing.owner !== owner || diff) {
        const why = existing.owner !== owner ? `it is used by ${existing.owner ?? 'a non-serial link'}` : `it is open with other settings: ${diff}`;
        return Promise.reject(new EdgetwinError(ErrorCodes.LINK_CONFLICT, `serial port ${settings.path} cannot be opened for ${owner}: ${why}`, {}));
      }
      existing.count++;
      // A port that vanished (USB unplugged) while others still held it is opened again here; the
      // holders of the dead link learn of it through `closed` and release it.
      if (existing.port && !existing.port.isOpen) {
        existing.value = this.#openSerial(wanted).then((port) => makeSerialLink(key, wanted, port));
        this.#track(key, existing);
      }
      return existing.value as Promise<SerialLink>;
    }
    const entry: Entry = { count: 1, value: this.#openSerial(wanted).then((port) => makeSerialLink(key, wanted, port)), owner, settings: wanted, close: async () => {
      const link = await entry.value as SerialLink;
      if (link.isOpen) await closeDuplex(link.port);
    } };
    this.#entries.set(key, entry);
    this.#track(key, entry);
    return entry.value as Promise<SerialLink>;
  }

  #track(key: string, entry: Entry): void {
    const value = entry.value as Promise<SerialLink>;
    value.then((link) => { if (entry.value === value) entry.port = link; }, () => {
      if (entry.value !== value) return;
      // A failed reopen keeps the count of users still holding the dead link; a failed first open has none.
      if (entry.port) entry.count--;
      if (this.#entries.get(key) === entry && (!entry.port || entry.count <= 0)) this.#entries.delete(key);
    });
  }

  /** Users of `key` right now (0 when closed). */
  users(key: string): number {
    return this.#entries.get(key)?.count ?? 0;
  }

  async closeAll(): Promise<void> {
    const entries = [...this.#entries.values()];
    this.#entries.clear();
    await Promise.all(entries.map((e) => e.value.then(() => e.close(), () => undefined)));
  }
}

function makeSerialLink(key: string, settings: Required<SerialSettings>, port: Duplex): SerialLink {
  let tail: Promise<unknown> = Promise.resolve();
  let open = !port.destroyed;
  const closed = new Promise<Error>((resolve) => {
    let why: Error | undefined;
    port.on('error', (err: Error) => { why ??= err; });
    // serialport emits close with a `disconnected` error when the device goes away.
    port.once('close', (err?: Error) => {
      open = false;
      resolve(err ?? why ?? new Error(`serial port ${settings.path} closed`));
    });
  });
  return {
    key,
    settings,
    port,
    closed,
    get isOpen() { return open; },
    exclusive<T>(fn: (p: Duplex) => Promise<T>): Promise<T> {
      const run = tail.then(() => fn(port));
      tail = run.catch(() => undefined);
      return run;
    },
  };
}
