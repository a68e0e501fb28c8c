// The stores' defaults and key rules, shared by the stores' constructors and the module's
// `storage` option, so the two can never disagree on what they accept.

/** Put before every Redis and Memcached key when no `keyPrefix` is given. */
export const DEFAULT_KEY_PREFIX = 'sess:';

/** How long the shared cache in front of the store of record keeps a session: 1 hour, in ms. */
export const DEFAULT_SHARED_CACHE_TTL_MS = 3_600_000;

const PRINTABLE_64 = /^[\x21-\x7e]{0,64}$/;

/**
 * Up to 64 printable ASCII characters, no spaces, no braces: a brace would become the Redis
 * Cluster hash tag of every key and pin all sessions to one slot.
 */
export function isRedisKeyPrefix(value: unknown): value is string {
  return typeof value === 'string' && PRINTABLE_64.test(value) && !/[{}]/.test(value);
}

/** The Redis rule in words, for error messages. */
export const REDIS_KEY_PREFIX_RULE = 'up to 64 printable characters without spaces or braces (braces are Redis Cluster hash tags)';

/** Up to 64 printable ASCII characters, no spaces: Memcached keys are 250 bytes at most and cannot hold spaces. */
export function isMemcachedKeyPrefix(value: unknown): value is string {
  return typeof value === 'string' && PRINTABLE_64.test(value);
}

/** The Memcached rule in words, for error messages. */
export const MEMCACHED_KEY_PREFIX_RULE = 'up to 64 printable characters without spaces';
