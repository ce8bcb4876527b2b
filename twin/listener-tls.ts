// The server certificate of a gateway listener beyond loopback when the user configured none: the
// self-signed one kept in the data directory (core/self-signed.ts), announced in the log with its
// fingerprint and the file a client trusts, since nothing else tells a user what to pin.

import { EdgetwinError, ErrorCodes } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';

export interface GeneratedTls {
  cert: string;
  key: string;
  certFile: string;
  fingerprint: string;
}

export interface ListenerTlsOptions {
  /** `api` or `broker`: the file names in `dir` ({name}.crt, {name}.key). */
  name: 'api' | 'broker';
  /** What listens, for messages: `the local API`. */
  what: string;
  host: string;
  /** Where the certificate is kept (`{dataDir}/tls`); none: the caller must configure one. */
  dir: string | undefined;
  /** The setting that names a certificate of the user's own (`api.tls`), for messages. */
  setting: string;
  /** How a client trusts the certificate, with `{cert}` for its path: `curl --cacert {cert}`. */
  trust: string;
  log: Logger;
}

/** The self-signed certificate for a listener beyond loopback, made on the first start and reused after. */
export async function selfSignedListenerTls(o: ListenerTlsOptions): Promise<GeneratedTls> {
  if (!o.dir) {
    throw new EdgetwinError(
      ErrorCodes.CONFIG,
      `${o.what} listens on ${o.host}, beyond loopback, where it serves only TLS, and has neither a certificate nor a directory to keep a self-signed one in`,
      { path: `${o.setting}.cert` },
      `set ${o.setting}.cert and ${o.setting}.key, or keep it on 127.0.0.1`,
    );
  }
  let c;
  try {
    // Loaded only here, beyond loopback: the X.509 library costs every gateway on loopback memory at start.
    const { loadOrCreateSelfSigned } = await import('../core/self-signed.ts');
    c = await loadOrCreateSelfSigned({ dir: o.dir, name: o.name, host: o.host });
  } catch (err) {
    throw new EdgetwinError(ErrorCodes.CONFIG, `${o.what} cannot make or read its self-signed certificate in ${o.dir}: ${(err as Error).message}`, { file: o.dir, path: `${o.setting}.cert` }, `check that the data directory is writable, or set ${o.setting}.cert and ${o.setting}.key`);
  }
  const log = o.log;
  if (c.made) log.warn({ certFile: c.certFile, reason: c.made, names: c.names }, `${o.what}: made a new self-signed certificate; clients that trusted an earlier one must trust this one`);
  log.info(
    { certFile: c.certFile, sha256: c.fingerprint },
    `${o.what} serves TLS with a self-signed certificate (no ${o.setting}.cert); trust it with ${o.trust.replace('{cert}', c.certFile)} or pin its SHA-256 fingerprint`,
  );
  return { cert: c.cert, key: c.key, certFile: c.certFile, fingerprint: c.fingerprint };
}
