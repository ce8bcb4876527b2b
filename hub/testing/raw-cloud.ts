// A bare TLS WebSocket server for EdgeHub's tests: the `ws` library's own server behind
// https with required client certificates, recording every frame and connection, sending what
// the test tells it to. It has none of CloudHub's logic, so an edge test that passes against it
// passes because of the edge. Credentials come from the cloud's real CA module.

import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { WebSocketServer, type WebSocket } from 'ws';
import { CertificateAuthority } from '../join/ca.ts';
import { nodeFiles } from '../join/node-files.ts';
import type { Message } from '../message/index.ts';
import { makeNodeCsr } from './csr.ts';

export interface RawConnection {
  ws: WebSocket;
  path: string;
  headers: IncomingMessage['headers'];
  /** CN of the client certificate. */
  cn: string;
  frames: Message[];
  raw: string[];
}

export class RawCloud {
  readonly connections: RawConnection[] = [];
  /** Every frame from every connection, in arrival order. */
  readonly frames: Message[] = [];
  port = 0;
  /** When set, frames are recorded but this decides the answer (return undefined for none). */
  answer: ((m: Message, c: RawConnection) => Message | undefined) | undefined;
  private readonly server: Server;
  private readonly wss: WebSocketServer;

  private constructor(readonly ca: CertificateAuthority, cert: { certPem: string; keyPem: string }) {
    this.server = createServer({ cert: cert.certPem, key: cert.keyPem, ca: ca.certPem, requestCert: true, rejectUnauthorized: true });
    this.wss = new WebSocketServer({ server: this.server });
    this.wss.on('connection', (ws, req) => {
      const peer = (req.socket as TLSSocket).getPeerCertificate();
      const c: RawConnection = { ws, path: req.url ?? '', headers: req.headers, cn: String(peer.subject?.CN ?? ''), frames: [], raw: [] };
      this.connections.push(c);
      ws.on('message', (data: Buffer) => {
        const text = data.toString('utf8');
        c.raw.push(text);
        const m = JSON.parse(text) as Message;
        c.frames.push(m);
        this.frames.push(m);
        const reply = this.answer?.(m, c);
        if (reply) ws.send(JSON.stringify(reply));
      });
      ws.on('error', () => {});
    });
  }

  static async start(stateDir: string, port = 0): Promise<RawCloud> {
    const ca = await CertificateAuthority.loadOrCreate(stateDir);
    const cloud = new RawCloud(ca, await ca.issueServerCert(['127.0.0.1', 'localhost']));
    await new Promise<void>((resolve) => cloud.server.listen(port, '127.0.0.1', () => resolve()));
    cloud.port = (cloud.server.address() as { port: number }).port;
    return cloud;
  }

  get url(): string {
    return `wss://127.0.0.1:${this.port}`;
  }

  /** The connection that is open now (the newest). */
  get current(): RawConnection | undefined {
    return [...this.connections].reverse().find((c) => c.ws.readyState === c.ws.OPEN);
  }

  send(m: Message | string): void {
    const c = this.current;
    if (!c) throw new Error('no edge connected');
    c.ws.send(typeof m === 'string' ? m : JSON.stringify(m));
  }

  /** Writes a joined node's files (CA, certificate, key) into a gateway data directory, as `edgetwin join` does. */
  async enrol(dataDir: string, node: string, opts: { days?: number; now?: Date; joinServer?: string } = {}): Promise<void> {
    const { csrDer, keyPem } = await makeNodeCsr({ cn: `system:node:${node}`, o: 'system:nodes' });
    const cert = await this.ca.signNodeCsr(csrDer, node, opts);
    const files = nodeFiles(dataDir);
    mkdirSync(files.dir, { recursive: true });
    writeFileSync(files.ca, this.ca.certPem);
    writeFileSync(files.cert, cert.pem);
    writeFileSync(files.key, keyPem, { mode: 0o600 });
    if (opts.joinServer) writeFileSync(files.info, JSON.stringify({ joinServer: opts.joinServer }));
  }

  async close(): Promise<void> {
    for (const c of this.connections) c.ws.terminate();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
