import type { EntityTarget } from 'typeorm';
import { formatDuration, parseDuration } from './duration.js';
import { SessionOptionsError } from '../core/session.exceptions.js';
import type { SessionModuleOptions, SessionStorageOptions } from '../core/session.interfaces.js';
import { COOKIE_NAME, type ResolvedCookieOptions } from '../http/cookie.js';
import { refreshKey } from '../tokens/refresh-token.js';
import { DEFAULT_CLEANUP_SCHEDULE, parseCleanupSchedule, ScheduleError } from '../cleanup/cleanup-schedule.js';
import { type ResolvedJwtOptions, resolveJwtOptions } from '../tokens/jwt-codec.js';
import { checkKeys, secretBytes, show } from './option-checks.js';

/** Options after defaults and validation; durations in milliseconds. */
export interface ResolvedSessionOptions {
  /** Null when `userEntity` is given instead. */
  resolveUser: SessionModuleOptions['resolveUser'] | null;
  userEntity: EntityTarget<unknown> | null;
  maxAge: number;
  updateAge: number;
  absoluteMaxAge: number | null;
  cookie: ResolvedCookieOptions | null;
  bearer: boolean;
  cache: { ttl: number; size: number } | null;
  storage: ResolvedStorageOptions;
  broadcast: boolean;
  replication: boolean | undefined;
  /** The cleanup task's cron expression (seconds first), or null when it is off. */
  cleanup: { cron: string; schedule: string } | null;
  storeTimeout: number;
  purgeBatchSize: number;
  clock: () => number;
  tokenType: 'opaque' | 'jwt';
  /** Null unless tokenType is 'jwt'. */
  jwt: ResolvedJwtOptions | null;
  encryption: boolean;
  /** Null when refresh tokens are off; `maxAge` is the refresh window, `keys` the MAC keys. */
  refreshToken: { maxAge: number; keys: Buffer[] } | null;
  rotationPolicy: { interval: number | null; onPrivilegeChange: boolean };
  resolvePermissions: SessionModuleOptions['resolvePermissions'] | null;
  resolveContext: SessionModuleOptions['resolveContext'] | null;
  maxSessionsPerUser: { max: number; policy: 'evict-oldest' | 'refuse' } | null;
  bindToUserAgent: boolean;
}

export type ResolvedStorageOptions =
  | { type: 'database' }
  | { type: 'redis'; url?: string; nodes?: string[]; client?: object; keyPrefix: string }
  | { type: 'memcached'; servers: string; keyPrefix: string; ttl: number };

export const DEFAULT_MAX_AGE = '30d';
// With refresh tokens, maxAge is the life of one session token: short, since a refresh renews it.
export const DEFAULT_REFRESH_MAX_AGE = '15m';
const DEFAULT_REFRESH_WINDOW = '30d';
const DEFAULT_UPDATE_AGE_MS = 86_400_000;
export const DEFAULT_PURGE_BATCH_SIZE = 5_000;

// A century: past it a Date overflows PostgreSQL's timestamptz arithmetic long before anyone cares.
const MAX_DURATION_MS = 100 * 365 * 86_400_000;

const KNOWN_OPTIONS = new Set([
  'resolveUser',
  'userEntity',
  'maxAge',
  'updateAge',
  'absoluteMaxAge',
  'cookie',
  'bearer',
  'cache',
  'storage',
  'broadcast',
  'replication',
  'cleanup',
  'storeTimeout',
  'purgeBatchSize',
  'clock',
  'tokenType',
  'jwt',
  'encryption',
  'refreshToken',
  'rotationPolicy',
  'resolvePermissions',
  'resolveContext',
  'maxSessionsPerUser',
  'bindToUserAgent',
  // ConfigurableModuleBuilder's extra; harmless if it reaches us.
  'isGlobal',
]);

function duration(option: string, value: unknown): number {
  const ms = parseDuration(value);
  if (ms === undefined || ms <= 0 || ms > MAX_DURATION_MS) {
    throw new SessionOptionsError(
      option,
      `got ${show(value)}; expected a positive duration up to 100 years, as milliseconds (86400000) or a string ('15m', '12h', '30d').`,
    );
  }
  return ms;
}

/**
 * Merges defaults into the options and validates them, once, at startup.
 * `forRoot` and `forRootAsync` both end here, so they behave the same.
 */
export function resolveSessionOptions(raw: SessionModuleOptions | undefined | null): ResolvedSessionOptions {
  if (raw === null || typeof raw !== 'object') {
    throw new SessionOptionsError('(options)', `got ${show(raw)}; expected an object such as { resolveUser: (id) => users.findOneBy({ id }) }.`);
  }
  for (const key of Object.keys(raw)) {
    if (!KNOWN_OPTIONS.has(key)) {
      throw new SessionOptionsError(key, `unknown option; the known ones are ${[...KNOWN_OPTIONS].filter((k) => k !== 'isGlobal').join(', ')}.`);
    }
  }

  const userEntity = raw.userEntity ?? null;
  if (userEntity !== null && typeof userEntity !== 'function' && typeof userEntity !== 'string' && typeof userEntity !== 'object') {
    throw new SessionOptionsError('userEntity', `got ${show(userEntity)}; expected your TypeORM user entity class, e.g. userEntity: User.`);
  }
  if (userEntity !== null && raw.resolveUser !== undefined) {
    throw new SessionOptionsError('resolveUser', 'got both resolveUser and userEntity; give one: userEntity reads the user with the session in one query, resolveUser loads it any way you like.');
  }
  if (userEntity === null && typeof raw.resolveUser !== 'function') {
    throw new SessionOptionsError(
      'resolveUser',
      `got ${show(raw.resolveUser)}; expected a function from a user id to the user (or null), e.g. (id) => users.findOneBy({ id }), or give userEntity: User instead.`,
    );
  }

  const tokenType = raw.tokenType ?? 'opaque';
  if (tokenType !== 'opaque' && tokenType !== 'jwt') {
    throw new SessionOptionsError('tokenType', `got ${show(raw.tokenType)}; expected 'opaque' (the default) or 'jwt'.`);
  }
  const encryption = raw.encryption ?? false;
  if (typeof encryption !== 'boolean') throw new SessionOptionsError('encryption', `got ${show(raw.encryption)}; expected true or false.`);
  if (encryption && tokenType !== 'jwt') {
    throw new SessionOptionsError('encryption', "got true with an opaque token; encryption makes the JWT a JWE, so it needs tokenType: 'jwt' (an opaque token carries nothing to hide).");
  }
  if (tokenType !== 'jwt' && raw.jwt !== undefined) {
    throw new SessionOptionsError('jwt', "got jwt keys with an opaque token; set tokenType: 'jwt' to use them, or leave jwt out.");
  }
  const jwt = tokenType === 'jwt' ? resolveJwtOptions(raw.jwt, encryption) : null;
  const refreshToken = resolveRefreshToken(raw.refreshToken, raw.jwt);

  const maxAge = duration('maxAge', raw.maxAge ?? (refreshToken ? DEFAULT_REFRESH_MAX_AGE : DEFAULT_MAX_AGE));
  // The default step shrinks with a short maxAge, so setting maxAge alone never trips the check below.
  const updateAge = duration('updateAge', raw.updateAge ?? Math.min(DEFAULT_UPDATE_AGE_MS, Math.floor(maxAge / 2)));
  if (updateAge >= maxAge) {
    throw new SessionOptionsError(
      'updateAge',
      `got ${show(raw.updateAge)} (${formatDuration(updateAge)}); expected a duration below maxAge (${formatDuration(maxAge)}), or a session could expire between two writes of its expiry.`,
    );
  }

  let absoluteMaxAge: number | null = null;
  if (raw.absoluteMaxAge !== undefined && raw.absoluteMaxAge !== false) {
    absoluteMaxAge = duration('absoluteMaxAge', raw.absoluteMaxAge);
    if (absoluteMaxAge < maxAge) {
      throw new SessionOptionsError(
        'absoluteMaxAge',
        `got ${show(raw.absoluteMaxAge)} (${formatDuration(absoluteMaxAge)}); expected false or a duration not below maxAge (${formatDuration(maxAge)}). Lower maxAge too if sessions should be this short.`,
      );
    }
  }

  const purgeBatchSize = raw.purgeBatchSize ?? DEFAULT_PURGE_BATCH_SIZE;
  if (!Number.isInteger(purgeBatchSize) || purgeBatchSize < 1 || purgeBatchSize > 100_000) {
    throw new SessionOptionsError('purgeBatchSize', `got ${show(raw.purgeBatchSize)}; expected a whole number from 1 to 100000.`);
  }

  if (raw.bearer !== undefined && typeof raw.bearer !== 'boolean') {
    throw new SessionOptionsError('bearer', `got ${show(raw.bearer)}; expected true or false.`);
  }
  const cookie = raw.cookie === false ? null : resolveCookie(raw.cookie ?? {});
  if (cookie === null && raw.bearer === false) {
    throw new SessionOptionsError('bearer', 'got false with cookie: false; expected at least one way for a token to arrive.');
  }
  const storeTimeout = duration('storeTimeout', raw.storeTimeout ?? '5s');
  const cache = resolveCache(raw.cache);
  const cleanup = resolveCleanup(raw.cleanup);
  const storage = resolveStorage(raw.storage);
  for (const option of ['broadcast', 'replication'] as const) {
    if (raw[option] !== undefined && typeof raw[option] !== 'boolean') {
      throw new SessionOptionsError(option, `got ${show(raw[option])}; expected true or false.`);
    }
  }

  for (const option of ['resolvePermissions', 'resolveContext'] as const) {
    if (raw[option] !== undefined && typeof raw[option] !== 'function') {
      throw new SessionOptionsError(option, `got ${show(raw[option])}; expected a function of the user (and session), called once per session and cached with it.`);
    }
  }
  if (raw.bindToUserAgent !== undefined && typeof raw.bindToUserAgent !== 'boolean') {
    throw new SessionOptionsError('bindToUserAgent', `got ${show(raw.bindToUserAgent)}; expected true or false.`);
  }
  const rotationPolicy = resolveRotationPolicy(raw.rotationPolicy, refreshToken !== null, cookie !== null);

  if (raw.clock !== undefined && typeof raw.clock !== 'function') {
    throw new SessionOptionsError('clock', `got ${show(raw.clock)}; expected a function returning epoch milliseconds, like Date.now.`);
  }

  return {
    resolveUser: raw.resolveUser ?? null,
    userEntity,
    maxAge,
    updateAge,
    absoluteMaxAge,
    cookie,
    bearer: raw.bearer ?? true,
    cache,
    storage,
    broadcast: raw.broadcast ?? true,
    replication: raw.replication,
    cleanup,
    storeTimeout,
    purgeBatchSize,
    clock: raw.clock ?? Date.now,
    tokenType,
    jwt,
    encryption,
    refreshToken,
    rotationPolicy,
    resolvePermissions: raw.resolvePermissions ?? null,
    resolveContext: raw.resolveContext ?? null,
    maxSessionsPerUser: resolveSessionLimit(raw.maxSessionsPerUser),
    bindToUserAgent: raw.bindToUserAgent ?? false,
  };
}

function resolveRefreshToken(raw: unknown, jwt: unknown): ResolvedSessionOptions['refreshToken'] {
  if (raw === undefined || raw === false) return null;
  if (raw !== true && (raw === null || typeof raw !== 'object')) {
    throw new SessionOptionsError('refreshToken', `got ${show(raw)}; expected true, false, or an object such as { maxAge: '30d', secret: process.env.REFRESH_SECRET }.`);
  }
  const options = (raw === true ? {} : raw) as { maxAge?: unknown; secret?: unknown };
  checkKeys('refreshToken', options, ['maxAge', 'secret']);
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

function resolveRotationPolicy(raw: unknown, refreshTokens: boolean, cookie: boolean): ResolvedSessionOptions['rotationPolicy'] {
  if (raw === undefined) return { interval: null, onPrivilegeChange: true };
  if (raw === null || typeof raw !== 'object') {
    throw new SessionOptionsError('rotationPolicy', `got ${show(raw)}; expected an object such as { interval: '1h', onPrivilegeChange: true }.`);
  }
  const policy = raw as { interval?: unknown; onPrivilegeChange?: unknown };
  checkKeys('rotationPolicy', policy, ['interval', 'onPrivilegeChange']);
  const onPrivilegeChange = policy.onPrivilegeChange ?? true;
  if (typeof onPrivilegeChange !== 'boolean') {
    throw new SessionOptionsError('rotationPolicy.onPrivilegeChange', `got ${show(policy.onPrivilegeChange)}; expected true or false.`);
  }
  if (policy.interval === undefined || policy.interval === false) return { interval: null, onPrivilegeChange };
  if (refreshTokens) {
    throw new SessionOptionsError('rotationPolicy.interval', 'got an interval with refresh tokens on; every refresh already rotates the session token, so leave interval out (a shorter maxAge rotates more often).');
  }
  if (!cookie) {
    throw new SessionOptionsError('rotationPolicy.interval', 'got an interval with cookie: false; a rotated token reaches the client only through the cookie, so use refreshToken for bearer clients.');
  }
  return { interval: duration('rotationPolicy.interval', policy.interval), onPrivilegeChange };
}

function resolveSessionLimit(raw: unknown): ResolvedSessionOptions['maxSessionsPerUser'] {
  if (raw === undefined || raw === false) return null;
  const limit = (typeof raw === 'number' ? { max: raw } : raw) as { max?: unknown; policy?: unknown } | null;
  if (limit === null || typeof limit !== 'object') {
    throw new SessionOptionsError('maxSessionsPerUser', `got ${show(raw)}; expected a whole number such as 5, or { max: 5, policy: 'refuse' }.`);
  }
  checkKeys('maxSessionsPerUser', limit, ['max', 'policy']);
  const option = typeof raw === 'number' ? 'maxSessionsPerUser' : 'maxSessionsPerUser.max';
  if (!Number.isInteger(limit.max) || (limit.max as number) < 1 || (limit.max as number) > 10_000) {
    throw new SessionOptionsError(option, `got ${show(limit.max)}; expected a whole number from 1 to 10000.`);
  }
  const policy = limit.policy ?? 'evict-oldest';
  if (policy !== 'evict-oldest' && policy !== 'refuse') {
    throw new SessionOptionsError('maxSessionsPerUser.policy', `got ${show(limit.policy)}; expected 'evict-oldest' (the default: a new login ends the oldest session) or 'refuse' (a login over the limit gets a 409).`);
  }
  return { max: limit.max as number, policy };
}

const COOKIE_KEYS = new Set(['name', 'secure', 'sameSite', 'domain', 'path']);
const SAME_SITE = ['lax', 'strict', 'none'];
// Anything that would end the attribute or the header early.
const ATTRIBUTE_VALUE = /^[\x21-\x3a\x3c-\x7e]+$/;

function resolveCookie(raw: unknown): ResolvedCookieOptions {
  if (raw === null || typeof raw !== 'object') {
    throw new SessionOptionsError('cookie', `got ${show(raw)}; expected false or an object such as { name: 'session', sameSite: 'lax' }.`);
  }
  const cookie = raw as Record<string, unknown>;
  for (const key of Object.keys(cookie)) {
    if (!COOKIE_KEYS.has(key)) throw new SessionOptionsError(`cookie.${key}`, `unknown option; the known ones are ${[...COOKIE_KEYS].join(', ')}.`);
  }
  const name = cookie.name ?? 'session';
  if (typeof name !== 'string' || !COOKIE_NAME.test(name)) {
    throw new SessionOptionsError('cookie.name', `got ${show(cookie.name)}; expected a cookie name of letters, digits and !#$%&'*+-.^_\`|~ such as 'session' or '__Host-session'.`);
  }
  const secure = cookie.secure ?? true;
  if (typeof secure !== 'boolean') throw new SessionOptionsError('cookie.secure', `got ${show(cookie.secure)}; expected true or false.`);
  const sameSite = cookie.sameSite ?? 'lax';
  if (typeof sameSite !== 'string' || !SAME_SITE.includes(sameSite)) {
    throw new SessionOptionsError('cookie.sameSite', `got ${show(cookie.sameSite)}; expected 'lax', 'strict' or 'none'.`);
  }
  const path = cookie.path ?? '/';
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

function resolveCache(raw: unknown): ResolvedSessionOptions['cache'] {
  if (raw === false) return null;
  if (raw !== undefined && (raw === null || typeof raw !== 'object')) {
    throw new SessionOptionsError('cache', `got ${show(raw)}; expected false or an object such as { ttl: '5m', size: 10000 }.`);
  }
  const cache = (raw ?? {}) as { ttl?: unknown; size?: unknown };
  checkKeys('cache', cache, ['ttl', 'size']);
  const ttl = duration('cache.ttl', cache.ttl ?? '5m');
  const size = cache.size ?? 10_000;
  if (!Number.isInteger(size) || (size as number) < 1 || (size as number) > 10_000_000) {
    throw new SessionOptionsError('cache.size', `got ${show(cache.size)}; expected a whole number from 1 to 10000000 (or cache: false for no cache).`);
  }
  return { ttl, size: size as number };
}

const STORAGE_TYPES = ['database', 'redis', 'memcached'];
const HOST_PORT = /^[A-Za-z0-9.\-]+:\d{1,5}$|^\[[0-9a-fA-F:]+\]:\d{1,5}$/;

function resolveStorage(raw: SessionStorageOptions | undefined): ResolvedStorageOptions {
  if (raw === undefined) return { type: 'database' };
  if (raw === null || typeof raw !== 'object' || !STORAGE_TYPES.includes((raw as { type?: string }).type as string)) {
    throw new SessionOptionsError('storage.type', `got ${show((raw as { type?: unknown } | null)?.type ?? raw)}; expected 'database', 'redis' or 'memcached'.`);
  }
  switch (raw.type) {
    case 'database':
      checkKeys('storage', raw, ['type']);
      return { type: 'database' };
    case 'redis': {
      checkKeys('storage', raw, ['type', 'url', 'nodes', 'client', 'keyPrefix']);
      const given = (['url', 'nodes', 'client'] as const).filter((k) => raw[k] !== undefined);
      if (given.length !== 1) {
        throw new SessionOptionsError('storage.url', `got ${given.length === 0 ? 'none' : given.join(' and ')}; expected exactly one of url ('redis://host:6379'), nodes (['host:7000', …] for a Cluster) or client (an ioredis instance).`);
      }
      if (raw.url !== undefined) {
        let protocol = '';
        try {
          protocol = new URL(raw.url).protocol;
        } catch {
          // reported below
        }
        if (protocol !== 'redis:' && protocol !== 'rediss:') {
          throw new SessionOptionsError('storage.url', `got ${show(raw.url)}; expected a Redis URL such as redis://127.0.0.1:6379 or rediss://user:password@host:6380/0.`);
        }
      }
      if (raw.nodes !== undefined && (!Array.isArray(raw.nodes) || raw.nodes.length === 0 || !raw.nodes.every((n) => typeof n === 'string' && HOST_PORT.test(n)))) {
        throw new SessionOptionsError('storage.nodes', `got ${show(raw.nodes)}; expected a non-empty list of 'host:port' of the cluster's nodes.`);
      }
      if (raw.client !== undefined && (raw.client === null || typeof raw.client !== 'object')) {
        throw new SessionOptionsError('storage.client', `got ${show(raw.client)}; expected an ioredis Redis or Cluster instance.`);
      }
      const keyPrefix = raw.keyPrefix ?? 'sess:';
      if (typeof keyPrefix !== 'string' || !/^[\x21-\x7e]{0,64}$/.test(keyPrefix) || /[{}]/.test(keyPrefix)) {
        throw new SessionOptionsError('storage.keyPrefix', `got ${show(raw.keyPrefix)}; expected up to 64 printable characters without spaces or braces (braces are Redis Cluster hash tags).`);
      }
      return { type: 'redis', url: raw.url, nodes: raw.nodes, client: raw.client, keyPrefix };
    }
    case 'memcached': {
      checkKeys('storage', raw, ['type', 'servers', 'keyPrefix', 'ttl']);
      if (typeof raw.servers !== 'string' || !raw.servers.split(',').every((s) => HOST_PORT.test(s.trim()))) {
        throw new SessionOptionsError('storage.servers', `got ${show(raw.servers)}; expected 'host:port' or 'host:port,host:port', e.g. '127.0.0.1:11211'.`);
      }
      const keyPrefix = raw.keyPrefix ?? 'sess:';
      if (typeof keyPrefix !== 'string' || !/^[\x21-\x7e]{0,64}$/.test(keyPrefix)) {
        throw new SessionOptionsError('storage.keyPrefix', `got ${show(raw.keyPrefix)}; expected up to 64 printable characters without spaces.`);
      }
      return { type: 'memcached', servers: raw.servers, keyPrefix, ttl: duration('storage.ttl', raw.ttl ?? '1h') };
    }
  }
}

function resolveCleanup(raw: unknown): ResolvedSessionOptions['cleanup'] {
  if (raw === false) return null;
  if (raw !== undefined && (raw === null || typeof raw !== 'object')) {
    throw new SessionOptionsError('cleanup', `got ${show(raw)}; expected false or an object such as { schedule: '15 * *' }.`);
  }
  const cleanup = (raw ?? {}) as { schedule?: unknown };
  checkKeys('cleanup', cleanup, ['schedule']);
  const schedule = cleanup.schedule ?? DEFAULT_CLEANUP_SCHEDULE;
  if (typeof schedule !== 'string') {
    throw new SessionOptionsError('cleanup.schedule', `got ${show(schedule)}; expected a string such as '15 * *' or a cron string.`);
  }
  try {
    return { cron: parseCleanupSchedule(schedule), schedule };
  } catch (error) {
    if (error instanceof ScheduleError) throw new SessionOptionsError('cleanup.schedule', error.message);
    throw error;
  }
}
