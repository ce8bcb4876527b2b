// What the driver under test threw, kept so a failing kit test can say it, with the first stack
// frame in the author's own files: a kit assertion alone ("gave up waiting for the device to go
// online") points at the kit, not at the line of the driver that refused to connect.

import type { Connection, Driver, DriverContext } from '../driver.ts';
import type { DriverLoader } from '../plugin.ts';

interface Thrown {
  hook: string;
  error: unknown;
}

/** The first frame outside node, dependencies and the SDK itself: the author's file and line. */
function authorFrame(error: unknown): string | undefined {
  const stack = error instanceof Error ? error.stack ?? '' : '';
  const frames = stack.split('\n').filter((l) => l.trimStart().startsWith('at '));
  const own = frames.find((l) => !/node:|\/node_modules\/|\/mappers\/sdk\/|\/dist\/sdk\/|\/dist\/chunk-/.test(l));
  return (own ?? frames[0])?.trim();
}

export class DriverTrail {
  readonly #thrown: Thrown[] = [];

  #record(hook: string, error: unknown): void {
    this.#thrown.push({ hook, error });
    if (this.#thrown.length > 20) this.#thrown.shift();
  }

  /** The loader, with every hook of its driver and connections recording what it throws. */
  wrap(loader: DriverLoader): DriverLoader {
    const trail = this;
    const guard = <A extends unknown[], R>(hook: string, fn: (...args: A) => Promise<R>) => async (...args: A): Promise<R> => {
      try {
        return await fn(...args);
      } catch (err) {
        trail.#record(hook, err);
        throw err;
      }
    };
    const wrapConnection = (conn: Connection): Connection => Object.assign(Object.create(conn) as Connection, {
      read: guard('read()', conn.read.bind(conn)),
      write: guard('write()', conn.write.bind(conn)),
      close: guard('close()', conn.close.bind(conn)),
      ...(conn.subscribe ? { subscribe: guard('subscribe()', conn.subscribe.bind(conn)) } : {}),
    });
    return Object.assign(Object.create(loader) as DriverLoader, {
      load: guard('load()', async () => {
        const driver = await loader.load();
        // Object.create keeps every other hook, and `this`, as the author wrote them.
        return Object.assign(Object.create(driver) as Driver, {
          connect: guard('connect()', async (device: Parameters<Driver['connect']>[0], ctx: DriverContext) => {
            const lost = (error: Error) => {
              trail.#record('ctx.lost()', error);
              ctx.lost(error);
            };
            return wrapConnection(await driver.connect(device, { ...ctx, lost } as DriverContext));
          }),
        });
      }),
    });
  }

  /** Lines for a failure message: the last things the driver threw, each with its own frame. */
  describe(last = 3): string {
    if (this.#thrown.length === 0) return '';
    const lines: string[] = [];
    for (const { hook, error } of this.#thrown) {
      const code = (error as { code?: unknown } | null)?.code;
      const message = error instanceof Error ? error.message : String(error);
      const frame = authorFrame(error);
      const line = `  ${hook}: ${typeof code === 'string' ? `${code} ` : ''}${message}${frame ? `\n      ${frame}` : ''}`;
      // A driver failing the same way on every retry is said once.
      if (!lines.includes(line)) lines.push(line);
    }
    lines.splice(0, Math.max(0, lines.length - last));
    return `\nwhat the driver threw last:\n${lines.join('\n')}`;
  }

  clear(): void {
    this.#thrown.length = 0;
  }
}
