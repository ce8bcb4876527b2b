// Cloud and edge as separate processes, as a user runs them (the bundle in dist/):
// 1. the README's "Cloud and edge on one machine" commands, with ports moved off the defaults so
//    the test can run beside others: `edgetwin cloud`, then `edgetwin join ... && edgetwin run --cloud`;
// 2. kill -9 of the cloud (the test's cloud child) while the edge reports and holds objects: the
//    edge keeps running, reconnects when the cloud returns, and its waiting reports arrive.

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { freePort, waitFor } from '../core/testing.ts';
import { newMessage } from '../hub/message/index.ts';
import { CloudProcess } from '../hub/testing/cloud-process.ts';
import { tempDir } from '../twin/testing.ts';

const ROOT = resolve(import.meta.dirname, '..');
const BIN = join(ROOT, 'cli', 'bin', 'edgetwin.js');
const QUICKSTART = join(ROOT, 'examples', 'quickstart');
const children: ChildProcess[] = [];
const dirs: ReturnType<typeof tempDir>[] = [];

after(async () => {
  for (const c of children) {
    if (c.exitCode !== null || c.signalCode !== null) continue;
    const gone = new Promise((r) => c.once('exit', r));
    c.kill('SIGKILL');
    await gone;
  }
  for (const d of dirs) d.remove();
});

function start(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): { child: ChildProcess; log: () => string } {
  const child = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, KUBECONFIG: '', ...env }, detached: cmd === 'sh' });
  children.push(child);
  let log = '';
  child.stdout!.on('data', (c: Buffer) => (log += c));
  child.stderr!.on('data', (c: Buffer) => (log += c));
  return { child, log: () => log };
}

async function json<T>(url: string): Promise<T | undefined> {
  const res = await fetch(url).catch(() => undefined);
  return res?.ok ? ((await res.json()) as T) : undefined;
}

interface EdgeHealth {
  cloud?: { connected: boolean; outbox: number; objects: Record<string, number> };
}

describe('cloud and edge on one machine', () => {
  it('the README commands: edgetwin cloud; edgetwin join ... && edgetwin run --cloud ...', async () => {
    const work = tempDir('edgetwin-readme-');
    dirs.push(work);
    const [port, joinPort, httpPort, apiPort, mqttPort] = [await freePort(), await freePort(), await freePort(), await freePort(), await freePort()];
    // Terminal 1: `npx edgetwin cloud` (+ ports).
    const cloud = start(BIN, ['cloud', '--port', String(port), '--join-port', String(joinPort), '--http-port', String(httpPort)], work.dir);
    await waitFor('the cloud', async () => (await json(`http://127.0.0.1:${httpPort}/healthz`)) !== undefined, 30_000, 100);
    // Terminal 2: the README's line, run by a shell as written (+ ports, and the bin for npx).
    const line = `E=${BIN}; $E join --cloud 127.0.0.1:${joinPort} --token "$($E cloud token)" --node-name gw-1 --data-dir ./gw-1 ` +
      `&& $E run --cloud wss://127.0.0.1:${port} --data-dir ./gw-1 --devices ${QUICKSTART} --api-port ${apiPort} --mqtt-port ${mqttPort} --no-live`;
    const edge = start('sh', ['-c', line], work.dir);
    const h = await waitFor('the edge linked to the cloud', async () => {
      if (edge.child.exitCode !== null) throw new Error(`the edge exited: ${edge.log()}`);
      const health = await json<EdgeHealth>(`http://127.0.0.1:${apiPort}/healthz`);
      return health?.cloud?.connected ? health : undefined;
    }, 60_000, 100);
    assert.equal(h.cloud!.connected, true);
    assert.match(edge.log(), /joined as node "gw-1"/);
    await waitFor('the node at the cloud', async () => (await json<{ nodes: number }>(`http://127.0.0.1:${httpPort}/healthz`))?.nodes === 1);
    assert.doesNotMatch(cloud.log() + edge.log(), /"level":50/, 'no error logged');
    process.kill(-edge.child.pid!, 'SIGTERM');
    cloud.child.kill('SIGTERM');
  });

  it('kill -9 of the cloud: the edge keeps its objects and reports, reconnects when the cloud returns, and its waiting reports arrive', async () => {
    const state = tempDir('edgetwin-cloud-');
    const data = tempDir('edgetwin-edge-');
    dirs.push(state, data);
    const settings = { keepaliveTimeoutMs: 2000, resend: { resendIntervalMs: 300, retriesAtInterval: 4, maxResendIntervalMs: 2000 } };
    let cloud = await CloudProcess.start({ stateDir: state.dir, listen: '127.0.0.1', port: await freePort(), joinPort: await freePort(), httpPort: await freePort(), advertise: ['127.0.0.1'], settings });
    const ports = cloud.ports;
    try {
      const token = await cloud.token();
      const joined = start(BIN, ['join', '--cloud', `127.0.0.1:${ports.join}`, '--token', token, '--node-name', 'gw-k', '--data-dir', data.dir], ROOT);
      await new Promise((r) => joined.child.once('exit', r));
      assert.equal(joined.child.exitCode, 0, joined.log());
      const config = join(data.dir, 'edgetwin.yaml');
      writeFileSync(config, 'cloud:\n  heartbeat: 0.3\n  reconnect: { first: 0.1, max: 0.5 }\n');
      const apiPort = await freePort();
      const edge = start(BIN, ['run', '--config', config, '--cloud', `wss://127.0.0.1:${ports.cloudhub}`, '--data-dir', data.dir, '--devices', QUICKSTART, '--api-port', String(apiPort), '--mqtt-port', String(await freePort()), '--no-live', '--log-level', 'warn'], ROOT);
      const health = () => json<EdgeHealth>(`http://127.0.0.1:${apiPort}/healthz`);
      await waitFor('the edge linked', async () => (await health())?.cloud?.connected, 60_000, 100);

      for (let i = 0; i < 20; i++) {
        const rv = String(i + 1);
        const offer = await cloud.send('gw-k', newMessage(
          { source: 'edgecontroller', group: 'resource', operation: 'insert', resource: `node/gw-k/default/configmap/c${i}` },
          { metadata: { name: `c${i}`, namespace: 'default', uid: `u${i}`, resourceVersion: rv } },
          { resourceVersion: rv },
        ));
        assert.equal(offer, 'queued');
      }
      await waitFor('the objects at the edge', async () => (await health())?.cloud?.objects.configmap === 20);
      await waitFor('reports at the cloud', () => cloud.stored().some((s) => s.message.route.resource.endsWith('/twin/edge_updated')));

      await cloud.kill9();
      await waitFor('the edge to notice', async () => (await health())?.cloud?.connected === false, 30_000, 50);
      // The gateway runs on: its devices keep reporting into the outbox.
      await waitFor('reports waiting in the outbox', async () => ((await health())?.cloud?.outbox ?? 0) > 0, 30_000, 50);
      assert.equal(edge.child.exitCode, null);

      cloud = await CloudProcess.start({ stateDir: state.dir, listen: '127.0.0.1', port: ports.cloudhub, joinPort: ports.join, httpPort: ports.http, advertise: ['127.0.0.1'], settings });
      await waitFor('the edge to reconnect', async () => (await health())?.cloud?.connected, 60_000, 50);
      for (const dev of ['thermostat', 'packaging-line']) {
        await waitFor(`${dev}'s reports at the restarted cloud`, () => cloud.stored().some((s) => s.message.route.resource === `node/gw-k/device/default/${dev}/twin/edge_updated`), 30_000, 50);
      }
      // The restarted cloud knows what the edge acknowledged before the kill: nothing is sent twice.
      const again = await cloud.send('gw-k', newMessage(
        { source: 'edgecontroller', group: 'resource', operation: 'update', resource: 'node/gw-k/default/configmap/c0' },
        { metadata: { name: 'c0', namespace: 'default', uid: 'u0', resourceVersion: '1' } },
        { resourceVersion: '1' },
      ));
      assert.equal(again, 'stale');
      assert.equal((await health())?.cloud?.objects.configmap, 20);
    } finally {
      await cloud.kill9();
    }
  });

  it('kill -9 of the edge while the cloud sends: what the cloud recorded as acknowledged is in MetaManager; the restarted edge gets the rest', async () => {
    const state = tempDir('edgetwin-cloud-');
    const data = tempDir('edgetwin-edge-');
    dirs.push(state, data);
    const settings = { keepaliveTimeoutMs: 2000, resend: { resendIntervalMs: 300, retriesAtInterval: 4, maxResendIntervalMs: 2000 } };
    const cloud = await CloudProcess.start({ stateDir: state.dir, listen: '127.0.0.1', port: await freePort(), joinPort: await freePort(), httpPort: await freePort(), advertise: ['127.0.0.1'], settings });
    try {
      const joined = start(BIN, ['join', '--cloud', `127.0.0.1:${cloud.ports.join}`, '--token', await cloud.token(), '--node-name', 'gw-s', '--data-dir', data.dir], ROOT);
      await new Promise((r) => joined.child.once('exit', r));
      assert.equal(joined.child.exitCode, 0, joined.log());
      const config = join(data.dir, 'edgetwin.yaml');
      writeFileSync(config, 'cloud:\n  heartbeat: 0.3\n  reconnect: { first: 0.1, max: 0.5 }\n');
      const apiPort = await freePort();
      const args = ['run', '--config', config, '--cloud', `wss://127.0.0.1:${cloud.ports.cloudhub}`, '--data-dir', data.dir, '--api-port', String(apiPort), '--mqtt-port', String(await freePort()), '--no-live', '--log-level', 'warn'];
      const health = () => json<EdgeHealth>(`http://127.0.0.1:${apiPort}/healthz`);
      let edge = start(BIN, args, ROOT);
      await waitFor('the edge linked', async () => (await health())?.cloud?.connected, 60_000, 50);

      const COUNT = 150;
      const msg = (i: number) => newMessage(
        { source: 'edgecontroller', group: 'resource', operation: 'insert', resource: `node/gw-s/default/secret/s${i}` },
        { metadata: { name: `s${i}`, namespace: 'default', uid: `s${i}`, resourceVersion: '4' } },
        { resourceVersion: '4' },
      );
      const sending = (async () => {
        for (let i = 0; i < COUNT; i++) await cloud.send('gw-s', msg(i));
      })();
      await waitFor('some objects at the edge', async () => ((await health())?.cloud?.objects.secret ?? 0) >= 10, 60_000, 5);
      const gone = new Promise((r) => edge.child.once('exit', r));
      edge.child.kill('SIGKILL');
      await gone;
      await sending;

      // 'stale' = the cloud holds the edge's ACK for this version, which the edge sends only after its commit.
      const db = new Database(join(data.dir, 'cloud.db'));
      let acknowledged = 0;
      try {
        const row = db.prepare<[string], { resource_version: string }>('SELECT resource_version FROM meta WHERE key = ?');
        for (let i = 0; i < COUNT; i++) {
          if ((await cloud.send('gw-s', msg(i))) !== 'stale') continue;
          acknowledged++;
          assert.equal(row.get(`default/secret/s${i}`)?.resource_version, '4', `s${i} was acknowledged but is not in MetaManager`);
        }
      } finally {
        db.close();
      }
      assert.ok(acknowledged >= 10);

      edge = start(BIN, args, ROOT);
      await waitFor('every object at the restarted edge', async () => (await health())?.cloud?.objects.secret === COUNT, 60_000, 50);
      await waitFor('nothing left to resend', async () => {
        for (const i of [0, COUNT - 1]) if ((await cloud.send('gw-s', msg(i))) !== 'stale') return false;
        return true;
      }, 30_000, 100);
    } finally {
      await cloud.kill9();
    }
  });
});
