// Simulated instruments on the far end of a pty pair: a weighing scale that streams its weight,
// and a SCPI-style meter that answers queries and takes one setting.

import { LinkRegistry, type SerialLink } from '../../mappers/sdk/index.ts';

/** The instrument's side of the cable, opened through the SDK's serial links like any port. */
export class InstrumentPort {
  readonly #links = new LinkRegistry();
  #link?: SerialLink;

  async open(path: string, onData: (chunk: Buffer, write: (bytes: Uint8Array | string) => void) => void, baudRate = 9600): Promise<void> {
    const link = await this.#links.acquireSerial({ path, baudRate }, 'instrument');
    this.#link = link;
    link.port.on('error', () => undefined);
    link.port.on('data', (chunk: Buffer) => onData(chunk, (bytes) => this.write(bytes)));
  }

  write(bytes: Uint8Array | string): void {
    if (this.#link?.isOpen) this.#link.port.write(bytes);
  }

  async close(): Promise<void> {
    this.#link = undefined;
    await this.#links.closeAll();
  }
}

/** Streams `ST,GS,+0012.345kg` (stable) or `US,...` (unstable) lines, as many bench scales do. */
export class Scale {
  readonly port = new InstrumentPort();
  weight = 12.345;
  stable = true;
  #timer?: ReturnType<typeof setInterval>;

  async start(path: string, periodMs = 100): Promise<void> {
    await this.port.open(path, () => undefined);
    this.#timer = setInterval(() => this.port.write(this.line()), periodMs);
  }

  line(): string {
    const sign = this.weight < 0 ? '-' : '+';
    return `${this.stable ? 'ST' : 'US'},GS,${sign}${Math.abs(this.weight).toFixed(3).padStart(8, '0')}kg\r\n`;
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.port.close();
  }
}

/**
 * Answers `*IDN?`, `MEAS:VOLT?`, `VOLT:RANGE?`; `VOLT:RANGE <n>;*OPC?` sets the range and answers 1;
 * anything else answers `ERR -113,"Undefined header"`.
 */
export class ScpiMeter {
  readonly port = new InstrumentPort();
  volts = 12.5;
  range = 10;
  #pending = '';

  async start(path: string, baudRate = 9600): Promise<void> {
    await this.port.open(path, (chunk, write) => {
      this.#pending += chunk.toString('latin1');
      for (let i = this.#pending.indexOf('\n'); i >= 0; i = this.#pending.indexOf('\n')) {
        const line = this.#pending.slice(0, i).trim();
        this.#pending = this.#pending.slice(i + 1);
        write(`${this.answer(line)}\n`);
      }
    }, baudRate);
  }

  answer(command: string): string {
    const upper = command.toUpperCase();
    if (upper === '*IDN?') return 'EDGETWIN,DMM-1,0001,1.0';
    if (upper === 'MEAS:VOLT?') return this.volts.toExponential(4).toUpperCase().replace(/E([+-])(\d)$/, 'E$10$2');
    if (upper === 'VOLT:RANGE?') return String(this.range);
    const set = /^VOLT:RANGE (\d+(?:\.\d+)?);\*OPC\?$/.exec(upper);
    if (set) {
      const range = Number(set[1]);
      if (![1, 10, 100, 1000].includes(range)) return 'ERR -222,"Data out of range"';
      this.range = range;
      return '1';
    }
    return 'ERR -113,"Undefined header"';
  }

  async stop(): Promise<void> {
    await this.port.close();
  }
}
