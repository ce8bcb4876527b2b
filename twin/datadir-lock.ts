// One gateway per data directory. Two gateways on one directory would both poll and write the
// same devices and leave the store with a mix of their states, so the second one refuses to start
// and names the process holding the directory.
//
// The lock is a file, `<dataDir>/edgetwin.lock`, created exclusively (O_EXCL) and holding the
// owner's pid and, on Linux, its start time from /proc/<pid>/stat. A lock whose process is gone
// (kill -9, power loss) is stale and taken over; the start time tells a reused pid (common in
// containers after a restart) from the process that wrote the lock.

import { closeSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { EdgetwinError, ErrorCodes } from '../core/errors.ts';

export interface DataDirLock {
  readonly file: string;
  /** True when a lock of a dead process was found and taken over. */
  readonly tookOver: { pid: number } | undefined;
  release(): void;
}

interface Owner {
  pid: number;
  start?: string;
  host?: string;
}

/** Locks in this process: the same process opening a directory twice is a second gateway too. */
const held = new Set<string>();

export function lockDataDir(dataDir: string): DataDirLock {
  const file = resolve(dataDir, 'edgetwin.lock');
  try {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw new EdgetwinError(ErrorCodes.STORAGE, `cannot create the data directory: ${(err as Error).message}`, { file: dataDir },
      'make its parent writable by this user, or point --data-dir elsewhere', { cause: err });
  }
  const me: Owner = { pid: process.pid, start: startTime(process.pid), host: hostname() };
  if (held.has(file)) throw lockedError(file, me);
  let tookOver: { pid: number } | undefined;
  if (!create(file, me)) {
    const owner = readOwner(file);
    if (owner && alive(owner)) throw lockedError(file, owner);
    // Stale (or unreadable, e.g. cut short by a crash mid-write): replace it in one rename, so
    // there is no moment without a lock file that another starting gateway could create.
    const tmp = `${file}.${process.pid}`;
    writeOwner(tmp, 'w', me);
    renameSync(tmp, file);
    const now = readOwner(file);
    if (now?.pid !== me.pid || now.start !== me.start) throw lockedError(file, now ?? { pid: 0 });
    tookOver = { pid: owner?.pid ?? 0 };
  }
  held.add(file);
  let released = false;
  return {
    file,
    tookOver,
    release() {
      if (released) return;
      released = true;
      held.delete(file);
      const owner = readOwner(file);
      if (owner?.pid === me.pid && owner.start === me.start) rmSync(file, { force: true });
    },
  };
}

/** Creates the lock exclusively; false when a lock file exists already. */
function create(file: string, me: Owner): boolean {
  try {
    writeOwner(file, 'wx', me);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw new EdgetwinError(ErrorCodes.STORAGE, `cannot create the data directory lock: ${(err as Error).message}`, { file },
      'make the data directory writable by this user, or point --data-dir elsewhere', { cause: err });
  }
}

function writeOwner(file: string, flags: 'w' | 'wx', me: Owner): void {
  const fd = openSync(file, flags, 0o600);
  try {
    writeSync(fd, JSON.stringify(me));
  } finally {
    closeSync(fd);
  }
}

function lockedError(file: string, owner: Owner): EdgetwinError {
  const who = owner.pid === process.pid ? 'this process' : `process ${owner.pid}${owner.host && owner.host !== hostname() ? ` on host ${owner.host}` : ''}`;
  return new EdgetwinError(
    ErrorCodes.STORAGE,
    `the data directory is in use by another gateway (${who}, see ${file})`,
    { file },
    'stop that gateway first, or give this one its own --data-dir; if that process is not an edgetwin gateway, delete the lock file',
  );
}

function readOwner(file: string): Owner | undefined {
  try {
    const v = JSON.parse(readFileSync(file, 'utf8')) as Owner;
    return typeof v.pid === 'number' ? v : undefined;
  } catch {
    return undefined;
  }
}

function alive(owner: Owner): boolean {
  // A lock from another host (a shared network directory) cannot be checked from here: trust it.
  if (owner.host && owner.host !== hostname()) return true;
  // Our own pid, yet not held (checked before): left by an earlier process that had this pid.
  if (owner.pid === process.pid) return false;
  try {
    process.kill(owner.pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
  }
  const start = startTime(owner.pid);
  return owner.start === undefined || start === undefined || start === owner.start;
}

/** The process start time in clock ticks since boot (field 22 of /proc/<pid>/stat), Linux only. */
function startTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}
