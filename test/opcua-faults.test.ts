// OPC UA faults users of other gateways report as silent data loss: a server restart, and a server
// that freezes (SIGSTOP) so keep-alives stop while the TCP connection stays open. Data must come
// back in both cases without restarting the gateway, and the device state must follow the session.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { createLogger } from '../core/log.ts';
import { MapperHost } from '../mappers/sdk/index.ts';
import { makeDevice, RecordingSink, waitFor } from '../mappers/sdk/testing.ts';
import { opcuaLoader } from '../mappers/opcua/index.ts';
import { startTestServer, type TestServer } from '../mappers/opcua/testing/spawn.ts';

let server: TestServer;
const dataDir = mkdtempSync(join(tmpdir(), 'edgetwin-opcua-'));

before(async () => {
  server = await startTestServer({ trustAll: true });
});
after(async () => {
  await server.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

async function withDevices(modes: ('subscribe' | 'poll')[], fn: (sink: RecordingSink, ids: string[], log: string[]) => Promise<void>): Promise<void> {
  const sink = new RecordingSink();
  const log: string[] = [];
  const destination = new Writable({ write(chunk, _enc, done) { log.push(String(chunk)); done(); } });
  const host = new MapperHost({ sink, drivers: [opcuaLoader], log: createLogger({ destination }), dataDir, backoff: { initialMs: 200, maxMs: 1000 } });
  const devices = modes.map((mode) => makeDevice({ name: `line-${mode}`, protocol: 'opcua', config: { url: server.url, mode, timeout: 2, publishingInterval: 100, keepAliveCount: 5 }, properties: [
    { name: 'counter', type: 'int', visitor: { nodeID: 'ns=1;s=Test.Counter' }, collectCycle: 100 },
  ] }));
  try {
    await host.apply(devices);
    for (const d of devices) await waitFor(() => sink.readings.some((r) => r.device === d.id && r.quality === 'good'), `a first reading of ${d.id}`, 30_000);
    await fn(sink, devices.map((d) => d.id), log);
  } finally {
    await host.close();
  }
}

const goodSince = (sink: RecordingSink, mark: number, device?: string) =>
  sink.events.slice(mark).filter((e) => e.kind === 'reading' && e.reading.quality === 'good' && (!device || e.reading.device === device)).length;
const stateSince = (sink: RecordingSink, mark: number, state: string, device?: string) =>
  sink.events.findIndex((e, i) => i >= mark && e.kind === 'state' && e.state === state && (!device || e.device === device));

describe('opcua faults', () => {
  test('subscribe and poll: data resumes after a server restart, with no gateway restart', async () => {
    await withDevices(['subscribe', 'poll'], async (sink, ids) => {
      const mark = sink.events.length;
      await server.restart();
      for (const id of ids) {
        const offline = await waitFor(() => {
          const i = stateSince(sink, mark, 'offline', id);
          return i >= 0 ? i : undefined;
        }, `${id} to go offline`, 30_000);
        await waitFor(() => stateSince(sink, offline, 'online', id) >= 0 || undefined, `${id} to come back online`, 30_000);
        await waitFor(() => goodSince(sink, offline, id) >= 5 || undefined, `${id} counter readings to resume`, 30_000);
      }
    });
  });

  test('subscribe: a subscription the server drops is recreated in the same session', async () => {
    await withDevices(['subscribe'], async (sink, [id], log) => {
      const mark = sink.events.length;
      await server.command('drop-subscriptions');
      await waitFor(() => sink.events.slice(mark).filter((e) => e.kind === 'reading' && e.reading.quality === 'good').length >= 5 || undefined, 'counter readings to resume', 30_000);
      const states = sink.events.slice(mark).filter((e) => e.kind === 'state');
      assert.deepEqual(states, [], 'the session survived, so the device never went offline');
      assert.equal(sink.latest(id!, 'counter')?.quality, 'good');
      assert.ok(log.some((l) => l.includes('subscription and monitored items recreated')), 'the driver rebuilt the subscription');
    });
  });

  test('subscribe: a frozen server (SIGSTOP) is noticed by the watchdog; data resumes after SIGCONT', async () => {
    await withDevices(['subscribe'], async (sink) => {
      const mark = sink.events.length;
      server.freeze();
      try {
        await waitFor(() => stateSince(sink, mark, 'offline') >= 0 || undefined, 'the watchdog to take the device offline', 30_000);
        const bad = sink.readings.filter((r) => r.quality === 'bad').at(-1);
        assert.equal(bad?.error?.code, 'ENOTCONN', 'the twin shows the value is not current');
        assert.match(sink.states.at(-1)!.reason ?? '', /keep-alive|does not answer|timed out/);
      } finally {
        server.thaw();
      }
      const offline = stateSince(sink, mark, 'offline');
      await waitFor(() => stateSince(sink, offline, 'online') >= 0 || undefined, 'the device to come back online', 30_000);
      await waitFor(() => goodSince(sink, offline) >= 5 || undefined, 'counter readings to resume', 30_000);
    });
  });
});
