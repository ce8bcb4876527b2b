// The local API's credentials, read from the files the config names, before anything starts:
// a missing or weak token file, or an exposed API with no way to authenticate, stops the start
// with the setting to fix, before a device is touched.

import { readFileSync, statSync } from 'node:fs';
import { EdgetwinError, ErrorCodes } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import { checkApiExposure, type ApiTls } from '../twin/api.ts';
import type { GatewayConfig } from './config.ts';

/** Shorter tokens can be guessed over the network; `openssl rand -hex 32` makes a good one. */
export const MIN_TOKEN_LENGTH = 16;

export interface ApiAuth {
  token?: string;
  tls?: ApiTls;
}

function readSecretFile(file: string, setting: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new EdgetwinError(ErrorCodes.CONFIG, `cannot read ${setting}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { file, path: setting }, 'check the path');
  }
}

/** A bearer token from its file: one line, trailing newline ignored. */
export function readApiToken(file: string, log?: Logger): string {
  const token = readSecretFile(file, 'api.tokenFile').replace(/\r?\n$/, '');
  if (token.length < MIN_TOKEN_LENGTH || /\s/.test(token)) {
    throw new EdgetwinError(
      ErrorCodes.CONFIG,
      `the API token must be one line of at least ${MIN_TOKEN_LENGTH} characters without spaces`,
      { file, path: 'api.tokenFile' },
      `make one with: openssl rand -hex 32 > ${file}`,
    );
  }
  try {
    if ((statSync(file).mode & 0o077) !== 0) log?.warn({ file }, `api.tokenFile is readable by other users; chmod 600 ${file}`);
  } catch {
    // It was just read; a stat failing now changes nothing about the token.
  }
  return token;
}

export function loadApiAuth(api: GatewayConfig['api'], log?: Logger): ApiAuth {
  const token = api.tokenFile ? readApiToken(api.tokenFile, log) : undefined;
  let tls: ApiTls | undefined;
  const t = api.tls;
  if (t && (t.cert || t.key || t.clientCa)) {
    if (!t.cert || !t.key) {
      throw new EdgetwinError(ErrorCodes.CONFIG, 'api.tls needs both cert and key', { path: t.cert ? 'api.tls.key' : 'api.tls.cert' }, 'name the PEM files of the server certificate and its key');
    }
    tls = {
      cert: readSecretFile(t.cert, 'api.tls.cert'),
      key: readSecretFile(t.key, 'api.tls.key'),
      ...(t.clientCa ? { clientCa: readSecretFile(t.clientCa, 'api.tls.clientCa') } : {}),
    };
  }
  checkApiExposure(api.host, { token, clientCa: tls?.clientCa });
  return { token, ...(tls ? { tls } : {}) };
}
