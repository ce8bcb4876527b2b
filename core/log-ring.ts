// The last log lines at warning and above, kept in memory for the dashboard: a small ring fed by
// the logger's own output (pino JSON lines), so what the page shows is exactly what was logged.

import { EventEmitter } from 'node:events';
import { Writable } from 'node:stream';

export interface LogLine {
  time: number;
  /** pino's level name: warn, error or fatal. */
  level: string;
  msg: string;
  /** The device or component the line is about, when it names one. */
  device?: string;
  component?: string;
}

const NAMES: Record<number, string> = { 40: 'warn', 50: 'error', 60: 'fatal' };

export class LogRing extends EventEmitter {
  readonly #lines: LogLine[] = [];
  /** A stream for pino: write JSON lines to it; those at warn and above are kept. */
  readonly stream: Writable;

  constructor(readonly capacity = 200) {
    super();
    let rest = '';
    this.stream = new Writable({
      write: (chunk: Buffer, _enc, done) => {
        const text = rest + chunk.toString('utf8');
        const lines = text.split('\n');
        rest = lines.pop() ?? '';
        for (const line of lines) this.#take(line);
        done();
      },
    });
  }

  #take(line: string): void {
    let o: Record<string, unknown>;
    try {
      o = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return; // not a pino line: nothing a dashboard can show
    }
    const level = typeof o.level === 'number' ? o.level : 0;
    if (level < 40) return;
    const entry: LogLine = {
      time: typeof o.time === 'number' ? o.time : Date.now(),
      level: NAMES[level] ?? String(level),
      msg: String(o.msg ?? ''),
      ...(typeof o.device === 'string' ? { device: o.device } : {}),
      ...(typeof o.component === 'string' ? { component: o.component } : {}),
    };
    this.#lines.push(entry);
    if (this.#lines.length > this.capacity) this.#lines.shift();
    this.emit('line', entry);
  }

  lines(): LogLine[] {
    return [...this.#lines];
  }
}
