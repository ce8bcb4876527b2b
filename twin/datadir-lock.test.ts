import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { EdgetwinError } from '../core/errors.ts';
import { lockDataDir } from './datadir-lock.ts';
import { tempDir } from './testing.ts';

const startOf = (pid: number) => {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
};

describe('data directory lock', () => {
  let tmp: ReturnType<typeof tempDir>;
  beforeEach(() => (tmp = tempDir('edgetwin-lock-')));
  afterEach(() => tmp.remove());

  it('refuses a second lock in the same process, and frees the directory on release', () => {
    const first = lockDataDir(tmp.dir);
    assert.equal(first.tookOver, undefined);
    assert.equal(statSync(first.file).mode & 0o777, 0o600);
    assert.throws(() => lockDataDir(tmp.dir), (err: unknown) => err instanceof EdgetwinError && /in use by another gateway \(this process/.test(err.message));
    first.release();
    assert.equal(existsSync(first.file), false);
    lockDataDir(tmp.dir).release();
  });

  it('refuses while another live process holds it, naming that process', async () => {
    const holder = spawn('sleep', ['60'], { stdio: 'ignore' });
    try {
      await new Promise((r) => holder.once('spawn', r));
      const pid = holder.pid!;
      writeFileSync(join(tmp.dir, 'edgetwin.lock'), JSON.stringify({ pid, start: startOf(pid), host: hostname() }));
      assert.throws(() => lockDataDir(tmp.dir), (err: unknown) => {
        assert.ok(err instanceof EdgetwinError);
        assert.match(err.format(), new RegExp(`process ${pid}\\b`));
        assert.match(err.format(), /edgetwin\.lock/);
        assert.match(err.format(), /stop that gateway first, or give this one its own --data-dir/);
        return true;
      });
    } finally {
      holder.kill('SIGKILL');
    }
  });

  it('takes over the lock of a process that is gone', async () => {
    const gone = spawn('true', { stdio: 'ignore' });
    await new Promise((r) => gone.once('exit', r));
    writeFileSync(join(tmp.dir, 'edgetwin.lock'), JSON.stringify({ pid: gone.pid, start: '1', host: hostname() }));
    const lock = lockDataDir(tmp.dir);
    assert.deepEqual(lock.tookOver, { pid: gone.pid });
    assert.equal(JSON.parse(readFileSync(lock.file, 'utf8')).pid, process.pid);
    lock.release();
  });

  it('takes over a lock whose pid now belongs to another process (a reused pid)', async () => {
    const other = spawn('sleep', ['60'], { stdio: 'ignore' });
    try {
      await new Promise((r) => other.once('spawn', r));
      writeFileSync(join(tmp.dir, 'edgetwin.lock'), JSON.stringify({ pid: other.pid, start: `${startOf(other.pid!)}0`, host: hostname() }));
      const lock = lockDataDir(tmp.dir);
      assert.deepEqual(lock.tookOver, { pid: other.pid });
      lock.release();
    } finally {
      other.kill('SIGKILL');
    }
  });

  it('takes over an unreadable lock (a crash while writing it)', () => {
    writeFileSync(join(tmp.dir, 'edgetwin.lock'), '{"pi');
    const lock = lockDataDir(tmp.dir);
    assert.deepEqual(lock.tookOver, { pid: 0 });
    lock.release();
  });
});
