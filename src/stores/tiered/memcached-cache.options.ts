import type { SharedCacheRefusal } from '../../telemetry/session.telemetry.js';
import { DEFAULT_KEY_PREFIX, isMemcachedKeyPrefix, MEMCACHED_KEY_PREFIX_RULE } from '../store-defaults.js';
import { MAX_RELATIVE_TTL_SECONDS } from './memcached-entry.js';
import { memcachedEntryKey } from './memcached-signature.js';

/** A secret entries are signed with: at least 32 bytes (a string is taken as UTF-8). */
export type MemcachedSecret = string | Uint8Array;

/** Options of `MemcachedSessionCache`. */
export interface MemcachedSessionCacheOptions {
  /** The servers, as memjs takes them: `'host:port'` or `'host:port,host:port'` (`user:pass@host:port` for SASL). */
  servers: string;
  /**
   * Signs every entry (HMAC-SHA256 over the entry and its key), so that whoever else can write
   * to Memcached cannot create or change a session: an entry that does not verify is refused,
   * deleted, and its session read from the database. At least 32 bytes; or a list, newest
   * first, to rotate it (the first signs, every one verifies). The same on every instance.
   */
  secret: MemcachedSecret | readonly MemcachedSecret[];
  /** SASL (PLAIN) user name; with `password`. Authenticates this client to the server; it does not encrypt the traffic. */
  username?: string;
  /** SASL password; with `username`. */
  password?: string;
  /** Prepended to every key; up to 64 printable ASCII characters without spaces. Default `'sess:'`. */
  keyPrefix?: string;
  /**
   * How long a command (and a connection attempt) may take before it counts as failed, in ms.
   * A `get` that takes longer is a miss; a `delete` that takes longer rejects. Default 500.
   */
  timeoutMs?: number;
  /**
   * How long a revocation marker lives, in seconds. A cache fill that read the database
   * before a revocation and writes after it sees the marker and removes its entry, so it must
   * outlive the slowest fill (and any read-replica lag). Default 60.
   */
  revokedTtlSeconds?: number;
  /**
   * After a failed `get` or `set`, further ones skip Memcached (a miss, no write) for this
   * long, in ms, so an outage costs the database path only, not a timeout per request.
   * `delete` is always attempted. Default 1000.
   */
  retryAfterMs?: number;
  /** The clock TTLs and expiry checks use (epoch ms). Default `Date.now`. */
  clock?: () => number;
  /** Called for each entry refused as unsigned or forged (the module counts them in `sessions_shared_cache_refused_total`). */
  onRefused?: (reason: SharedCacheRefusal) => void;
}

/** The options with their defaults, checked; the secrets turned into signing keys. */
export interface CheckedCacheOptions {
  servers: string;
  keys: Buffer[];
  sasl: { username: string; password: string } | null;
  keyPrefix: string;
  timeoutMs: number;
  revokedTtlSeconds: number;
  retryAfterMs: number;
  clock: () => number;
  onRefused: (reason: SharedCacheRefusal) => void;
}

const DEFAULT_TIMEOUT_MS = 500;
const DEFAULT_REVOKED_TTL_S = 60;
const DEFAULT_RETRY_AFTER_MS = 1_000;
const MIN_SECRET_BYTES = 32;

function invalid(what: string, got: string): never {
  throw new TypeError(`MemcachedSessionCache: ${what}, got ${got}.`);
}

function signingKeys(secret: unknown): Buffer[] {
  const secrets: unknown[] = Array.isArray(secret) ? secret : [secret];
  const rule = `secret must be a string or Uint8Array of at least ${MIN_SECRET_BYTES} bytes (openssl rand -base64 48), or a list of them newest first`;
  if (secrets.length === 0) invalid(rule, 'an empty list');
  return secrets.map((s) => {
    // Its length only: a secret never appears in a message.
    if (typeof s !== 'string' && !(s instanceof Uint8Array)) invalid(rule, s === undefined ? 'nothing' : `a ${typeof s}`);
    const bytes = typeof s === 'string' ? Buffer.byteLength(s) : s.byteLength;
    if (bytes < MIN_SECRET_BYTES) invalid(rule, `a ${bytes}-byte secret`);
    return memcachedEntryKey(s);
  });
}

function saslCredentials(username: unknown, password: unknown): CheckedCacheOptions['sasl'] {
  if (username === undefined && password === undefined) return null;
  if (typeof username !== 'string' || username === '' || username.includes('\0')) invalid('username must be a non-empty string without NUL, given with password', username === undefined ? 'nothing' : 'another value');
  if (typeof password !== 'string' || password === '' || password.includes('\0')) invalid('password must be a non-empty string without NUL, given with username', password === undefined ? 'nothing' : 'another value');
  return { username, password };
}

/** The options of a MemcachedSessionCache, checked (a TypeError saying what is expected). */
export function checkCacheOptions(options: MemcachedSessionCacheOptions): CheckedCacheOptions {
  const { servers, keyPrefix = DEFAULT_KEY_PREFIX, timeoutMs = DEFAULT_TIMEOUT_MS } = options ?? ({} as MemcachedSessionCacheOptions);
  const { revokedTtlSeconds = DEFAULT_REVOKED_TTL_S, retryAfterMs = DEFAULT_RETRY_AFTER_MS, clock = Date.now, onRefused = () => undefined } = options ?? {};
  if (typeof servers !== 'string' || !/^[^,\s]+(,[^,\s]+)*$/.test(servers)) {
    invalid(`servers must be 'host:port' or 'host:port,host:port'`, JSON.stringify(servers));
  }
  if (!isMemcachedKeyPrefix(keyPrefix)) invalid(`keyPrefix must be ${MEMCACHED_KEY_PREFIX_RULE}`, JSON.stringify(keyPrefix));
  if (!Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > 60_000) invalid('timeoutMs must be an integer from 1 to 60000', JSON.stringify(timeoutMs));
  if (!Number.isInteger(revokedTtlSeconds) || revokedTtlSeconds < 2 || revokedTtlSeconds > MAX_RELATIVE_TTL_SECONDS) {
    invalid(`revokedTtlSeconds must be an integer from 2 to ${MAX_RELATIVE_TTL_SECONDS}`, JSON.stringify(revokedTtlSeconds));
  }
  if (!Number.isInteger(retryAfterMs) || retryAfterMs < 0) invalid('retryAfterMs must be a non-negative integer', JSON.stringify(retryAfterMs));
  if (typeof onRefused !== 'function') invalid('onRefused must be a function', typeof onRefused);
  const keys = signingKeys(options?.secret);
  const sasl = saslCredentials(options?.username, options?.password);
  return { servers, keys, sasl, keyPrefix, timeoutMs, revokedTtlSeconds, retryAfterMs, clock, onRefused };
}
