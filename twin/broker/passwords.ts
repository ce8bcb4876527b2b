// Users of the embedded broker, from a password file in mosquitto_passwd's format:
// `user:$7$iterations$salt$hash` (PBKDF2-SHA512, mosquitto 2's default) or `user:$6$salt$hash`
// (salted SHA512, mosquitto 1.6's). Plain-text passwords are refused: mosquitto_passwd -U hashes them.

import { createHash, pbkdf2Sync, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { EdgetwinError, ErrorCodes } from '../../core/errors.ts';

type Hash = { kind: 'pbkdf2'; iterations: number; salt: Buffer; hash: Buffer } | { kind: 'sha512'; salt: Buffer; hash: Buffer };

export class PasswordFile {
  private constructor(private readonly users: Map<string, Hash>) {}

  static read(file: string): PasswordFile {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new EdgetwinError(ErrorCodes.CONFIG, `cannot read broker.passwordFile: ${(err as Error).message}`, { file }, 'create it with mosquitto_passwd -c <file> <user>');
    }
    return PasswordFile.parse(text, file);
  }

  static parse(text: string, file: string): PasswordFile {
    const users = new Map<string, Hash>();
    text.split(/\r?\n/).forEach((raw, i) => {
      const line = raw.trim();
      if (line === '' || line.startsWith('#')) return;
      const colon = line.indexOf(':');
      const where = { file, line: i + 1 };
      if (colon <= 0) throw new EdgetwinError(ErrorCodes.CONFIG, 'expected user:hash', where, 'write the file with mosquitto_passwd');
      const user = line.slice(0, colon);
      const hash = parseHash(line.slice(colon + 1));
      if (!hash) {
        throw new EdgetwinError(ErrorCodes.CONFIG, `user "${user}" has no $7$ (PBKDF2-SHA512) or $6$ (SHA512) hash`, where, 'a plain-text password is not accepted: hash the file with mosquitto_passwd -U <file>');
      }
      users.set(user, hash);
    });
    return new PasswordFile(users);
  }

  get size(): number {
    return this.users.size;
  }

  /** Constant-time in the hash comparison; an unknown user costs the same PBKDF2 work as a known one. */
  verify(user: string, password: Buffer | string): boolean {
    const h = this.users.get(user) ?? DECOY;
    const pw = typeof password === 'string' ? Buffer.from(password) : password;
    const got = h.kind === 'pbkdf2' ? pbkdf2Sync(pw, h.salt, h.iterations, h.hash.length, 'sha512') : createHash('sha512').update(pw).update(h.salt).digest();
    const ok = got.length === h.hash.length && timingSafeEqual(got, h.hash);
    return ok && this.users.has(user);
  }
}

const B64 = /^[A-Za-z0-9+/]+={0,2}$/;

function parseHash(s: string): Hash | undefined {
  const p = s.split('$');
  if (p[0] !== '') return undefined;
  if (p[1] === '7' && p.length === 5 && /^\d+$/.test(p[2]!) && B64.test(p[3]!) && B64.test(p[4]!)) {
    return { kind: 'pbkdf2', iterations: Number(p[2]), salt: Buffer.from(p[3]!, 'base64'), hash: Buffer.from(p[4]!, 'base64') };
  }
  if (p[1] === '6' && p.length === 4 && B64.test(p[2]!) && B64.test(p[3]!)) {
    return { kind: 'sha512', salt: Buffer.from(p[2]!, 'base64'), hash: Buffer.from(p[3]!, 'base64') };
  }
  return undefined;
}

const DECOY: Hash = { kind: 'pbkdf2', iterations: 101, salt: Buffer.alloc(12), hash: Buffer.alloc(64) };
