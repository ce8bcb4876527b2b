// Where `edgetwin join` keeps the node's credentials, and how `edgetwin run --cloud` reads them
// back. Only node:crypto here: reading a certificate's CN and validity must not load the X.509
// library into a running gateway (its memory budget is 80 MB).

import { X509Certificate } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EdgetwinError, ErrorCodes } from '../../core/errors.ts';

export const NODE_CN_PREFIX = 'system:node:';

export interface NodeFiles {
  dir: string;
  /** The cloud's CA (PEM), pinned at join after its hash matched the token. */
  ca: string;
  /** The node certificate (PEM). */
  cert: string;
  /** The node's EC private key (PKCS#8 PEM, mode 0600). */
  key: string;
  /** `{ "joinServer": "host:port" }`: where rotation asks for the next certificate. */
  info: string;
}

export function nodeFiles(dataDir: string): NodeFiles {
  const dir = join(dataDir, 'cloud');
  return { dir, ca: join(dir, 'ca.crt'), cert: join(dir, 'node.crt'), key: join(dir, 'node.key'), info: join(dir, 'join.json') };
}

export interface NodeIdentity {
  nodeName: string;
  notBefore: number;
  notAfter: number;
}

/** The node name and validity of a PEM certificate, from its CN `system:node:{node}`. */
export function identityOf(certPem: string, file = 'the node certificate'): NodeIdentity {
  const x = new X509Certificate(certPem);
  const cn = /(?:^|\n)CN=([^\n]*)/.exec(x.subject)?.[1];
  if (!cn?.startsWith(NODE_CN_PREFIX)) {
    throw new EdgetwinError(ErrorCodes.CONFIG, `certificate CN is "${cn ?? ''}", not system:node:{node}`, { file }, 'run `edgetwin join` again');
  }
  return { nodeName: cn.slice(NODE_CN_PREFIX.length), notBefore: Date.parse(x.validFrom), notAfter: Date.parse(x.validTo) };
}

/** The identity `join` wrote into the data directory, or an error saying to run join. */
export function readIdentity(dataDir: string): NodeIdentity & { files: NodeFiles; joinServer?: string } {
  const files = nodeFiles(dataDir);
  let pem: string;
  try {
    pem = readFileSync(files.cert, 'utf8');
  } catch {
    throw new EdgetwinError(ErrorCodes.CONFIG, 'no node certificate in the data directory', { file: files.cert }, 'run `edgetwin join --cloud <host> --token <token>` with the same --data-dir first');
  }
  let joinServer: string | undefined;
  try {
    joinServer = (JSON.parse(readFileSync(files.info, 'utf8')) as { joinServer?: string }).joinServer;
  } catch {
    joinServer = undefined;
  }
  return { ...identityOf(pem, files.cert), files, joinServer };
}

/** Writes a file whole or not at all (temp file + rename), so a kill -9 never leaves half a key. */
export function writeAtomic(file: string, data: string | Buffer, mode = 0o644): void {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, data, { mode });
  renameSync(tmp, file);
}

export function ensureDir(files: NodeFiles): void {
  mkdirSync(files.dir, { recursive: true, mode: 0o700 });
}

export function derToPem(der: Uint8Array, label: string): string {
  const b64 = Buffer.from(der).toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}
