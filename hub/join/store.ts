// Where the cloud keeps what must outlive its process: the CA, its key, the revocation list.
// A key-value shape on purpose: the next issue keeps the same keys in a Kubernetes Secret.
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface CaStore {
  /** The stored bytes, or undefined when the key was never written. */
  get(key: string): Promise<Buffer | undefined>;
  /** `secret` values (private keys) are readable by the owner only. */
  put(key: string, value: Buffer, opts?: { secret?: boolean }): Promise<void>;
  /** Where the values live, for messages a user reads. */
  readonly where: string;
}

/** The state directory (`--state-dir`): one file per key, the directory 0700, secrets 0600. */
export class DirCaStore implements CaStore {
  readonly where: string;
  constructor(readonly dir: string) {
    this.where = dir;
  }

  async get(key: string): Promise<Buffer | undefined> {
    try {
      return await readFile(join(this.dir, key));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new Error(`cannot read ${join(this.dir, key)}: ${(err as Error).message}`);
    }
  }

  async put(key: string, value: Buffer, opts: { secret?: boolean } = {}): Promise<void> {
    await ensureStateDir(this.dir);
    const path = join(this.dir, key);
    // Written beside and renamed, so a crash never leaves half a key behind.
    const tmp = `${path}.${process.pid}.tmp`;
    const mode = opts.secret ? 0o600 : 0o644;
    await writeFile(tmp, value, { mode });
    await chmod(tmp, mode);
    await rename(tmp, path);
  }
}

/** Creates the state directory owner-only (it holds the CA key). */
export async function ensureStateDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
}
