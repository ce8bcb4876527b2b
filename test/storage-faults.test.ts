// Storage faults, with the real gateway process: a full disk (a real small tmpfs filled up by the
// test), two gateways on one data directory, a corrupted and a read-only database, and the modes
// of the files it creates. Tests that need mount(8) skip, saying why, where mounting is not
// permitted.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import mqtt from 'mqtt';
import { waitFor } from '../core/testing.ts';
import { writeOven } from './helpers/oven.ts';
import { cli, startGatewayProcess, type GatewayProcess } from './helpers/gateway-process.ts';

const work = mkdtempSync(join(tmpdir(), 'edgetwin-storage-'));
const devices = writeOven(work);
const config = join(work, 'config.yaml');
writeFileSync(config, 'storeRetryMs: 100\n');

/** Mounts a tmpfs of `size`; undefined (with the reason printed) where mount is not permitted. */
function mountTmpfs(dir: string, size: string, options = ''): string | undefined {
  mkdirSync(dir, { recursive: true });
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}${options}`, 'tmpfs', dir], { stdio: 'pipe' });
    return undefined;
  } catch (err) {
    return `mount is not permitted here: ${((err as { stderr?: Buffer }).stderr?.toString() || (err as Error).message).trim()}`;
  }
}

function umount(dir: string): void {
  try {
    execFileSync('umount', [dir], { stdio: 'pipe' });
  } catch {
    // Not mounted (the test skipped, or failed before mounting).
  }
}

const healthz = async (gw: GatewayProcess) => {
  const res = await fetch(`${gw.apiUrl}/healthz`);
  return { status: res.status, json: (await res.json()) as { status: string; reasons: { component: string; message: string }[] } };
};

const noStack = (text: string) => assert.doesNotMatch(text, /\n\s+at .+:\d+:\d+/, `a stack trace in:\n${text}`);

describe('storage faults of a running gateway', () => {
  const gateways: GatewayProcess[] = [];
  const mounts: string[] = [];
  after(async () => {
    for (const gw of gateways) await gw.stop('SIGKILL');
    for (const m of mounts) umount(m);
    rmSync(work, { recursive: true, force: true });
  });

  it('creates the data directory 0700 and the database 0600', async () => {
    const dataDir = join(work, 'modes', 'data');
    const gw = await startGatewayProcess({ devices: [devices], dataDir });
    gateways.push(gw);
    await gw.stop();
    assert.equal(statSync(dataDir).mode & 0o777, 0o700);
    assert.equal(statSync(join(dataDir, 'edgetwin.db')).mode & 0o777, 0o600);
  });

  it('refuses a second gateway on the same data directory, naming the process that holds it', async () => {
    const dataDir = join(work, 'shared');
    const first = await startGatewayProcess({ devices: [devices], dataDir });
    gateways.push(first);
    const second = await cli(['run', '--devices', devices, '--data-dir', dataDir, '--mqtt-port', '0', '--api-port', '0', '--no-live']);
    const out = second.stdout + second.stderr;
    assert.equal(second.code, 1, out);
    assert.match(out, new RegExp(`in use by another gateway \\(process ${first.child.pid}\\b`));
    assert.match(out, /edgetwin\.lock/);
    noStack(out);
    // The first one is untouched.
    assert.equal((await healthz(first)).status, 200);
    await first.stop('SIGKILL');
    // Killed, it left its lock behind: the next gateway takes it over.
    const next = await startGatewayProcess({ devices: [devices], dataDir });
    gateways.push(next);
    assert.match(next.log(), /took over the data directory lock of a process that is gone/);
    await next.stop();
  });

  it('exits naming the file and what to do when the database is corrupted', async () => {
    const dataDir = join(work, 'corrupt');
    mkdirSync(dataDir, { recursive: true });
    writeFileSync(join(dataDir, 'edgetwin.db'), Buffer.alloc(8192, 0x5a));
    const r = await cli(['run', '--devices', devices, '--data-dir', dataDir, '--mqtt-port', '0', '--api-port', '0', '--no-live']);
    const out = r.stdout + r.stderr;
    assert.equal(r.code, 1, out);
    assert.match(out, new RegExp(`${join(dataDir, 'edgetwin.db').replace(/[.]/g, '\\.')}`));
    assert.match(out, /not an edgetwin database, or is corrupted: stop the gateway and move the file aside/);
    noStack(out);
  });

  it('exits naming the file and what to do when the database is read-only', async (t) => {
    const dataDir = join(work, 'readonly');
    const first = await startGatewayProcess({ devices: [devices], dataDir });
    await first.stop();
    const db = join(dataDir, 'edgetwin.db');
    // Root ignores file modes, so the file is made read-only the way a read-only mount does it.
    try {
      execFileSync('mount', ['--bind', db, db], { stdio: 'pipe' });
    } catch (err) {
      t.skip(`mount is not permitted here: ${(err as Error).message}`);
      return;
    }
    mounts.push(db);
    execFileSync('mount', ['-o', 'remount,ro,bind', db], { stdio: 'pipe' });
    const r = await cli(['run', '--devices', devices, '--data-dir', dataDir, '--mqtt-port', '0', '--api-port', '0', '--no-live']);
    const out = r.stdout + r.stderr;
    assert.equal(r.code, 1, out);
    assert.match(out, new RegExp(db.replace(/[.]/g, '\\.')));
    assert.match(out, /readonly|read-only/);
    assert.match(out, /make the data directory writable, or point --data-dir elsewhere/);
    noStack(out);
  });

  it('on a full disk: degraded with the reason, keeps polling with persisted "false", refuses desired values it cannot store, and recovers when space returns', async (t) => {
    const mnt = join(work, 'small');
    const why = mountTmpfs(mnt, '8m');
    if (why) {
      t.skip(why);
      return;
    }
    mounts.push(mnt);
    const dataDir = join(mnt, 'data');
    const gw = await startGatewayProcess({ devices: [devices], dataDir, extra: ['--config', config] });
    gateways.push(gw);
    assert.equal((await healthz(gw)).json.status, 'ok');

    const seen: { value: number; persisted: string | undefined }[] = [];
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${gw.mqttPort}`, { reconnectPeriod: 0 });
    client.on('message', (_topic, payload) => {
      const d = (JSON.parse(payload.toString()) as { data: Record<string, { value: string; metadata: { persisted?: string } }> }).data.ticks;
      if (d) seen.push({ value: Number(d.value), persisted: d.metadata.persisted });
    });
    await client.subscribeAsync('$ke/events/device/default/oven/data/update');
    try {
      // Fill the file system to the last byte.
      const filler = join(mnt, 'filler');
      const fd = openSync(filler, 'w');
      const chunk = Buffer.alloc(64 * 1024);
      try {
        for (;;) writeSync(fd, chunk);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
      }
      try {
        for (;;) writeSync(fd, chunk, 0, 512);
      } catch {
        // Full to the last block.
      }
      closeSync(fd);

      const degraded = await waitFor('/healthz to turn degraded', async () => {
        const h = await healthz(gw);
        return h.json.status === 'degraded' ? h : undefined;
      }, 30_000, 50);
      assert.equal(degraded.status, 503);
      const store = degraded.json.reasons.find((r) => r.component === 'store');
      assert.ok(store, JSON.stringify(degraded.json));
      assert.match(store.message, /edgetwin\.db/);
      assert.match(store.message, /disk is full/);

      // Devices keep polling; their values go out marked as not stored.
      const from = seen.length;
      await waitFor('new readings marked persisted "false"', () => seen.slice(from).filter((s) => s.persisted === 'false').length >= 5);

      // A desired value the store cannot keep is refused, and the twin does not show it.
      const put = await fetch(`${gw.apiUrl}/api/v1/devices/default/oven/twin/desired/setpoint`, {
        method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ value: '420' }),
      });
      const body = (await put.json()) as { code: string; message: string };
      assert.equal(put.status, 503, JSON.stringify(body));
      assert.equal(body.code, 'ET_STORAGE');
      assert.match(body.message, /disk is full/);
      const twin = (await (await fetch(`${gw.apiUrl}/api/v1/devices/default/oven/twin`)).json()) as { properties: Record<string, { desired?: unknown; reported?: { value: number } }> };
      assert.equal(twin.properties.setpoint!.desired, undefined);
      assert.ok((twin.properties.ticks!.reported?.value ?? 0) > 0, 'the live twin keeps the readings');

      // Space returns: the gateway recovers by itself.
      rmSync(filler);
      const ok = await waitFor('/healthz to be ok again', async () => {
        const h = await healthz(gw);
        return h.json.status === 'ok' ? h : undefined;
      }, 30_000, 50);
      assert.equal(ok.status, 200);
      const again = seen.length;
      await waitFor('readings stored again (no persisted flag)', () => seen.slice(again).some((s) => s.persisted === undefined));
      const set = await fetch(`${gw.apiUrl}/api/v1/devices/default/oven/twin/desired/setpoint`, {
        method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ value: '420' }),
      });
      assert.equal(set.status, 200, await set.text());
    } finally {
      await client.endAsync(true);
    }
    // What the twin showed while the disk was full is in the store: what a restart finds.
    await gw.stop();
    const lastSeen = Math.max(...seen.map((s) => s.value));
    const db = new Database(join(dataDir, 'edgetwin.db'), { readonly: true });
    const rows = new Map((db.prepare("SELECT name, desired, reported FROM properties JOIN reported USING (rid) WHERE device = 'default/oven'").all() as { name: string; desired: string | null; reported: string }[]).map((r) => [r.name, r]));
    db.close();
    assert.equal(rows.get('setpoint')?.desired, '420');
    assert.ok(Number(rows.get('ticks')?.reported) >= lastSeen, `stored ${rows.get('ticks')?.reported}, last seen ${lastSeen}`);
  });
});
