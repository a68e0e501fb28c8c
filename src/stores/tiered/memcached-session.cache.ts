import { Logger } from '@nestjs/common';
import type { Socket } from 'node:net';
import { createRequire } from 'node:module';
import type * as Memjs from 'memjs';
import type { Client } from 'memjs';
import type { StoredSession } from '../session-store.interface.js';
import type { SharedCacheRefusal } from '../../telemetry/session.telemetry.js';
import { RateLimitedWarnings } from '../../telemetry/rate-limited-warnings.js';
import { checkCacheOptions, type MemcachedSessionCacheOptions } from './memcached-cache.options.js';
import { decodeSession, encodeSession, memcachedTtlSeconds } from './memcached-entry.js';
import { openEntry, signEntry } from './memcached-signature.js';
import type { SharedSessionCache } from './shared-session-cache.interface.js';
import { errorMessage } from '../../core/utils.js';

export type { MemcachedSecret, MemcachedSessionCacheOptions } from './memcached-cache.options.js';

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
 *   JSON of the details where the session has them, signed with `secret` (memcached-signature.ts).
 *   A value that does not verify (unsigned, forged, tampered, moved from another key) is a miss,
 *   deleted, counted (`onRefused`) and warned about, so its session is read from the database.
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
  private readonly keys: Buffer[];
  private readonly timeoutMs: number;
  private readonly revokedTtlSeconds: number;
  private readonly retryAfterMs: number;
  private readonly clock: () => number;
  private readonly onRefused: (reason: SharedCacheRefusal) => void;
  // Outages and refused entries apart: a flood of forged entries must not hide an outage, nor the reverse.
  private readonly outageWarnings = new RateLimitedWarnings(this.logger);
  private readonly integrityWarnings = new RateLimitedWarnings(this.logger);
  /** The servers without passwords, for messages. */
  readonly where: string;
  private unavailableUntil = 0;
  private closing?: Promise<void>;

  constructor(options: MemcachedSessionCacheOptions) {
    const checked = checkCacheOptions(options);
    const { servers, sasl, timeoutMs } = checked;
    this.keyPrefix = checked.keyPrefix;
    this.keys = checked.keys;
    this.timeoutMs = timeoutMs;
    this.revokedTtlSeconds = checked.revokedTtlSeconds;
    this.retryAfterMs = checked.retryAfterMs;
    this.clock = checked.clock;
    this.onRefused = checked.onRefused;
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
      // memjs hands these to every server, which authenticates (SASL PLAIN) on each new connection.
      ...(sasl && { username: sasl.username, password: sasl.password }),
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
    const key = this.key(tokenHash);
    const opened = openEntry(this.keys, key, entry);
    if ('refused' in opened) return this.refuse(key, opened.refused);
    const now = this.clock();
    if (opened.servableUntil <= now) return null;
    const session = decodeSession(opened.entry);
    if (!session) {
      // Signed with our key, so written by this app: a newer version's format, during an upgrade.
      this.integrityWarnings.warn(`Memcached: an entry under ${this.keyPrefix}… is signed but in a format this version cannot read; treated as a miss`);
      return null;
    }
    // The MAC covers the key, and the key is the hash: a signed entry naming another hash is ours gone wrong, not served.
    if (!session.tokenHash.equals(tokenHash)) return this.refuse(key, 'forged');
    // memcached counts whole seconds; the session's own expiry is exact.
    if (session.expiresAt.getTime() <= now) return null;
    return session;
  }

  // A value that does not verify is someone else's doing: never served, counted, and removed so
  // the fill that follows (from the database) takes its place. The entry stays out of the log;
  // it may be an attacker's bytes.
  private async refuse(key: string, reason: SharedCacheRefusal): Promise<null> {
    this.onRefused(reason);
    let removed = 'deleted';
    try {
      await this.bounded(this.client.delete(key));
    } catch (error) {
      removed = `not deleted (${errorMessage(error)}); it is refused again on every read until it expires`;
    }
    const why =
      reason === 'unsigned'
        ? `is not signed (written by a version before signed entries, by another app under keyPrefix ${JSON.stringify(this.keyPrefix)}, or by someone without storage.secret)`
        : 'does not verify with storage.secret (forged, altered, or copied from another key; or instances were given different secrets)';
    this.integrityWarnings.warn(`Memcached: refused an entry under ${this.keyPrefix}… at ${this.where} that ${why}; ${removed}, and the session is read from the database`);
    return null;
  }

  /**
   * Caches `session` for at most `ttlMs` and never past its expiry (see `memcachedTtlSeconds`).
   * Never rejects: a failed write only means a later miss. If the hash was revoked meanwhile,
   * the entry is removed again before this resolves.
   */
  async set(session: StoredSession, ttlMs: number): Promise<void> {
    if (this.closing || !this.keyFits(session.tokenHash)) return;
    if (Date.now() < this.unavailableUntil) return;
    const now = this.clock();
    const seconds = memcachedTtlSeconds(session, ttlMs, now);
    const entry = seconds === null ? null : encodeSession(session);
    if (seconds === null || entry === null) return;
    const key = this.key(session.tokenHash);
    const value = signEntry(this.keys[0], key, entry, Math.min(now + ttlMs, session.expiresAt.getTime()));
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
    this.outageWarnings.warn(`Memcached: ${what} failed at ${this.where} (${errorMessage(error)}); sessions are read from the database meanwhile`);
  }
}
