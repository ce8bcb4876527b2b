// What a Modbus connection runs over: one TCP connection per ip:port or one RTU bus per serial
// port, shared by every unit id behind it. A transport that died is never handed out again: its
// key gets a new generation, so devices reconnecting after a PLC restart open a fresh one while
// the last users of the dead one let go of it.

import type { LinkRegistry } from '../sdk/index.ts';

export interface Transport {
  /** Send one request PDU to `unit`; resolves with the response PDU (exceptions included, unparsed). */
  request(unit: number, pdu: Uint8Array, signal: AbortSignal): Promise<Uint8Array>;
  /** Called once when the transport dies (socket closed, port gone, link silent). */
  onLost(listener: (err: Error) => void): () => void;
  readonly dead: boolean;
  close(): Promise<void>;
}

/**
 * A transport's life, the same for TCP and RTU: it dies once, and whoever asked is told why. A
 * deliberate close() tells nobody (forget() first).
 */
export class Lifeline {
  #dead = false;
  readonly #listeners = new Set<(err: Error) => void>();

  get dead(): boolean {
    return this.#dead;
  }

  onLost(listener: (err: Error) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Dead from now on; the listeners hear `err`. False when it was dead already. */
  end(err?: Error): boolean {
    if (this.#dead) return false;
    this.#dead = true;
    if (err) for (const listener of [...this.#listeners]) listener(err);
    return true;
  }

  forget(): void {
    this.#listeners.clear();
  }
}

const generations = new WeakMap<LinkRegistry, Map<string, number>>();

function keyOf(links: LinkRegistry, base: string): string {
  let gens = generations.get(links);
  if (!gens) generations.set(links, (gens = new Map()));
  return `${base}#${gens.get(base) ?? 0}`;
}

function retire(links: LinkRegistry, base: string, key: string): void {
  const gens = generations.get(links)!;
  if (keyOf(links, base) === key) gens.set(base, (gens.get(base) ?? 0) + 1);
}

/** Acquire the live transport under `base`, opening one when none is live. Release with the returned key. */
export async function acquireTransport(links: LinkRegistry, base: string, open: () => Promise<Transport>): Promise<{ transport: Transport; key: string }> {
  for (;;) {
    const key = keyOf(links, base);
    const transport = await links.acquire(key, async () => {
      const t = await open();
      t.onLost(() => retire(links, base, key));
      return t;
    });
    if (!transport.dead) return { transport, key };
    retire(links, base, key);
    await links.release(key);
  }
}
