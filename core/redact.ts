// Credentials in URLs (`mqtt://user:secret@host`) are accepted for convenience, but a password
// must never leave the process: not in a log line, an error message, /healthz or /metrics.
// Everything that prints or returns a URL, or text that may contain one, passes through here.

/** What a removed password is replaced with. */
export const REDACTED = '***';

// scheme://authority — the authority ends at the path, query or fragment; its userinfo is
// everything up to the LAST '@' (as WHATWG URL reads `u:p@ss@host`). Matches inside free text too
// (an error message that quotes the URL it failed on) and inside JSON or Prometheus text, which is
// why the authority also ends at a quote, a bracket of markup or a backslash.
const URL_AUTHORITY = /\b([a-z][a-z0-9+.-]*:\/\/)([^\s/?#"'<>\\]*)/gi;

function redactUserinfo(userinfo: string): string {
  const colon = userinfo.indexOf(':');
  // `user@host` names a user and carries no password; `user:pass@host` and `:pass@host` do.
  if (colon === -1) return userinfo;
  return `${userinfo.slice(0, colon)}:${REDACTED}`;
}

/** Any text (an error message, a log line) with the passwords of the URLs in it replaced. */
export function redactText(text: string): string {
  return text.replace(URL_AUTHORITY, (m, scheme: string, authority: string) => {
    const at = authority.lastIndexOf('@');
    return at === -1 ? m : `${scheme}${redactUserinfo(authority.slice(0, at))}${authority.slice(at)}`;
  });
}

/**
 * The URL with its password (if any) replaced by `***`; the user name stays, so logs still say who.
 * A value that is not a valid URL may still hold a password anywhere before its last `@` (a space
 * in it ends the scan of free text), so everything between `://` and that `@` is hidden.
 */
export function redactUrl(url: string): string {
  if (!URL.canParse(url)) {
    const start = url.indexOf('://');
    const at = url.lastIndexOf('@');
    if (start !== -1 && at > start) return `${url.slice(0, start + 3)}${REDACTED}${url.slice(at)}`;
  }
  return redactText(url);
}

/** A JSON-like value with every string in it passed through redactText (for /healthz bodies). */
export function redactDeep<T>(value: T): T {
  if (typeof value === 'string') return redactText(value) as T;
  if (Array.isArray(value)) return value.map((v) => redactDeep(v)) as T;
  if (typeof value === 'object' && value !== null && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redactDeep(v)])) as T;
  }
  return value;
}

/** True when the URL carries a password in its userinfo part. */
export function urlHasPassword(url: string): boolean {
  try {
    return new URL(url).password !== '';
  } catch {
    return /^[a-z][a-z0-9+.-]*:\/\/[^\s/?#@]*:[^\s/?#]*@/i.test(url);
  }
}
