// Scoped credentials: secrets the gateway hands out itself (one per pod today), each good for the
// devices of some namespaces only. The API accepts one as a bearer token, the embedded broker as
// the password of the credential's user name; both then limit the caller to its namespaces.
// Kept apart from the configured token and password file, which stay all-powerful and unchanged.
//
// Secrets are held as SHA-256 digests: a lookup by digest reveals nothing about the secret's
// bytes through its timing, and a heap dump does not show the secret.

import { createHash } from 'node:crypto';

export interface CredentialScope {
  /** Who holds it, for logs and refusals: `pod default/app`. */
  subject: string;
  /** The broker user name it authenticates: `pod:default/app`. */
  user: string;
  /** The device namespaces it may read and set desired values of. */
  namespaces: readonly string[];
}

const digest = (secret: string | Buffer) => createHash('sha256').update(secret).digest('hex');

export class ScopedCredentials {
  private readonly bySecret = new Map<string, CredentialScope>();
  private readonly byUser = new Map<string, string>();

  /** `reservedPrefixes`: broker user names only these credentials may take (a password file cannot shadow them). */
  constructor(private readonly reservedPrefixes: readonly string[] = []) {}

  /** Registers a secret for a scope; a new secret for the same user replaces the old one. */
  set(secret: string, scope: CredentialScope): void {
    this.remove(scope.user);
    const d = digest(secret);
    this.bySecret.set(d, { ...scope, namespaces: [...scope.namespaces] });
    this.byUser.set(scope.user, d);
  }

  remove(user: string): void {
    const d = this.byUser.get(user);
    if (d === undefined) return;
    this.byUser.delete(user);
    this.bySecret.delete(d);
  }

  get size(): number {
    return this.bySecret.size;
  }

  /** The scope of a bearer token, or undefined when it is none of ours. */
  byToken(token: string): CredentialScope | undefined {
    return this.bySecret.get(digest(token));
  }

  /** The scope when `password` is the secret of user `user`, else undefined. */
  verifyUser(user: string, password: string | Buffer): CredentialScope | undefined {
    const scope = this.bySecret.get(digest(password));
    return scope && scope.user === user ? scope : undefined;
  }

  /** True for a user name only a scoped credential may authenticate as. */
  reserved(user: string | undefined): boolean {
    return user !== undefined && this.reservedPrefixes.some((p) => user.startsWith(p));
  }
}

/** May this scope touch device `ns/name`? */
export function scopeAllowsDevice(scope: CredentialScope, device: string): boolean {
  const ns = device.split('/', 1)[0]!;
  return scope.namespaces.includes(ns);
}
