// The embedded MQTT broker (aedes) for a gateway that runs with no broker of its own.
// Loopback by default: exposing it wider is an explicit choice of the host option.

import { createServer } from 'node:net';
import { Aedes } from 'aedes';
import type { Logger } from '../core/log.ts';

export interface EmbeddedBroker {
  url: string;
  port: number;
  /** The broker itself, for the gateway's own event bus to use in-process. */
  aedes: Aedes;
  /** True while it accepts connections (for /healthz). */
  readonly serving: boolean;
  close(): Promise<void>;
}

export async function startEmbeddedBroker(opts: { host?: string; port: number; log: Logger }): Promise<EmbeddedBroker> {
  const host = opts.host ?? '127.0.0.1';
  const log = opts.log.child({ component: 'broker' });
  const aedes = await Aedes.createBroker();
  aedes.on('clientError', (client, err) => log.debug({ client: client.id, err: err.message }, 'mqtt client error'));
  aedes.on('connectionError', (_client, err) => log.debug({ err: err.message }, 'mqtt connection error'));
  // Small MQTT packets must not wait for Nagle's algorithm (40 ms with delayed ACKs on Linux).
  const server = createServer({ noDelay: true }, aedes.handle);
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      aedes.close();
      const hint = err.code === 'EADDRINUSE' ? ' (another broker is using it: pass --mqtt-url to use that broker, or --mqtt-port to pick another port)' : '';
      reject(new Error(`embedded MQTT broker cannot listen on ${host}:${opts.port}: ${err.message}${hint}`, { cause: err }));
    };
    server.once('error', onError);
    server.listen(opts.port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : opts.port;
  const url = `mqtt://${host.includes(':') ? `[${host}]` : host}:${port}`;
  log.info({ url }, 'embedded MQTT broker listening');
  let closing: Promise<void> | undefined;
  return {
    url,
    port,
    aedes,
    get serving() {
      return server.listening && !aedes.closed;
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        aedes.close();
      });
      return closing;
    },
  };
}
