// Helpers every layer's tests share (core imports nothing of ours, so any layer may use them).
// Tests wait for a condition instead of sleeping a fixed time: the machines are shared and noisy,
// so a generous deadline only bounds a failure, it never decides a pass.

import { createServer } from 'node:net';

// Ports from 32768 up are the kernel's for outgoing connections (ip_local_port_range): a server a
// test restarts on a port from there could find it taken by some client's socket meanwhile. So test
// ports come from below, at random (test files run in parallel processes), never twice in one process.
const FIRST_TEST_PORT = 10_000;
const PAST_LAST_TEST_PORT = 32_768;
const handedOut = new Set<number>();
/**
 * Ports in that range the Fetch standard blocks ("bad ports"): Node's fetch() refuses them at once
 * ("fetch failed", cause "bad port"), so a test server there could never be reached by fetch.
 */
const FETCH_BLOCKED = new Set([10080]);

/** Whether freePort() may hand out this port: in the test range, and reachable by fetch(). */
export function testPortUsable(port: number): boolean {
  return port >= FIRST_TEST_PORT && port < PAST_LAST_TEST_PORT && !FETCH_BLOCKED.has(port);
}

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/** A free loopback port below 32768 for a server a test starts itself. */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 500; attempt++) {
    const port = FIRST_TEST_PORT + Math.floor(Math.random() * (PAST_LAST_TEST_PORT - FIRST_TEST_PORT));
    if (handedOut.has(port) || !testPortUsable(port)) continue;
    if (await canBind(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error(`no free port between ${FIRST_TEST_PORT} and ${PAST_LAST_TEST_PORT - 1} after 500 tries`);
}

/** Polls until `probe` returns a value other than undefined or false; fails naming `what`. */
export async function waitFor<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 20_000, everyMs = 10): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`gave up after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${(lastError as Error).message}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
