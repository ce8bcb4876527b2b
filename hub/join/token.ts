// Join tokens, KubeEdge's shape (pkg/security/token/token.go): `{sha256hex(CA DER)}.{JWT}`. The
// JWT is HS256 with only an `exp` claim, keyed with the CA private key's DER bytes, so only this
// cloud can mint or check one. The edge compares the hash with the CA it downloaded before it
// trusts that CA, then sends the JWT alone. Tokens are credentials: nothing here logs one.
import { errors, jwtVerify, SignJWT } from 'jose';

export const DEFAULT_TOKEN_TTL_MS = 24 * 3600 * 1000;

/** A token for `ca` that expires `ttlMs` from `now`. */
export async function createJoinToken(ca: { hash: string; tokenKey: Uint8Array }, ttlMs = DEFAULT_TOKEN_TTL_MS, now = Date.now()): Promise<string> {
  const jwt = await new SignJWT({})
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setExpirationTime(Math.floor((now + ttlMs) / 1000))
    .sign(ca.tokenKey);
  return `${ca.hash}.${jwt}`;
}

export type TokenCheck = { ok: true; expiresAt: Date } | { ok: false; reason: string };

/**
 * Checks what the edge sends as `Authorization: Bearer ...`: the JWT alone (as KubeEdge's edge
 * sends it) or the whole token, whose hash part must then name this CA.
 */
export async function verifyJoinToken(presented: string, ca: { hash: string; tokenKey: Uint8Array }, now = Date.now()): Promise<TokenCheck> {
  const parts = presented.trim().split('.');
  let jwt: string;
  if (parts.length === 4) {
    if (parts[0] !== ca.hash) return { ok: false, reason: 'the token was made for a different CA (its hash part does not match this cloud\'s CA): ask for a token from this cloud (`edgetwin cloud token`)' };
    jwt = parts.slice(1).join('.');
  } else if (parts.length === 3) {
    jwt = parts.join('.');
  } else {
    return { ok: false, reason: 'the token is not a join token (expected {ca-hash}.{jwt}): copy it whole from `edgetwin cloud token`' };
  }
  try {
    const { payload } = await jwtVerify(jwt, ca.tokenKey, { algorithms: ['HS256'], requiredClaims: ['exp'], currentDate: new Date(now) });
    return { ok: true, expiresAt: new Date((payload.exp as number) * 1000) };
  } catch (err) {
    if (err instanceof errors.JWTExpired) return { ok: false, reason: 'the join token has expired: make a new one with `edgetwin cloud token`' };
    if (err instanceof errors.JWSSignatureVerificationFailed) return { ok: false, reason: 'the join token\'s signature is not valid for this cloud (tampered with, or made by another cloud): make a new one with `edgetwin cloud token`' };
    return { ok: false, reason: `the join token is malformed (${(err as Error).message}): copy it whole from \`edgetwin cloud token\`` };
  }
}

/**
 * The edge's check (KubeEdge's VerifyCAAndGetRealToken): the token's hash must be the sha256 of
 * the CA it downloaded; returns the JWT to send.
 */
export function splitJoinToken(token: string): { caHash: string; jwt: string } {
  const parts = token.trim().split('.');
  if (parts.length !== 4 || !/^[0-9a-f]{64}$/.test(parts[0]!)) {
    throw new Error('the join token is not {ca-hash}.{jwt}: copy it whole from `edgetwin cloud token` on the cloud');
  }
  return { caHash: parts[0]!, jwt: parts.slice(1).join('.') };
}

/** `24h`, `30m`, `90s`, `7d`, `500ms` or a bare number of seconds, to milliseconds. */
export function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(text.trim());
  if (!m) throw new Error(`"${text}" is not a duration: write it like 24h, 30m, 90s or 7d`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h' | 'd'];
  const ms = Number(m[1]) * unit;
  if (!(ms > 0)) throw new Error(`"${text}" is not a positive duration`);
  return ms;
}
