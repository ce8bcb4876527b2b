// `edgetwin join`: gets this gateway's node certificate from `edgetwin cloud`'s join server, once,
// before `edgetwin run --cloud`. Prints what it wrote; a refused join prints the reason and exits 1.

import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { EdgetwinError } from '../core/errors.ts';
import { join } from '../hub/join/client.ts';
import { DEFAULTS } from './config.ts';

export interface JoinFlags {
  cloud: string;
  token?: string;
  tokenFile?: string;
  nodeName?: string;
  dataDir?: string;
}

export async function joinCommand(flags: JoinFlags): Promise<number> {
  try {
    if ((flags.token === undefined) === (flags.tokenFile === undefined)) {
      throw new Error('give the join token with exactly one of --token <t> or --token-file <file> (print one on the cloud with `edgetwin cloud token`)');
    }
    let token = flags.token;
    if (flags.tokenFile !== undefined) {
      try {
        token = readFileSync(flags.tokenFile, 'utf8').trim();
      } catch (err) {
        throw new Error(`cannot read --token-file ${flags.tokenFile}: ${(err as Error).message}`);
      }
    }
    const dataDir = resolve(flags.dataDir ?? DEFAULTS.dataDir);
    const r = await join({ cloud: flags.cloud, token: token!, nodeName: flags.nodeName ?? hostname(), dataDir });
    process.stdout.write(
      `joined as node "${r.nodeName}"; certificate valid until ${new Date(r.notAfter).toISOString()}\n` +
        `  CA          ${r.files.ca}\n  certificate ${r.files.cert}\n  key         ${r.files.key} (mode 0600)\n` +
        `next: edgetwin run --cloud wss://<cloud host>:10000 --data-dir ${dataDir}\n`,
    );
    return 0;
  } catch (err) {
    const msg = err instanceof EdgetwinError ? err.format() : (err as Error).message;
    process.stderr.write(`error: join failed: ${msg}\n`);
    return 1;
  }
}
