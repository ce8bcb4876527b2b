// Tests only: drives hub/testing/cloud-child.ts as a child process (start, feed, read, kill -9).
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { CloudOptions } from '../cloudhub/cloud.ts';
import type { Message } from '../message/index.ts';

const CHILD = join(dirname(fileURLToPath(import.meta.url)), 'cloud-child.ts');

export class CloudProcess {
  readonly lines: Array<Record<string, unknown>> = [];
  readonly stderr: string[] = [];
  ports!: { cloudhub: number; join: number; http: number };
  caHash!: string;
  private waiters: Array<() => void> = [];
  exited = false;

  private constructor(readonly child: ChildProcess) {
    createInterface({ input: child.stdout! }).on('line', (l) => {
      try {
        this.lines.push(JSON.parse(l) as Record<string, unknown>);
      } catch {
        this.stderr.push(l);
      }
      for (const w of this.waiters.splice(0)) w();
    });
    child.stderr!.on('data', (d: Buffer) => this.stderr.push(d.toString()));
    child.on('exit', () => {
      this.exited = true;
      for (const w of this.waiters.splice(0)) w();
    });
  }

  static async start(opts: Omit<CloudOptions, 'log'>): Promise<CloudProcess> {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, JSON.stringify(opts)], { stdio: ['pipe', 'pipe', 'pipe'] });
    const p = new CloudProcess(child);
    const ready = await p.line('ready', (l) => 'ready' in l);
    const r = ready.ready as { ports: CloudProcess['ports']; caHash: string };
    p.ports = r.ports;
    p.caHash = r.caHash;
    return p;
  }

  async line(what: string, match: (l: Record<string, unknown>) => boolean, timeoutMs = 30_000, from = 0): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.lines.slice(from).find(match);
      if (found) return found;
      if (this.exited) throw new Error(`the cloud child exited while waiting for ${what}: ${this.stderr.join('').slice(-2000)}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`gave up after ${timeoutMs} ms waiting for ${what}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.waiters.push(() => { clearTimeout(t); r(); });
      });
    }
  }

  async token(ttlMs?: number): Promise<string> {
    const from = this.lines.length;
    this.child.stdin!.write(`${JSON.stringify({ token: { ttlMs } })}\n`);
    return (await this.line('a token', (l) => 'token' in l, undefined, from)).token as string;
  }

  /** Hands a message to the cloud and returns its Offer ('queued', 'stale', ...). */
  async send(node: string, message: Message): Promise<string> {
    const from = this.lines.length;
    this.child.stdin!.write(`${JSON.stringify({ send: { node, message } })}\n`);
    const l = await this.line(`the offer of ${message.header.msg_id}`, (x) => ('offer' in x && (x.offer as { id: string }).id === message.header.msg_id) || 'error' in x, undefined, from);
    if ('error' in l) throw new Error(String(l.error));
    return (l.offer as { result: string }).result;
  }

  stored(): Array<{ node: string; message: Message }> {
    return this.lines.filter((l) => 'stored' in l).map((l) => l.stored as { node: string; message: Message });
  }

  async kill9(): Promise<void> {
    if (this.exited) return;
    const gone = new Promise<void>((r) => this.child.once('exit', () => r()));
    this.child.kill('SIGKILL');
    await gone;
  }

  async stop(): Promise<void> {
    if (this.exited) return;
    const gone = new Promise<void>((r) => this.child.once('exit', () => r()));
    this.child.stdin!.end();
    await gone;
  }
}
