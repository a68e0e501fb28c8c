import { randomBytes } from 'node:crypto';
import { parseDuration, type SessionModuleOptions } from 'nestjs-sessions';
import { LOGIN_THROTTLE_DEFAULTS, type LoginThrottleOptions } from './login-throttle.js';

/** The demo's settings, read from the environment once at start. */
export interface DemoConfig {
  port: number;
  /** PostgreSQL to use; undefined starts the embedded one. */
  databaseUrl: string | undefined;
  pgliteDir: string;
  /** How recently a user must have proved who they are for the sensitive routes (`GET /me/security`). */
  freshAge: string;
  /** The login throttling's limits (LOGIN_EMAIL_LIMIT, LOGIN_IP_LIMIT, LOGIN_THROTTLE_WINDOW). */
  loginThrottle: Required<LoginThrottleOptions>;
  /** The bearer token `GET /metrics` asks for (METRICS_TOKEN); without one the route does not exist. */
  metricsToken: string | undefined;
  session: Omit<SessionModuleOptions, 'resolveUser'>;
}

/** A bad environment variable; the message names it and says what it takes. */
export class DemoConfigError extends Error {
  override readonly name = 'DemoConfigError';
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`${variable}: ${message}`);
  }
}

/** Which environment variable sets each session option, to name it in errors. */
export const SESSION_OPTION_VARIABLES: Record<string, string> = {
  maxAge: 'SESSION_MAX_AGE',
  updateAge: 'SESSION_UPDATE_AGE',
  absoluteMaxAge: 'SESSION_ABSOLUTE_MAX_AGE',
  'cookie.secure': 'COOKIE_SECURE',
  'cache.ttl': 'SESSION_CACHE_TTL',
  'cache.size': 'SESSION_CACHE_SIZE',
  'storage.type': 'SESSION_STORAGE',
  'storage.url': 'REDIS_URL',
  'storage.servers': 'MEMCACHED_URL',
  'storage.secret': 'SESSION_CACHE_SECRET',
  'cleanup.schedule': 'SESSION_CLEANUP_SCHEDULE',
  tokenType: 'SESSION_TOKEN_TYPE',
  jwt: 'SESSION_JWT_SECRET',
  'jwt.keys': 'SESSION_JWT_SECRET',
  'jwt.keys[0]': 'SESSION_JWT_SECRET',
  'jwt.keys[0].secret': 'SESSION_JWT_SECRET',
  refreshToken: 'SESSION_REFRESH_TOKEN',
  'refreshToken.secret': 'SESSION_JWT_SECRET',
  maxSessionsPerUser: 'SESSION_MAX_PER_USER',
  bindToUserAgent: 'SESSION_BIND_USER_AGENT',
  'data.maxBytes': 'SESSION_DATA_MAX_BYTES',
  csrf: 'SESSION_TRUSTED_ORIGINS',
  'csrf.trustedOrigins': 'SESSION_TRUSTED_ORIGINS',
  deviceBound: 'SESSION_DEVICE_BOUND',
  'deviceBound.secret': 'SESSION_DEVICE_BOUND_SECRET',
  'deviceBound.cookieTtl': 'SESSION_DEVICE_BOUND_TTL',
};

/** The kid of the demo's one JWT key (SESSION_JWT_SECRET). */
export const DEMO_JWT_KID = 'demo';
const MIN_SECRET_BYTES = 32;
const DEFAULT_FRESH_AGE = '10m';
const DEFAULT_DATA_MAX_BYTES = 4096;

function duration(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const value = env[name];
  if (value === undefined || value === '') return undefined;
  const ms = parseDuration(value);
  if (ms === undefined || ms <= 0) {
    throw new DemoConfigError(name, `got ${JSON.stringify(value)}; expected a duration such as 15m, 12h, 30d or milliseconds.`);
  }
  return value;
}

function boolean(env: NodeJS.ProcessEnv, name: string, fallback: boolean): boolean {
  const value = env[name];
  if (value === undefined || value === '') return fallback;
  if (/^(true|1|yes)$/i.test(value)) return true;
  if (/^(false|0|no)$/i.test(value)) return false;
  throw new DemoConfigError(name, `got ${JSON.stringify(value)}; expected true or false.`);
}

/** Reads and checks the demo's environment; throws DemoConfigError naming the first bad variable. */
export function readDemoConfig(env: NodeJS.ProcessEnv = process.env): DemoConfig {
  const portText = env.PORT ?? '3000';
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port > 65_535) {
    throw new DemoConfigError('PORT', `got ${JSON.stringify(portText)}; expected a port number from 0 to 65535.`);
  }

  const databaseUrl = env.DATABASE_URL || undefined;
  if (databaseUrl !== undefined) {
    let protocol = '';
    try {
      protocol = new URL(databaseUrl).protocol;
    } catch {
      // reported below
    }
    if (protocol !== 'postgres:' && protocol !== 'postgresql:') {
      throw new DemoConfigError('DATABASE_URL', 'expected a PostgreSQL URL such as postgres://user:password@host:5432/db (leave it unset for the embedded database).');
    }
  }

  const storage = storageFrom(env);
  const security = securityFrom(env);

  const absoluteMaxAge = duration(env, 'SESSION_ABSOLUTE_MAX_AGE');
  const cacheSize = env.SESSION_CACHE_SIZE ?? '';
  if (cacheSize !== '' && !/^\d{1,8}$/.test(cacheSize)) {
    throw new DemoConfigError('SESSION_CACHE_SIZE', `got ${JSON.stringify(cacheSize)}; expected a whole number of sessions (0 turns the cache off).`);
  }
  const cacheTtl = duration(env, 'SESSION_CACHE_TTL');
  const secure = boolean(env, 'COOKIE_SECURE', true);
  return {
    port,
    databaseUrl,
    pgliteDir: env.PGLITE_DIR || '.data/pglite',
    freshAge: duration(env, 'SESSION_FRESH_AGE') ?? DEFAULT_FRESH_AGE,
    loginThrottle: loginThrottleFrom(env),
    metricsToken: metricsTokenFrom(env),
    session: {
      maxAge: duration(env, 'SESSION_MAX_AGE'),
      updateAge: duration(env, 'SESSION_UPDATE_AGE'),
      absoluteMaxAge: absoluteMaxAge ?? false,
      // __Host-: a browser keeps such a cookie only if it is Secure, for Path=/ and this host
      // alone, so a sibling subdomain can neither plant one nor shadow this one. Over plain http
      // (COOKIE_SECURE=false) a browser would refuse it, hence the plain name there.
      cookie: { name: secure ? '__Host-session' : 'session', secure, sameSite: 'lax' },
      // The cross-origin check on cookie-authenticated writes is the library's default; these
      // are the other origins whose pages may post here (the library checks each, naming
      // SESSION_TRUSTED_ORIGINS through SESSION_OPTION_VARIABLES).
      csrf: { trustedOrigins: listFrom(env.SESSION_TRUSTED_ORIGINS) },
      cache: cacheSize === '0' ? false : { ttl: cacheTtl, size: cacheSize === '' ? undefined : Number(cacheSize) },
      storage,
      // "off" leaves the purge to an external job (npm run sessions -- purge).
      cleanup: env.SESSION_CLEANUP_SCHEDULE === 'off' ? false : { schedule: env.SESSION_CLEANUP_SCHEDULE || undefined },
      ...security,
      ...detailsFrom(env),
      deviceBound: deviceBoundFrom(env),
    },
  };
}

/** A comma-separated list, each entry trimmed, empty ones dropped. */
function listFrom(value: string | undefined): string[] {
  return (value ?? '').split(',').map((entry) => entry.trim()).filter((entry) => entry !== '');
}

function wholeNumber(env: NodeJS.ProcessEnv, name: string, fallback: number, what: string): number {
  const value = env[name] ?? '';
  if (value === '') return fallback;
  if (!/^\d{1,9}$/.test(value) || Number(value) < 1) throw new DemoConfigError(name, `got ${JSON.stringify(value)}; expected ${what}.`);
  return Number(value);
}

/**
 * The login throttling. LOGIN_IP_LIMIT=off drops the per-address limit, for a demo behind a
 * proxy it does not trust (every client would share the proxy's address) or a load test.
 */
function loginThrottleFrom(env: NodeJS.ProcessEnv): Required<LoginThrottleOptions> {
  const emailLimit = wholeNumber(env, 'LOGIN_EMAIL_LIMIT', LOGIN_THROTTLE_DEFAULTS.emailLimit, 'a positive whole number of failed logins per email');
  const ipLimit =
    env.LOGIN_IP_LIMIT === 'off' ? false : wholeNumber(env, 'LOGIN_IP_LIMIT', LOGIN_THROTTLE_DEFAULTS.ipLimit, 'a positive whole number of login attempts per address, or off');
  return { emailLimit, ipLimit, window: duration(env, 'LOGIN_THROTTLE_WINDOW') ?? LOGIN_THROTTLE_DEFAULTS.window };
}

/** METRICS_TOKEN, as long as a secret should be; like SESSION_JWT_SECRET, never repeated in an error. */
function metricsTokenFrom(env: NodeJS.ProcessEnv): string | undefined {
  const token = env.METRICS_TOKEN || undefined;
  if (token !== undefined && (Buffer.byteLength(token) < MIN_SECRET_BYTES || /\s/.test(token))) {
    throw new DemoConfigError('METRICS_TOKEN', `got a ${Buffer.byteLength(token)}-byte token${/\s/.test(token) ? ' with whitespace' : ''}; expected at least ${MIN_SECRET_BYTES} bytes and no whitespace (openssl rand -base64 32).`);
  }
  return token;
}

type DetailsOptions = Pick<SessionModuleOptions, 'metadata' | 'reauthentication' | 'data'>;

/**
 * The demo shows everything a "your devices" page can: every metadata field, the time of the
 * last proof of identity, and per-session data. An app of your own keeps only what it shows
 * (see SECURITY.md, "Session details").
 */
function detailsFrom(env: NodeJS.ProcessEnv): DetailsOptions {
  const maxText = env.SESSION_DATA_MAX_BYTES ?? '';
  // The library checks the range (and names this variable through SESSION_OPTION_VARIABLES).
  if (maxText !== '' && !/^\d{1,8}$/.test(maxText)) {
    throw new DemoConfigError('SESSION_DATA_MAX_BYTES', `got ${JSON.stringify(maxText)}; expected a whole number of bytes for a session's data.`);
  }
  return {
    metadata: { userAgent: true, device: true, ip: 'full', lastSeen: true },
    reauthentication: true,
    data: { maxBytes: maxText === '' ? DEFAULT_DATA_MAX_BYTES : Number(maxText) },
  };
}

/**
 * Device-bound sessions (DBSC), off unless SESSION_DEVICE_BOUND=true. Without
 * SESSION_DEVICE_BOUND_SECRET a secret is made at startup: fine for one instance, but every
 * instance needs the same one, and a restart would void the bound cookies it issued.
 */
function deviceBoundFrom(env: NodeJS.ProcessEnv): NonNullable<SessionModuleOptions['deviceBound']> {
  if (!boolean(env, 'SESSION_DEVICE_BOUND', false)) return false;
  const secret = env.SESSION_DEVICE_BOUND_SECRET || randomBytes(32).toString('base64');
  return { secret, cookieTtl: duration(env, 'SESSION_DEVICE_BOUND_TTL') ?? '10m' };
}

function storageFrom(env: NodeJS.ProcessEnv): NonNullable<SessionModuleOptions['storage']> {
  const type = env.SESSION_STORAGE || 'database';
  switch (type) {
    case 'database':
      return { type };
    case 'redis':
      return { type, url: env.REDIS_URL || 'redis://127.0.0.1:6379' };
    case 'memcached': {
      // The tier signs its entries, so whoever else can write to Memcached cannot make a session;
      // the library checks the length (and names this variable through SESSION_OPTION_VARIABLES).
      const secret = env.SESSION_CACHE_SECRET || undefined;
      if (secret === undefined) {
        throw new DemoConfigError('SESSION_CACHE_SECRET', `missing; SESSION_STORAGE=memcached signs what it caches with a secret of at least ${MIN_SECRET_BYTES} bytes, the same on every instance (openssl rand -base64 48).`);
      }
      return { type, servers: env.MEMCACHED_URL || '127.0.0.1:11211', secret };
    }
    default:
      throw new DemoConfigError('SESSION_STORAGE', `got ${JSON.stringify(type)}; expected database, redis or memcached.`);
  }
}

type SecurityOptions = Pick<SessionModuleOptions, 'tokenType' | 'jwt' | 'refreshToken' | 'maxSessionsPerUser' | 'bindToUserAgent'>;

/**
 * The token type, refresh tokens, the per-user limit and user-agent binding. SESSION_JWT_SECRET
 * signs both the JWTs and the refresh tokens (the library derives a separate key for each); its
 * value never appears in an error, only its length.
 */
function securityFrom(env: NodeJS.ProcessEnv): SecurityOptions {
  const tokenType = env.SESSION_TOKEN_TYPE || 'opaque';
  if (tokenType !== 'opaque' && tokenType !== 'jwt') {
    throw new DemoConfigError('SESSION_TOKEN_TYPE', `got ${JSON.stringify(tokenType)}; expected opaque or jwt.`);
  }
  const refresh = boolean(env, 'SESSION_REFRESH_TOKEN', false);

  const secret = env.SESSION_JWT_SECRET || undefined;
  if (secret === undefined && (tokenType === 'jwt' || refresh)) {
    const needs = tokenType === 'jwt' ? 'SESSION_TOKEN_TYPE=jwt' : 'SESSION_REFRESH_TOKEN=true';
    throw new DemoConfigError('SESSION_JWT_SECRET', `missing; ${needs} needs a secret of at least ${MIN_SECRET_BYTES} bytes to sign with (openssl rand -base64 48).`);
  }
  if (secret !== undefined && Buffer.byteLength(secret) < MIN_SECRET_BYTES) {
    throw new DemoConfigError('SESSION_JWT_SECRET', `got a ${Buffer.byteLength(secret)}-byte secret; expected at least ${MIN_SECRET_BYTES} bytes (openssl rand -base64 48).`);
  }

  const maxText = env.SESSION_MAX_PER_USER ?? '';
  // The library checks the upper bound (and names this variable through SESSION_OPTION_VARIABLES).
  if (maxText !== '' && !(/^\d+$/.test(maxText) && Number(maxText) >= 1)) {
    throw new DemoConfigError('SESSION_MAX_PER_USER', `got ${JSON.stringify(maxText)}; expected a positive whole number of sessions per user (a login over it ends the oldest one).`);
  }

  return {
    tokenType,
    ...(tokenType === 'jwt' ? { jwt: { algorithm: 'HS256' as const, keys: [{ kid: DEMO_JWT_KID, secret: secret! }] } } : {}),
    refreshToken: refresh ? { secret: secret! } : false,
    ...(maxText !== '' ? { maxSessionsPerUser: Number(maxText) } : {}),
    bindToUserAgent: boolean(env, 'SESSION_BIND_USER_AGENT', false),
  };
}
