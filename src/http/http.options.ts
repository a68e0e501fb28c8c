import { SessionOptionsError } from '../core/session.exceptions.js';
import { checkKeys, optionalBoolean, optionKeys, show } from '../options/option-checks.js';
import { parseOrigin } from './csrf.js';

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

/** How a token arrives: the cookie, the Authorization header, or both. */
export interface HttpOptions {
  /** The session cookie, or `false` to accept and send bearer tokens only. */
  cookie?: SessionCookieOptions | false;
  /** Whether `Authorization: Bearer <token>` is accepted. Default `true`. */
  bearer?: boolean;
  /**
   * The defence against cross-site request forgery, on by default. SessionGuard refuses with 403,
   * before the session is touched, a cookie-authenticated request of an unsafe method (anything
   * but GET, HEAD, OPTIONS, TRACE) whose `Origin` is neither the request's own (its scheme and
   * Host, or the forwarded ones where the app trusts its proxy) nor one of `trustedOrigins`, or
   * that has no Origin and says `Sec-Fetch-Site: cross-site` or `same-site`. A request with
   * neither header (curl, a server) and a bearer-authenticated one pass. `SameOriginGuard` puts
   * the same rule on routes without a session (login). `false` turns both off.
   */
  csrf?: false | SessionCsrfOptions;
}

/** The `csrf` option. */
export interface SessionCsrfOptions {
  /**
   * Other origins whose pages may send writes with the cookie, each `scheme://host[:port]` with
   * no path (`'https://admin.example.com'`). Default none.
   */
  trustedOrigins?: string[];
}

export interface ResolvedCsrfOptions {
  /** Normalized as a browser serializes an Origin: lower case, no default port. */
  trustedOrigins: ReadonlySet<string>;
}

export interface ResolvedHttpOptions {
  cookie: ResolvedCookieOptions | null;
  bearer: boolean;
  /** Null with `csrf: false`. */
  csrf: ResolvedCsrfOptions | null;
}

export const HTTP_OPTION_KEYS = optionKeys<HttpOptions>({ cookie: true, bearer: true, csrf: true });
const CSRF_KEYS = optionKeys<SessionCsrfOptions>({ trustedOrigins: true });

export const DEFAULT_BEARER = true;
export const DEFAULT_COOKIE: Readonly<Omit<ResolvedCookieOptions, 'domain'>> = { name: 'session', secure: true, sameSite: 'lax', path: '/' };

/** RFC 6265 token characters: what a cookie name may hold. */
export const COOKIE_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const COOKIE_KEYS = optionKeys<SessionCookieOptions>({ name: true, secure: true, sameSite: true, domain: true, path: true });
const SAME_SITE = ['lax', 'strict', 'none'];
// Anything that would end the attribute or the header early.
const ATTRIBUTE_VALUE = /^[\x21-\x3a\x3c-\x7e]+$/;

export function resolveHttpOptions(raw: HttpOptions): ResolvedHttpOptions {
  const bearer = optionalBoolean('bearer', raw.bearer) ?? DEFAULT_BEARER;
  const cookie = raw.cookie === false ? null : resolveCookie(raw.cookie ?? {});
  if (cookie === null && !bearer) {
    throw new SessionOptionsError('bearer', 'got false with cookie: false; expected at least one way for a token to arrive.');
  }
  return { cookie, bearer, csrf: resolveCsrf(raw.csrf) };
}

export function resolveCsrf(raw: unknown): ResolvedCsrfOptions | null {
  if (raw === false) return null;
  if (raw === undefined) return { trustedOrigins: new Set() };
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new SessionOptionsError('csrf', `got ${show(raw)}; expected false or an object such as { trustedOrigins: ['https://admin.example.com'] }.`);
  }
  checkKeys('csrf', raw, CSRF_KEYS);
  const list = (raw as SessionCsrfOptions).trustedOrigins ?? [];
  if (!Array.isArray(list)) {
    throw new SessionOptionsError('csrf.trustedOrigins', `got ${show(list)}; expected a list of origins such as ['https://admin.example.com'].`);
  }
  const trustedOrigins = new Set<string>();
  for (const entry of list as unknown[]) {
    const origin = typeof entry === 'string' ? parseOrigin(entry) : null;
    if (origin === null) {
      throw new SessionOptionsError(
        'csrf.trustedOrigins',
        `got ${show(entry)}; expected an origin as browsers send it: http:// or https://, a host, an optional port and no path, such as 'https://admin.example.com'.`,
      );
    }
    trustedOrigins.add(origin);
  }
  return { trustedOrigins };
}

export function resolveCookie(raw: unknown): ResolvedCookieOptions {
  if (raw === null || typeof raw !== 'object') {
    throw new SessionOptionsError('cookie', `got ${show(raw)}; expected false or an object such as { name: 'session', sameSite: 'lax' }.`);
  }
  const cookie = raw as Record<string, unknown>;
  checkKeys('cookie', cookie, COOKIE_KEYS);
  const name = cookie.name ?? DEFAULT_COOKIE.name;
  if (typeof name !== 'string' || !COOKIE_NAME.test(name)) {
    throw new SessionOptionsError('cookie.name', `got ${show(cookie.name)}; expected a cookie name of letters, digits and !#$%&'*+-.^_\`|~ such as 'session' or '__Host-session'.`);
  }
  const secure = cookie.secure ?? DEFAULT_COOKIE.secure;
  if (typeof secure !== 'boolean') throw new SessionOptionsError('cookie.secure', `got ${show(cookie.secure)}; expected true or false.`);
  const sameSite = cookie.sameSite ?? DEFAULT_COOKIE.sameSite;
  if (typeof sameSite !== 'string' || !SAME_SITE.includes(sameSite)) {
    throw new SessionOptionsError('cookie.sameSite', `got ${show(cookie.sameSite)}; expected 'lax', 'strict' or 'none'.`);
  }
  const path = cookie.path ?? DEFAULT_COOKIE.path;
  if (typeof path !== 'string' || !path.startsWith('/') || !ATTRIBUTE_VALUE.test(path)) {
    throw new SessionOptionsError('cookie.path', `got ${show(cookie.path)}; expected a path starting with '/' and no ';', space or control character.`);
  }
  const domain = cookie.domain;
  if (domain !== undefined && (typeof domain !== 'string' || !/^\.?[A-Za-z0-9.-]+$/.test(domain))) {
    throw new SessionOptionsError('cookie.domain', `got ${show(domain)}; expected a host name such as 'example.com', or leave it out to keep the cookie on one host.`);
  }
  if (sameSite === 'none' && !secure) {
    throw new SessionOptionsError('cookie.sameSite', "got 'none' with secure: false; browsers drop SameSite=None cookies that are not Secure.");
  }
  if (name.startsWith('__Host-') && (!secure || path !== '/' || domain !== undefined)) {
    throw new SessionOptionsError('cookie.name', `got ${show(name)}; a __Host- cookie needs secure: true, path '/' and no domain, or browsers drop it.`);
  }
  if (name.startsWith('__Secure-') && !secure) {
    throw new SessionOptionsError('cookie.name', `got ${show(name)}; a __Secure- cookie needs secure: true, or browsers drop it.`);
  }
  return { name, secure, sameSite: sameSite as ResolvedCookieOptions['sameSite'], path, domain };
}
