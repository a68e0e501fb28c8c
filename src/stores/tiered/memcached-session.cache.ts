import { Logger } from '@nestjs/common';
import type { Socket } from 'node:net';
import { createRequire } from 'node:module';
import type * as Memjs from 'memjs';
import type { Client } from 'memjs';
import type { StoredSession } from '../session-store.interface.js';
import { DEFAULT_KEY_PREFIX, isMemcachedKeyPrefix, MEMCACHED_KEY_PREFIX_RULE } from '../store-defaults.js';
import { decodeSession, encodeSession, MAX_RELATIVE_TTL_SECONDS, memcachedTtlSeconds } from './memcached-entry.js';
import type { SharedSessionCache } from './shared-session-cache.interface.js';
import { errorMessage } from '../../core/utils.js';

/** Options of `MemcachedSessionCache`. */
export interface MemcachedSessionCacheOptions {
  /** The servers, as memjs takes them: `'host:port'` or `'host:port,host:port'` (`user:pass@host:port` for SASL). */
  servers: string;
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
}

// memjs is an optional peer, loaded on first use rather than when this file is imported, so the
// package index (which exports this class) loads without it. It is CommonJS, hence require.
const require = createRequire(import.meta.url);
function loadMemjs(): typeof Memjs {
  try {
    return require('memjs') as typeof Memjs;
  } catch (error) {
    throw new Error(`MemcachedSessionCache needs the "memjs" package; install it (npm install memjs). ${errorMessage(error)}`);
  }
}

/** Memcached could not be reached or did not answer in time. */
export class MemcachedUnavailableError extends Error {
  override readonly name = 'MemcachedUnavailableError';
}

const DEFAULT_TIMEOUT_MS = 500;
const DEFAULT_REVOKED_TTL_S = 60;
const DEFAULT_RETRY_AFTER_MS = 1_000;
const WARN_INTERVAL_MS = 10_000;
const MAX_KEY_BYTES = 250;
const REVOKED_SUFFIX = '.revoked';
const REVOKED_VALUE = Buffer.from('1');
// Deletes go out in batches of this many keys, each batch bounded by timeoutMs.
const DELETE_BATCH = 256;


/**
 * The shared cache tier on Memcached (memjs, binary protocol). Never the store of record: it
 * holds session rows by token hash and nothing else.
 *
 * - Keys: `keyPrefix` + base64url(tokenHash); values: `encodeSession`'s 87-odd bytes, plus the
 *   JSON of the details where the session has them.
 * - `get` is a miss when memcached fails or is slow (a rate-limited warning), so an outage of
 *   the cache sends reads to the database instead of failing them.
 * - `delete` really deletes, and rejects when memcached cannot confirm it.
 * - A revocation leaves a marker (`<key>.revoked`, `revokedTtlSeconds`): `get` treats a marked
 *   hash as a miss, and `set` checks for the marker after writing and removes its own entry if
 *   one appeared. A fill that read the database before a revocation therefore cannot put the
 *   revoked session back after the revocation returned.
 */
export class MemcachedSessionCache implements SharedSessionCache {
  private readonly logger = new Logger('MemcachedSessionCache');
  private readonly client: Client;
  private readonly keyPrefix: string;
  private readonly timeoutMs: number;
  private readonly revokedTtlSeconds: number;
  private readonly retryAfterMs: number;
  private readonly clock: () => number;
  /** The servers without passwords, for messages. */
  readonly where: string;
  private unavailableUntil = 0;
  private lastWarnAt = -Infinity;
  private suppressedWarnings = 0;
  private closing?: Promise<void>;

  constructor(options: MemcachedSessionCacheOptions) {
    const { servers, keyPrefix = DEFAULT_KEY_PREFIX, timeoutMs = DEFAULT_TIMEOUT_MS } = options ?? ({} as MemcachedSessionCacheOptions);
    const { revokedTtlSeconds = DEFAULT_REVOKED_TTL_S, retryAfterMs = DEFAULT_RETRY_AFTER_MS, clock = Date.now } = options ?? {};
    if (typeof servers !== 'string' || !/^[^,\s]+(,[^,\s]+)*$/.test(servers)) {
      throw new TypeError(`MemcachedSessionCache: servers must be 'host:port' or 'host:port,host:port', got ${JSON.stringify(servers)}.`);
    }
    if (!isMemcachedKeyPrefix(keyPrefix)) {
      throw new TypeError(`MemcachedSessionCache: keyPrefix must be ${MEMCACHED_KEY_PREFIX_RULE}, got ${JSON.stringify(keyPrefix)}.`);
    }
    if (!Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > 60_000) {
      throw new TypeError(`MemcachedSessionCache: timeoutMs must be an integer from 1 to 60000, got ${JSON.stringify(timeoutMs)}.`);
    }
    if (!Number.isInteger(revokedTtlSeconds) || revokedTtlSeconds < 2 || revokedTtlSeconds > MAX_RELATIVE_TTL_SECONDS) {
      throw new TypeError(`MemcachedSessionCache: revokedTtlSeconds must be an integer from 2 to ${MAX_RELATIVE_TTL_SECONDS}, got ${JSON.stringify(revokedTtlSeconds)}.`);
    }
    if (!Number.isInteger(retryAfterMs) || retryAfterMs < 0) {
      throw new TypeError(`MemcachedSessionCache: retryAfterMs must be a non-negative integer, got ${JSON.stringify(retryAfterMs)}.`);
    }
    this.keyPrefix = keyPrefix;
    this.timeoutMs = timeoutMs;
    this.revokedTtlSeconds = revokedTtlSeconds;
    this.retryAfterMs = retryAfterMs;
    this.clock = clock;
    this.where = servers.split(',').map((s) => s.replace(/^([^:@]*):[^@]*@/, '$1:***@')).join(',');
    this.client = loadMemjs().Client.create(servers, {
      // One attempt: our caller has a deadline, and a failed get is answered by the database.
      retries: 1,
      // Failover would send a key to another server while its own is down, and serve from it
      // stale entries its own never saw deleted.
      failover: false,
      timeout: timeoutMs / 1000,
      conntimeout: timeoutMs / 1000,
      keepAlive: true,
      // memjs logs every failure; the warnings that matter come from here, rate-limited.
      logger: { log: (...args: unknown[]) => this.logger.debug(args.map(String).join(' ')) },
    });
  }

  /** A cache whose servers answered `ping()`; closed again, with the reason, when they did not. */
  static async connect(options: MemcachedSessionCacheOptions): Promise<MemcachedSessionCache> {
    const cache = new MemcachedSessionCache(options);
    try {
      await cache.ping();
      return cache;
    } catch (error) {
      await cache.close();
      throw error;
    }
  }

  /** The memcached key of a token hash. */
  key(tokenHash: Buffer): string {
    return this.keyPrefix + tokenHash.toString('base64url');
  }

  /** The key of the revocation marker of a token hash. */
  revokedKey(tokenHash: Buffer): string {
    return this.key(tokenHash) + REVOKED_SUFFIX;
  }

  private keyFits(tokenHash: Buffer): boolean {
    return Buffer.isBuffer(tokenHash) && tokenHash.length > 0 && Buffer.byteLength(this.revokedKey(tokenHash)) <= MAX_KEY_BYTES;
  }

  /**
   * Resolves once every server answered (with its version); rejects, naming the server and
   * the reason, when one did not within timeoutMs. For a fail-fast check at startup.
   */
  async ping(): Promise<{ server: string; version: string }[]> {
    if (this.closing) throw new MemcachedUnavailableError('MemcachedSessionCache is closed.');
    const expected = new Set(this.client.servers.map((s) => `${s.host}:${s.port}`));
    const answers = new Map<string, { error: unknown; version: string }>();
    const done = new Promise<void>((resolve) => {
      this.client.stats((error, server, stats) => {
        if (!answers.has(server)) answers.set(server, { error, version: stats?.version ?? '' });
        if (answers.size === expected.size) resolve();
      });
    });
    try {
      await this.bounded(done);
    } catch {
      const silent = [...expected].filter((s) => !answers.has(s));
      throw new MemcachedUnavailableError(`Memcached server ${silent.join(', ')} did not answer within ${this.timeoutMs} ms.`);
    }
    const failed = [...answers].filter(([, a]) => a.error);
    if (failed.length > 0) {
      throw new MemcachedUnavailableError(failed.map(([server, a]) => `Memcached server ${server} did not answer: ${errorMessage(a.error)}`).join('; '));
    }
    this.unavailableUntil = 0;
    return [...answers].map(([server, a]) => ({ server, version: a.version }));
  }

  /** The cached session, or null on a miss, a revoked or expired entry, or when memcached fails or is slow. */
  async get(tokenHash: Buffer): Promise<StoredSession | null> {
    if (this.closing || !this.keyFits(tokenHash)) return null;
    if (Date.now() < this.unavailableUntil) return null;
    let entry: Buffer | null;
    let revoked: Buffer | null;
    try {
      // Both on the same connection(s), in parallel: one round trip.
      const [e, r] = await this.bounded(Promise.all([this.client.get(this.key(tokenHash)), this.client.get(this.revokedKey(tokenHash))]));
      entry = e.value;
      revoked = r.value;
    } catch (error) {
      this.failed('get', error);
      return null;
    }
    if (revoked !== null || entry === null) return null;
    const session = decodeSession(entry);
    if (!session || !session.tokenHash.equals(tokenHash)) {
      this.warn(`an entry under ${this.keyPrefix}… is not a session this version wrote; treated as a miss (is another app using keyPrefix ${JSON.stringify(this.keyPrefix)}?)`);
      return null;
    }
    // memcached counts whole seconds; the session's own expiry is exact.
    if (session.expiresAt.getTime() <= this.clock()) return null;
    return session;
  }

  /**
   * Caches `session` for at most `ttlMs` and never past its expiry (see `memcachedTtlSeconds`).
   * Never rejects: a failed write only means a later miss. If the hash was revoked meanwhile,
   * the entry is removed again before this resolves.
   */
  async set(session: StoredSession, ttlMs: number): Promise<void> {
    if (this.closing || !this.keyFits(session.tokenHash)) return;
    if (Date.now() < this.unavailableUntil) return;
    const seconds = memcachedTtlSeconds(session, ttlMs, this.clock());
    const value = seconds === null ? null : encodeSession(session);
    if (seconds === null || value === null) return;
    const key = this.key(session.tokenHash);
    let written = false;
    try {
      await this.bounded(this.client.set(key, value, { expires: seconds }));
      written = true;
      const marker = await this.bounded(this.client.get(this.revokedKey(session.tokenHash)));
      if (marker.value !== null) await this.bounded(this.client.delete(key));
    } catch (error) {
      this.failed('set', error);
      if (written) {
        // Unknown whether the hash was revoked: do not leave the entry behind.
        await this.bounded(this.client.delete(key)).catch((e: unknown) =>
          this.logger.error(`could not remove ${key} after a failed revocation check (${errorMessage(e)}); it expires in ${seconds} s`),
        );
      }
    }
  }

  /**
   * Removes these entries and marks the hashes revoked for `revokedTtlSeconds`; resolves once
   * memcached confirmed every delete. Rejects (MemcachedUnavailableError) when it could not:
   * an entry may still be there, and the caller must know.
   */
  async delete(tokenHashes: Buffer[]): Promise<void> {
    if (this.closing) throw new MemcachedUnavailableError('MemcachedSessionCache is closed; the sessions could not be removed from Memcached.');
    const hashes = new Map<string, Buffer>();
    for (const hash of tokenHashes) if (this.keyFits(hash)) hashes.set(this.key(hash), hash);
    const all = [...hashes.values()];
    try {
      for (let i = 0; i < all.length; i += DELETE_BATCH) {
        const batch = all.slice(i, i + DELETE_BATCH);
        // The marker first: a fill racing with this delete either lands before the delete, or
        // sees the marker after it.
        await this.bounded(Promise.all(batch.map((h) => this.client.set(this.revokedKey(h), REVOKED_VALUE, { expires: this.revokedTtlSeconds }))));
        await this.bounded(Promise.all(batch.map((h) => this.client.delete(this.key(h)))));
      }
    } catch (error) {
      this.unavailableUntil = Date.now() + this.retryAfterMs;
      throw new MemcachedUnavailableError(
        `could not delete ${all.length} session(s) from Memcached at ${this.where}: ${errorMessage(error)}. They may still be cached until their TTL.`,
        { cause: error },
      );
    }
  }

  /** Closes the connections; idempotent. Calls after it miss (get), do nothing (set) or reject (delete). */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    // memjs keeps each server's socket in `_socket` (1.3.x); wait for it to close so a test
    // runner or a shutdown hook sees no open handle afterwards.
    const sockets = this.client.servers
      .map((s) => (s as unknown as { _socket?: Socket })._socket)
      .filter((s): s is Socket => s !== undefined && !s.destroyed);
    this.client.close();
    await Promise.all(
      sockets.map(
        (socket) =>
          new Promise<void>((resolve) => {
            const timer = setTimeout(() => socket.destroy(), this.timeoutMs);
            socket.once('close', () => {
              clearTimeout(timer);
              resolve();
            });
          }),
      ),
    );
  }

  // Every command is bounded here as well as by memjs's own timeout: a request memjs still
  // holds after the deadline is abandoned (its late answer goes nowhere).
  private async bounded<T>(work: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        work,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer within ${this.timeoutMs} ms`)), this.timeoutMs);
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  private failed(what: string, error: unknown): void {
    this.unavailableUntil = Date.now() + this.retryAfterMs;
    this.warn(`${what} failed at ${this.where} (${errorMessage(error)}); sessions are read from the database meanwhile`);
  }

  // At most one warning per WARN_INTERVAL_MS; the next one says how many were held back.
  private warn(text: string): void {
    const now = Date.now();
    if (now - this.lastWarnAt < WARN_INTERVAL_MS) {
      this.suppressedWarnings++;
      return;
    }
    const held = this.suppressedWarnings;
    this.lastWarnAt = now;
    this.suppressedWarnings = 0;
    this.logger.warn(`Memcached: ${text}${held > 0 ? ` (${held} more warning(s) in the last ${WARN_INTERVAL_MS / 1000} s not shown)` : ''}.`);
  }
}
