// A socat pty pair: two linked pseudo-terminals with stable paths, standing in for a serial cable.
// Stopping it makes both ends vanish, as unplugging a USB adapter does.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

export class PtyPair {
  #socat?: ChildProcess;
  /** `gateway` is the end a Device YAML names; the simulated instrument opens `instrument`. */
  constructor(readonly gateway: string, readonly instrument: string) {}

  get running(): boolean {
    return this.#socat !== undefined;
  }

  async start(): Promise<void> {
    if (this.#socat) return;
    const socat = spawn('socat', [`pty,raw,echo=0,link=${this.gateway}`, `pty,raw,echo=0,link=${this.instrument}`], { stdio: 'ignore' });
    this.#socat = socat;
    const failed = new Promise<never>((_, reject) => socat.once('error', reject));
    void failed.catch(() => undefined);
    const ready = (async () => {
      for (let i = 0; i < 1000 && !(existsSync(this.gateway) && existsSync(this.instrument)); i++) await sleep(10);
      if (!existsSync(this.gateway)) throw new Error(`socat did not create ${this.gateway}`);
    })();
    await Promise.race([ready, failed]);
  }

  /** Kill socat and wait until both paths are gone. */
  async stop(): Promise<void> {
    const socat = this.#socat;
    if (!socat) return;
    this.#socat = undefined;
    const exited = new Promise((resolve) => socat.once('exit', resolve));
    if (socat.exitCode === null && socat.signalCode === null) socat.kill();
    else return;
    await exited;
    for (let i = 0; i < 500 && (existsSync(this.gateway) || existsSync(this.instrument)); i++) await sleep(10);
  }
}
