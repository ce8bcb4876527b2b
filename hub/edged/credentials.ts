// Per-pod credentials: a random token the gateway makes for each pod it runs, kept in the pod's
// folder under the data directory (0600, so only root and the containers it is mounted into read
// it), mounted read-only at /var/run/edgetwin/token, and removed with the pod. A running pod keeps
// its token across a gateway restart: the file is read back, not made again. The token is
// registered as a scoped credential (twin/scoped-credentials.ts): the API takes it as a bearer
// token and the embedded broker as the password of user `pod:{ns}/{name}`, both limited to the
// devices of the pod's namespace. It never goes to a log.

import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ScopedCredentials } from '../../twin/scoped-credentials.ts';
import { podDir } from './volumes.ts';

/** Where an app in a pod finds its token. */
export const TOKEN_PATH = '/var/run/edgetwin/token';
/** Where an app in a pod finds the certificates to trust for the gateway's TLS listeners (when pods are sent to them). */
export const CA_PATH = '/var/run/edgetwin/ca.crt';

/** The broker user name of a pod's credential. */
export const podUser = (namespace: string, name: string) => `pod:${namespace}/${name}`;
export const POD_USER_PREFIX = 'pod:';

export class PodCredentials {
  private readonly pods = new Map<string, { namespace: string; name: string; token: string }>(); // by uid

  constructor(
    private readonly dataDir: string,
    private readonly registry: ScopedCredentials,
  ) {}

  /** The token file of a pod, made on first use and registered; the same file (and token) after a restart. */
  ensure(namespace: string, name: string, uid: string): string {
    const dir = join(podDir(this.dataDir, uid), 'edgetwin');
    const file = join(dir, 'token');
    const known = this.pods.get(uid);
    if (known && known.namespace === namespace && known.name === name) return file;
    let token: string | undefined;
    try {
      token = readFileSync(file, 'utf8').trim();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    if (!token) {
      token = randomBytes(32).toString('base64url');
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      writeFileSync(file, token, { mode: 0o600 });
    }
    // A file left with wider modes (restored from a backup) is narrowed again.
    chmodSync(file, 0o600);
    this.pods.set(uid, { namespace, name, token });
    this.register(namespace, name, token);
    return file;
  }

  /** Forgets a pod's credential; its file goes with the pod's folder. */
  remove(uid: string): void {
    const gone = this.pods.get(uid);
    if (!gone) return;
    this.pods.delete(uid);
    this.registry.remove(podUser(gone.namespace, gone.name));
    // A pod made again under the same name (a new uid) while the old one stopped: the user is its now.
    for (const p of this.pods.values()) if (p.namespace === gone.namespace && p.name === gone.name) this.register(p.namespace, p.name, p.token);
  }

  private register(namespace: string, name: string, token: string): void {
    this.registry.set(token, { subject: `pod ${namespace}/${name}`, user: podUser(namespace, name), namespaces: [namespace] });
  }
}
