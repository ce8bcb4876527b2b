// Reading the CRI log files containerd writes for each container attempt:
// <logDirectory>/<container>/<attempt>.log, lines `<time> <stream> <P|F> <text>` where P marks a
// partial line continued by the next entry.

import { closeSync, openSync, readdirSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** The attempts that have a log file, newest first. */
export function logAttempts(logDirectory: string, container: string): { attempt: number; file: string }[] {
  let names: string[];
  try {
    names = readdirSync(join(logDirectory, container));
  } catch {
    return [];
  }
  return names
    .map((n) => /^(\d+)\.log$/.exec(n))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ attempt: Number(m[1]), file: join(logDirectory, container, m[0]) }))
    .sort((a, b) => b.attempt - a.attempt);
}

/** Turns CRI log lines into the text the container wrote. Keeps an unfinished last line for the next chunk. */
export class CriLogDecoder {
  private rest = '';

  push(chunk: string): string {
    const text = this.rest + chunk;
    const lines = text.split('\n');
    this.rest = lines.pop() ?? '';
    let out = '';
    for (const line of lines) {
      const m = /^\S+ (stdout|stderr) ([PF]) ?(.*)$/.exec(line);
      if (!m) continue;
      out += m[3] + (m[2] === 'F' ? '\n' : '');
    }
    return out;
  }
}

/** Reads `file` from `offset` to its end; returns the bytes and the new offset. */
export function readFrom(file: string, offset: number): { text: string; offset: number } {
  let size: number;
  try {
    size = statSync(file).size;
  } catch {
    return { text: '', offset };
  }
  if (size < offset) offset = 0; // rotated or truncated
  if (size === offset) return { text: '', offset };
  const fd = openSync(file, 'r');
  try {
    const buf = Buffer.alloc(size - offset);
    const n = readSync(fd, buf, 0, buf.length, offset);
    return { text: buf.subarray(0, n).toString('utf8'), offset: offset + n };
  } finally {
    closeSync(fd);
  }
}
