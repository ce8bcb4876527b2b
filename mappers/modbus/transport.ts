// What a Modbus connection runs over: one TCP connection per ip:port or one RTU bus per serial
// port, shared by every unit id behind it through the runtime (DriverContext.share): when a
// transport dies, the runtime tells every device on it, and hands out a fresh one on reconnect.

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
