// A fault-injecting TCP proxy for link tests: the edge dials the proxy, the proxy dials the
// cloud, and the test decides what the "network" does in between. TLS passes through untouched
// (the proxy only moves bytes), so the client certificate still reaches the cloud.
//
// Faults:
// - cut(): destroys every open connection on both sides, as a dropped link does;
// - stall(ms): stops forwarding in both directions without closing anything (a link that goes
//   silent), then resumes by itself after ms; stall() without ms holds until resume();
// - refuse(true): new connections are closed at once (the cloud's host is unreachable);
//   refuse(false) accepts again.
// A stalled connection buffers what arrives (the sockets are paused, so TCP backpressure holds the
// peers), and delivers it on resume, as a real congested link does.

import { createConnection, createServer, type Server, type Socket } from 'node:net';

export interface TcpProxyOptions {
  /** Where the proxy forwards to. */
  target: { host: string; port: number };
  /** Loopback port to listen on; 0 picks a free one. */
  port?: number;
}

interface Pair {
  client: Socket;
  server: Socket;
}

export class TcpProxy {
  private readonly server: Server;
  private readonly pairs = new Set<Pair>();
  private stalled = false;
  private refusing = false;
  private stallTimer: NodeJS.Timeout | undefined;
  /** Connections accepted and forwarded since start (refused ones not counted). */
  accepted = 0;
  port = 0;

  private constructor(private readonly opts: TcpProxyOptions) {
    this.server = createServer((client) => this.accept(client));
  }

  static async start(opts: TcpProxyOptions): Promise<TcpProxy> {
    const proxy = new TcpProxy(opts);
    await new Promise<void>((resolve, reject) => {
      proxy.server.once('error', reject);
      proxy.server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
    });
    proxy.port = (proxy.server.address() as { port: number }).port;
    return proxy;
  }

  /** Open connection pairs right now. */
  get connections(): number {
    return this.pairs.size;
  }

  cut(): void {
    for (const p of this.pairs) {
      p.client.destroy();
      p.server.destroy();
    }
    this.pairs.clear();
  }

  stall(ms?: number): void {
    this.stalled = true;
    for (const p of this.pairs) {
      p.client.pause();
      p.server.pause();
    }
    clearTimeout(this.stallTimer);
    if (ms !== undefined) this.stallTimer = setTimeout(() => this.resume(), ms);
  }

  resume(): void {
    clearTimeout(this.stallTimer);
    this.stalled = false;
    for (const p of this.pairs) {
      p.client.resume();
      p.server.resume();
    }
  }

  refuse(on: boolean): void {
    this.refusing = on;
  }

  async close(): Promise<void> {
    clearTimeout(this.stallTimer);
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: Socket): void {
    if (this.refusing) {
      client.destroy();
      return;
    }
    this.accepted++;
    const server = createConnection(this.opts.target);
    const pair: Pair = { client, server };
    this.pairs.add(pair);
    const end = () => {
      if (!this.pairs.delete(pair)) return;
      client.destroy();
      server.destroy();
    };
    client.on('error', end).on('close', end);
    server.on('error', end).on('close', end);
    // Forward by hand rather than pipe(): pipe() would resume a paused source on its own.
    client.on('data', (chunk) => server.write(chunk));
    server.on('data', (chunk) => client.write(chunk));
    if (this.stalled) {
      client.pause();
      server.pause();
    }
  }
}
