// One session per server and identity, shared by every device that reaches the server the same way.
// PLCs allow few sessions (often 10 or fewer): a line of devices on one controller must not use one
// each. Each device keeps its own subscription and monitored items inside the shared session.
// When the session breaks, every device using it is told; the next connect opens a fresh session
// (a new generation of the key), while the broken one closes once its last user has let go.

import { createHash } from 'node:crypto';
import type { ClientSession } from 'node-opcua-client';
import { codedError } from '../sdk/async.ts';
import type { LinkRegistry } from '../sdk/links.ts';
import { openSession, type OpenSession } from './client.ts';
import type { OpcuaProtocol } from './config.ts';
import { IoCodes } from '../../core/errors.ts';

export interface SessionLease {
  session: ClientSession;
  /** The session is unusable (a probe failed): every device on it reconnects. */
  fail(err: Error): void;
  release(): Promise<void>;
}

class Shared {
  readonly users = new Set<(err: Error) => void>();
  broken = false;
  open!: OpenSession;
  readonly #onBroken: () => void;

  constructor(onBroken: () => void) {
    this.#onBroken = onBroken;
  }

  fail(err: Error): void {
    if (this.broken) return;
    this.broken = true;
    this.#onBroken();
    for (const lost of [...this.users]) lost(err);
  }

  close(): Promise<void> {
    return this.open.close();
  }
}

const generations = new Map<string, number>();

/** Everything that makes two sessions different; secrets enter only as a hash. */
function sessionKey(config: OpcuaProtocol, dataDir: string, timeoutMs: number): string {
  const { url, securityPolicy, securityMode, userName, password, userCertificate, certificate } = config;
  const identity = JSON.stringify({ url, securityPolicy, securityMode, userName, password, userCertificate, certificate, dataDir, timeoutMs });
  return createHash('sha256').update(identity).digest('hex').slice(0, 24);
}

export async function leaseSession(links: LinkRegistry, config: OpcuaProtocol, dataDir: string, timeoutMs: number, lost: (err: Error) => void): Promise<SessionLease> {
  const base = sessionKey(config, dataDir, timeoutMs);
  for (let attempt = 1; ; attempt++) {
    const generation = generations.get(base) ?? 0;
    const key = `opcua-session:${base}#${generation}`;
    const shared = await links.acquire(key, async () => {
      const s = new Shared(() => generations.set(base, Math.max(generations.get(base) ?? 0, generation + 1)));
      s.open = await openSession(config, dataDir, timeoutMs, (err) => s.fail(err));
      return s;
    });
    if (shared.broken) {
      // Broke between its opening and this lease: let go and take the next generation, once.
      await links.release(key);
      if (attempt < 2) continue;
      throw codedError(IoCodes.CONNECTION_RESET, `the session with ${config.url} broke as soon as it opened`);
    }
    shared.users.add(lost);
    let released = false;
    return {
      session: shared.open.session,
      fail: (err) => shared.fail(err),
      release: async () => {
        if (released) return;
        released = true;
        shared.users.delete(lost);
        await links.release(key);
      },
    };
  }
}
