// For tests only: a cloud (CloudHub and the join server) in this process with four joined nodes,
// its log kept in memory to assert on, and raw edges that connect as those nodes.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../../core/log.ts';
import { freePort } from '../../core/testing.ts';
import { createJoinToken } from '../join/token.ts';
import { joinAsNode, RawEdge, type NodeCredentials } from '../testing/edge-client.ts';
import { startCloud, type Cloud } from './cloud.ts';

export const TEST_NODES = ['edge-a', 'edge-b', 'edge-c', 'edge-d'] as const;

export class TestCloud {
  readonly dir: string;
  readonly stateDir: string;
  readonly logLines: Array<Record<string, unknown>> = [];
  readonly log: Logger;
  readonly creds: Record<string, NodeCredentials> = {};
  cloud!: Cloud;
  token!: string;
  private readonly edges: RawEdge[] = [];

  constructor(prefix: string) {
    this.dir = mkdtempSync(join(tmpdir(), prefix));
    this.stateDir = join(this.dir, 'state');
    this.log = createLogger({
      level: 'debug',
      destination: new Writable({ write: (chunk, _enc, cb) => { for (const l of String(chunk).split('\n')) if (l) this.logLines.push(JSON.parse(l)); cb(); } }),
    });
  }

  /** Short keepalive and resend intervals and a 10,000-byte frame limit, so the tests take seconds. */
  async start(): Promise<void> {
    this.cloud = await startCloud({
      stateDir: this.stateDir, listen: '127.0.0.1', port: await freePort(), joinPort: await freePort(), httpPort: await freePort(), advertise: ['localhost', '127.0.0.1'], log: this.log,
      revocationPollMs: 100,
      settings: { keepaliveTimeoutMs: 1500, maxFrameBytes: 10_000, resend: { resendIntervalMs: 200, retriesAtInterval: 2, maxResendIntervalMs: 1000 } },
    });
    this.token = await createJoinToken(this.cloud.ca);
    for (const n of TEST_NODES) this.creds[n] = await joinAsNode(this.cloud.ports.join, this.token, n);
  }

  logged(msg: string, match: (l: Record<string, unknown>) => boolean): boolean {
    return this.logLines.some((l) => l.msg === msg && match(l));
  }

  async connect(node: string, opts: { nodeId?: string } = {}): Promise<RawEdge> {
    const e = await RawEdge.connect(this.cloud.ports.cloudhub, this.creds[node]!, opts);
    this.edges.push(e);
    return e;
  }

  /** The lines of the cloud's /metrics that start with `name`. */
  async metric(name: string): Promise<string> {
    const res = await fetch(`http://127.0.0.1:${this.cloud.ports.http}/metrics`);
    const text = await res.text();
    return text.split('\n').filter((l) => l.startsWith(name)).join('\n');
  }

  async close(): Promise<void> {
    for (const e of this.edges) e.close();
    await this.cloud?.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
