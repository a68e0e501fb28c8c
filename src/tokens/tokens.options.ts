import { SessionOptionsError } from '../core/session.exceptions.js';
import type { Duration } from '../options/duration.js';
import { checkKeys, duration, optionKeys, secretBytes, show } from '../options/option-checks.js';
import { type ResolvedJwtOptions, resolveJwtOptions, type SessionJwtOptions } from './jwt.options.js';
import { refreshKey } from './refresh-token.js';

/** The `refreshToken` option in its object form. */
export interface SessionRefreshTokenOptions {
  maxAge?: Duration;
  secret?: string | string[];
}

/** What the client holds: the token's kind, its keys, and refresh tokens. */
export interface TokenOptions {
  /**
   * What the client holds. `'opaque'` (the default): 32 random bytes, nothing to read, nothing
   * to verify but the store. `'jwt'`: the opaque token wrapped in a JWT signed with `jwt.keys`,
   * so a forged, tampered or expired token is refused without any I/O and a client (or another
   * service holding the key) can read `sub`, `sid` and `exp`; it is still checked against the
   * store, so logout and revocation work the same. Needs the `jose` package.
   */
  tokenType?: 'opaque' | 'jwt';
  /** The JWT keys and algorithm, with `tokenType: 'jwt'`. */
  jwt?: SessionJwtOptions;
  /**
   * With `tokenType: 'jwt'`: encrypt the JWT (a JWE, `dir` + A256GCM, key derived from each
   * key's `secret`), so the client cannot read its claims. Default `false`.
   */
  encryption?: boolean;
  /**
   * Short sessions renewed by a long refresh token. `maxAge` then is the life of one session
   * token (default `'15m'`, not slid on use) and `refreshToken.maxAge` the refresh window
   * (default `'30d'`, slid on each refresh, capped by `absoluteMaxAge`). `refresh()` trades a
   * refresh token for a new pair and kills the old one; a refresh token presented a second time
   * revokes the whole login and emits `session.refresh-reused`. `secret` (at least 32 bytes, or a
   * list newest first) signs refresh tokens; with HS256 JWT keys it may be left out.
   * Default `false`.
   */
  refreshToken?: boolean | SessionRefreshTokenOptions;
}

export interface ResolvedTokenOptions {
  tokenType: 'opaque' | 'jwt';
  /** Null unless tokenType is 'jwt'. */
  jwt: ResolvedJwtOptions | null;
  encryption: boolean;
  /** Null when refresh tokens are off; `maxAge` is the refresh window, `keys` the MAC keys. */
  refreshToken: { maxAge: number; keys: Buffer[] } | null;
}

export const TOKEN_OPTION_KEYS = optionKeys<TokenOptions>({ tokenType: true, jwt: true, encryption: true, refreshToken: true });

export const DEFAULT_TOKEN_TYPE = 'opaque';
export const DEFAULT_ENCRYPTION = false;
/** The refresh window: how long a login lasts through refreshes, each sliding it. */
export const DEFAULT_REFRESH_WINDOW = '30d';
const REFRESH_TOKEN_KEYS = optionKeys<SessionRefreshTokenOptions>({ maxAge: true, secret: true });

export function resolveTokenOptions(raw: TokenOptions): ResolvedTokenOptions {
  const tokenType = raw.tokenType ?? DEFAULT_TOKEN_TYPE;
  if (tokenType !== 'opaque' && tokenType !== 'jwt') {
    throw new SessionOptionsError('tokenType', `got ${show(raw.tokenType)}; expected 'opaque' (the default) or 'jwt'.`);
  }
  const encryption = raw.encryption ?? DEFAULT_ENCRYPTION;
  if (typeof encryption !== 'boolean') throw new SessionOptionsError('encryption', `got ${show(raw.encryption)}; expected true or false.`);
  if (encryption && tokenType !== 'jwt') {
    throw new SessionOptionsError('encryption', "got true with an opaque token; encryption makes the JWT a JWE, so it needs tokenType: 'jwt' (an opaque token carries nothing to hide).");
  }
  if (tokenType !== 'jwt' && raw.jwt !== undefined) {
    throw new SessionOptionsError('jwt', "got jwt keys with an opaque token; set tokenType: 'jwt' to use them, or leave jwt out.");
  }
  const jwt = tokenType === 'jwt' ? resolveJwtOptions(raw.jwt, encryption) : null;
  return { tokenType, jwt, encryption, refreshToken: resolveRefreshToken(raw.refreshToken, raw.jwt) };
}

function resolveRefreshToken(raw: unknown, jwt: unknown): ResolvedTokenOptions['refreshToken'] {
  if (raw === undefined || raw === false) return null;
  if (raw !== true && (raw === null || typeof raw !== 'object')) {
    throw new SessionOptionsError('refreshToken', `got ${show(raw)}; expected true, false, or an object such as { maxAge: '30d', secret: process.env.REFRESH_SECRET }.`);
  }
  const options = (raw === true ? {} : raw) as { maxAge?: unknown; secret?: unknown };
  checkKeys('refreshToken', options, REFRESH_TOKEN_KEYS);
  const maxAge = duration('refreshToken.maxAge', options.maxAge ?? DEFAULT_REFRESH_WINDOW);
  let secrets: unknown[];
  if (options.secret !== undefined) {
    secrets = Array.isArray(options.secret) ? options.secret : [options.secret];
    if (secrets.length === 0) throw new SessionOptionsError('refreshToken.secret', 'got an empty list; expected a secret, or a list of them newest first (the first signs, all verify).');
    secrets.forEach((secret, i) => secretBytes(Array.isArray(options.secret) ? `refreshToken.secret[${i}]` : 'refreshToken.secret', secret));
  } else {
    // The JWT keys' secrets serve too (through their own derivation), so one secret configures both.
    const keys = (jwt as { keys?: { secret?: unknown }[] } | undefined)?.keys;
    secrets = Array.isArray(keys) ? keys.map((key) => key?.secret).filter((secret) => secret !== undefined) : [];
    if (secrets.length === 0) {
      throw new SessionOptionsError(
        'refreshToken.secret',
        "missing; refresh tokens are signed with a server secret so a forged one cannot pass for a replay. Give refreshToken: { secret } (at least 32 bytes), or use tokenType: 'jwt' with HS256 keys, whose secrets then serve.",
      );
    }
  }
  return { maxAge, keys: secrets.map((secret) => refreshKey(secret as string | Uint8Array)) };
}
