import type { ResolvedCookieOptions } from './http.options.js';

/**
 * Every value of cookie `name` in a Cookie header, in order. A name can repeat (a parent
 * domain's cookie beside ours); the caller decides what that means (SessionTransport refuses it).
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
