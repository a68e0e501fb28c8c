import { SessionOptionsError } from '../core/session.exceptions.js';
import type { Duration } from '../options/duration.js';
import { checkKeys, duration, optionKeys, show } from '../options/option-checks.js';

/** The in-process cache of validated sessions. */
export interface SessionCacheOptions {
  /** How long a validated session and its user are served from memory. Default `'5m'`. */
  ttl?: Duration;
  /** Entries at most (least recently used go first). Default `10000`. */
  size?: number;
}

export interface CacheOptions {
  /** The in-process session cache, or `false` for none. Default `{ ttl: '5m', size: 10000 }`. */
  cache?: SessionCacheOptions | false;
}

export interface ResolvedCacheOptions {
  /** `ttl` in milliseconds; null when the cache is off. */
  cache: { ttl: number; size: number } | null;
}

export const CACHE_OPTION_KEYS = optionKeys<CacheOptions>({ cache: true });

export const DEFAULT_CACHE_TTL = '5m';
export const DEFAULT_CACHE_SIZE = 10_000;
const MAX_CACHE_SIZE = 10_000_000;
const CACHE_KEYS = optionKeys<SessionCacheOptions>({ ttl: true, size: true });

export function resolveCacheOptions(raw: CacheOptions): ResolvedCacheOptions {
  if (raw.cache === false) return { cache: null };
  if (raw.cache !== undefined && (raw.cache === null || typeof raw.cache !== 'object')) {
    throw new SessionOptionsError('cache', `got ${show(raw.cache)}; expected false or an object such as { ttl: '5m', size: 10000 }.`);
  }
  const cache = (raw.cache ?? {}) as { ttl?: unknown; size?: unknown };
  checkKeys('cache', cache, CACHE_KEYS);
  const ttl = duration('cache.ttl', cache.ttl ?? DEFAULT_CACHE_TTL);
  const size = cache.size ?? DEFAULT_CACHE_SIZE;
  if (!Number.isInteger(size) || (size as number) < 1 || (size as number) > MAX_CACHE_SIZE) {
    throw new SessionOptionsError('cache.size', `got ${show(cache.size)}; expected a whole number from 1 to ${MAX_CACHE_SIZE} (or cache: false for no cache).`);
  }
  return { cache: { ttl, size: size as number } };
}
