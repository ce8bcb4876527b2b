// Start the test server (server.ts) in its own process and drive it: restart on the same port,
// freeze with SIGSTOP, thaw with SIGCONT, set a node Bad or Good. Kills only the process it started.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

const SERVER = join(import.meta.dirname, 'server.ts');

export interface ServerOptions {
  port?: number;
  /** The server's PKI; kept across restarts so its certificate stays the same. */
  pki?: string;
  user?: string;
  noAnonymous?: boolean;
  secureOnly?: boolean;
  trustAll?: boolean;
  bench?: number;
  benchPeriod?: number;
}

export interface TestServer {
  url: string;
  port: number;
  pki: string;
  /** PEM path of the server's application certificate. */
  certificate: string;
  child: ChildProcess;
  /** Send a command; resolves with the server's answer ({done, reads, sessions}). */
  command(line: string): Promise<{ done: string; reads: number; sessions: number }>;
  restart(): Promise<void>;
  freeze(): void;
  thaw(): void;
  stop(): Promise<void>;
}

async function launch(opts: ServerOptions, port: number, pki: string): Promise<{ child: ChildProcess; port: number; certificate: string; lines: AsyncIterator<string> }> {
  const args = ['--import', 'tsx', SERVER, '--port', String(port), '--pki', pki];
  if (opts.user) args.push('--user', opts.user);
  if (opts.noAnonymous) args.push('--no-anonymous');
  if (opts.secureOnly) args.push('--secure-only');
  if (opts.trustAll) args.push('--trust-all');
  if (opts.bench) args.push('--bench', String(opts.bench), '--bench-period', String(opts.benchPeriod ?? 100));
  const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr = (stderr + d).slice(-4000)));
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  for (;;) {
    const next = await lines.next();
    if (next.done) throw new Error(`the OPC UA test server exited before it was ready:\n${stderr}`);
    if (!next.value.startsWith('{')) continue;
    const msg = JSON.parse(next.value) as { ready?: boolean; port: number; certificate: string };
    if (msg.ready) return { child, port: msg.port, certificate: msg.certificate, lines };
  }
}

export async function startTestServer(opts: ServerOptions = {}): Promise<TestServer> {
  const pki = opts.pki ?? mkdtempSync(join(tmpdir(), 'edgetwin-opcua-server-'));
  let current = await launch(opts, opts.port ?? 0, pki);
  const port = current.port;
  const exited = (child: ChildProcess) => child.exitCode !== null || child.signalCode !== null;
  const kill = async (child: ChildProcess) => {
    if (exited(child)) return;
    const gone = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGCONT');
    child.kill('SIGKILL');
    await gone;
  };
  const server: TestServer = {
    url: `opc.tcp://127.0.0.1:${port}`,
    port,
    pki,
    certificate: current.certificate,
    child: current.child,
    async command(line) {
      current.child.stdin!.write(`${line}\n`);
      for (;;) {
        const next = await current.lines.next();
        if (next.done) throw new Error('the OPC UA test server exited');
        if (next.value.includes('"done"')) return JSON.parse(next.value) as { done: string; reads: number; sessions: number };
      }
    },
    async restart() {
      await kill(current.child);
      current = await launch(opts, port, pki);
      server.child = current.child;
    },
    freeze() {
      current.child.kill('SIGSTOP');
    },
    thaw() {
      current.child.kill('SIGCONT');
    },
    async stop() {
      await kill(current.child);
      if (!opts.pki) rmSync(pki, { recursive: true, force: true });
    },
  };
  return server;
}
