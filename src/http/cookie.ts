/** How the session cookie is written. */
export interface SessionCookieOptions {
  /**
   * Cookie name. Default `'session'`. A `__Host-` prefix (`'__Host-session'`) makes browsers
   * refuse the cookie unless it is Secure, Path=/ and has no Domain, so no subdomain can plant
   * or overwrite it; the options are checked against that at startup.
   */
  name?: string;
  /** Sent over HTTPS only. Default `true` (browsers accept it from http://localhost too). */
  secure?: boolean;
  /** Default `'lax'`: sent on top-level navigations, not on cross-site POSTs. */
  sameSite?: 'lax' | 'strict' | 'none';
  /** Domain attribute. Default none: the cookie stays on the exact host that set it. */
  domain?: string;
  /** Path attribute. Default `'/'`. */
  path?: string;
}

export type ResolvedCookieOptions = Required<Omit<SessionCookieOptions, 'domain'>> & { domain: string | undefined };

/** RFC 6265 token characters: what a cookie name may hold. */
export const COOKIE_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/**
 * Every value of cookie `name` in a Cookie header, in order. A name can repeat (a parent
 * domain's cookie beside ours); the caller decides which one counts.
 */
export function readCookies(header: string | string[] | undefined, name: string): string[] {
  if (header === undefined) return [];
  const values: string[] = [];
  for (const line of Array.isArray(header) ? header : [header]) {
    for (const pair of line.split(';')) {
      const eq = pair.indexOf('=');
      if (eq < 0 || pair.slice(0, eq).trim() !== name) continue;
      let value = pair.slice(eq + 1).trim();
      if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
      values.push(value);
    }
  }
  return values;
}

/** A Set-Cookie value. `maxAgeMs` 0 deletes the cookie. */
export function serializeCookie(options: ResolvedCookieOptions, value: string, maxAgeMs: number, now: number): string {
  // Rounded: the milliseconds between issuing and writing must not cost a whole second.
  const maxAge = Math.max(0, Math.round(maxAgeMs / 1000));
  const parts = [
    `${options.name}=${value}`,
    `Path=${options.path}`,
    `Max-Age=${maxAge}`,
    // Expires for clients older than Max-Age; both say the same.
    `Expires=${new Date(maxAge === 0 ? 0 : now + maxAge * 1000).toUTCString()}`,
    'HttpOnly',
  ];
  if (options.domain) parts.push(`Domain=${options.domain}`);
  if (options.secure) parts.push('Secure');
  parts.push(`SameSite=${options.sameSite[0].toUpperCase()}${options.sameSite.slice(1)}`);
  return parts.join('; ');
}
