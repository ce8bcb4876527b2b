// One session per server and identity, shared by every device that reaches the server the same way.
// PLCs allow few sessions (often 10 or fewer): a line of devices on one controller must not use one
// each. Each device keeps its own subscription and monitored items inside the shared session.
// When the session breaks, the runtime (DriverContext.share) tells every device using it; the next
// connect opens a fresh session, while the broken one closes once its last user has let go.

import { createHash } from 'node:crypto';
import type { ClientSession } from 'node-opcua-client';
import type { DriverContext } from '../sdk/driver.ts';
import { openSession } from './client.ts';
import type { OpcuaProtocol } from './config.ts';

export interface SessionLease {
  session: ClientSession;
  /** The session is unusable (a probe failed): every device on it reconnects. */
  fail(err: Error): void;
  release(): Promise<void>;
}

/** Everything that makes two sessions different; secrets enter only as a hash. */
function sessionKey(config: OpcuaProtocol, dataDir: string, timeoutMs: number): string {
  const { url, securityPolicy, securityMode, userName, password, userCertificate, certificate } = config;
  const identity = JSON.stringify({ url, securityPolicy, securityMode, userName, password, userCertificate, certificate, dataDir, timeoutMs });
  return createHash('sha256').update(identity).digest('hex').slice(0, 24);
}

export async function leaseSession(ctx: DriverContext, config: OpcuaProtocol, timeoutMs: number): Promise<SessionLease> {
  const key = `opcua-session:${sessionKey(config, ctx.dataDir, timeoutMs)}`;
  const lease = await ctx.share(key, (fail) => openSession(config, ctx.dataDir, timeoutMs, fail), `the session with ${config.url}`);
  return { session: lease.link.session, fail: lease.fail, release: lease.release };
}
