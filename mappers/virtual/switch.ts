// An in-process stand-in for the cable between the gateway and a virtual device: tests, demos and
// the conformance kit cut it to see what a real outage does (offline, reconnect with backoff).

export class VirtualSwitch {
  #up = true;
  readonly #onCut = new Set<() => void>();

  get up(): boolean {
    return this.#up;
  }

  /** Every connection through this switch breaks, and new ones are refused until restore(). */
  cut(): void {
    this.#up = false;
    for (const fn of [...this.#onCut]) fn();
  }

  restore(): void {
    this.#up = true;
  }

  /** Returns a function that stops listening. */
  onCut(fn: () => void): () => void {
    this.#onCut.add(fn);
    return () => this.#onCut.delete(fn);
  }
}

const switches = new Map<string, VirtualSwitch>();

/** The switch named in a device's protocol configData (`switch: <name>`), created on first use. */
export function virtualSwitch(name: string): VirtualSwitch {
  let sw = switches.get(name);
  if (!sw) {
    sw = new VirtualSwitch();
    switches.set(name, sw);
  }
  return sw;
}
