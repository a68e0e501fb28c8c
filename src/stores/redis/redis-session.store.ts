import type { Cluster, Redis } from 'ioredis';
import type { MergeDataResult, NewStoredSession, SessionStore, StoredSession } from '../session-store.interface.js';
import { DEFAULT_KEY_PREFIX, isRedisKeyPrefix, REDIS_KEY_PREFIX_RULE } from '../store-defaults.js';
import { DETAIL_SCRIPTS } from './redis-detail-scripts.js';
import { copyDetails, dataOf, detailFields, epochMs, extraFields, newestFirst, pairs, patchFields, sessionOf } from './redis-details.js';
import { type LuaScript, SCRIPTS } from './redis-scripts.js';

/** Options of `RedisSessionStore`. */
export interface RedisSessionStoreOptions {
  /**
   * Put before every key, so several apps (or test runs) can share one Redis. Up to 64
   * printable ASCII characters; no braces: they would become the Cluster hash tag of every key
   * and pin all sessions to one slot. Default `'sess:'`.
   */
  keyPrefix?: string;
}

/*
 * Key layout (p = keyPrefix):
 *
 *   p + 't:' + base64url(tokenHash)   hash {id, u, e, c, details...}, PEXPIREAT e
 *       The session itself, under its token: the key a validation reads, and the source of
 *       truth. A session is alive exactly as long as this key exists. Its slot is random. Its
 *       details (redis-details.ts) are fields of the same hash, so they live, move with a
 *       rotation and die with it, and no step below gains a key.
 *
 *   p + '{u:' + userId + '}:index'    hash id -> '<e>:<base64url token>', '-' in front while revoking
 *       (userId with '%', '{' and '}' percent-escaped, so no user id can end the hash tag early)
 *       The user's sessions, so they can be listed and revoked without SCAN. The hash tag keeps
 *       all of a user's keys in one slot. The key's expiry is only ever moved later, to the
 *       latest expiry of its entries. An entry is a pointer and never trusted alone: the token
 *       key it names decides whether the session exists.
 *
 *   p + 'seq'                         counter, INCR: session ids (no expiry)
 *
 * Every Lua script touches one key. Operations that need the token key and the index run
 * their steps in an order chosen so that an interruption between steps (a crash, a lost
 * connection, a concurrent operation) errs towards a dead session, never towards a live one
 * that the user's index cannot reach:
 *
 * - Invariant: an entry's `e` is never below its token key's expiry. Creation writes both with
 *   the same `e`, rotation keeps `e`, and an extension raises the entry before the token key
 *   (and does nothing when the entry is gone or revoking). So an entry whose `e` has passed on
 *   the Redis clock names a key Redis has already expired, and may be pruned.
 * - A token nobody holds is harmless. create and replaceTokenHash write the new token key before
 *   the index learns of it; a crash in between leaves a key whose token was never handed out,
 *   which expires on its own.
 * - Deletions by user (deleteById, deleteByUser) first mark the entries revoking, then delete
 *   the token keys, then remove the entries. A crash in between leaves the marked entries, so a
 *   retry finds and deletes the sessions.
 * - A rotation takes (deletes) the old token key atomically, so of two concurrent rotations one
 *   wins; it writes the new key, then swaps the entry only if it is still the old, unmarked one.
 *   If a deletion marked or removed the entry meanwhile, the rotation deletes the key it wrote
 *   and returns null. So revocation and rotation never race into a live, unlisted session:
 *   whichever order they land in, a session that deleteById/deleteByUser set out to end is
 *   dead once both have returned. (The deletion may then not report it, since it never saw the
 *   rotated token.)
 * - A create that overlaps deleteByUser may survive it, as an INSERT committed after a DELETE
 *   began would in PostgreSQL; it is then in the index, so the next deleteByUser finds it.
 *
 * Requires Redis 7.0 or later (PEXPIRETIME). Entries are pruned on the clock of the user's
 * node, keys expire on the clock of theirs: Cluster nodes' clocks should agree to within
 * seconds, as NTP keeps them.
 */


// Escapes what would end the hash tag early ('}') or make two user ids one key ('%' itself).
function encodeUserId(userId: string): string {
  return userId.replace(/[%{}]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/**
 * Sessions in Redis (standalone or Cluster), for deployments where PostgreSQL round-trips are
 * the bottleneck. Same semantics as the TypeORM store; a validation is one HGETALL on one key.
 * Keys expire with their sessions, so Redis needs no purge.
 *
 * The client is the caller's: the store never closes it. ioredis is only imported for its
 * types, so this file loads without it installed.
 *
 * Round trips: findByTokenHash 1; create 3 (INCR, token key, index); extendExpiry 2 (index,
 * then token key); replaceTokenHash 3 (take old key, write new key, swap entry); deleteByTokenHash
 * 2; deleteById 3; deleteByUser 3 (the token keys in parallel); listByUser 2 (index, then the
 * token keys in parallel); touch, markReauthenticated, mergeData, bindDeviceKey,
 * acceptDeviceProof 1; deleteExpired 0.
 */
export class RedisSessionStore implements SessionStore {
  private readonly keyPrefix: string;

  constructor(
    private readonly client: Redis | Cluster,
    options: RedisSessionStoreOptions = {},
  ) {
    if (client === null || typeof client !== 'object' || typeof client.evalsha !== 'function') {
      throw new TypeError('RedisSessionStore: expected an ioredis Redis or Cluster client.');
    }
    const keyPrefix = options.keyPrefix ?? DEFAULT_KEY_PREFIX;
    if (!isRedisKeyPrefix(keyPrefix)) {
      throw new TypeError(`RedisSessionStore: keyPrefix must be ${REDIS_KEY_PREFIX_RULE}, got ${JSON.stringify(keyPrefix)}.`);
    }
    this.keyPrefix = keyPrefix;
  }

  async create(session: NewStoredSession): Promise<StoredSession> {
    const userId = String(session.userId);
    const expiresAt = epochMs(session.expiresAt, 'expiresAt');
    const createdAt = epochMs(session.createdAt, 'createdAt');
    const token = session.tokenHash.toString('base64url');
    // Checked before anything is written, so a bad value costs no id and leaves no key.
    const details = session.details && copyDetails(session.details);
    const fields = details ? detailFields(details) : [];
    const id = String(await this.client.incr(this.sequenceKey()));
    // Token key first: until the index names it, its token has not been handed out, so a crash
    // here leaves nothing anyone can use.
    await this.run(SCRIPTS.createToken, this.tokenKey(token), [id, userId, expiresAt, createdAt, ...fields]);
    try {
      await this.run(SCRIPTS.addEntry, this.indexKey(userId), [id, expiresAt, token]);
    } catch (error) {
      // The token is never returned, so its key is useless; remove it rather than wait for expiry.
      await this.client.del(this.tokenKey(token)).catch(() => undefined);
      throw error;
    }
    const created: StoredSession = { id, userId, tokenHash: Buffer.from(session.tokenHash), expiresAt: new Date(Number(expiresAt)), createdAt: new Date(Number(createdAt)) };
    if (details) created.details = details;
    return created;
  }

  async findByTokenHash(tokenHash: Buffer): Promise<StoredSession | null> {
    return sessionOf(await this.client.hgetall(this.tokenKey(tokenHash.toString('base64url'))), tokenHash);
  }

  /**
   * The index entry is raised first, so it never falls below the token key's expiry. A session
   * whose token was rotated meanwhile is not extended (false); the next validation with the
   * new token slides it.
   */
  async extendExpiry(session: StoredSession, expiresAt: Date, ifBefore: Date, now: Date, seenAt?: Date): Promise<boolean> {
    const target = epochMs(expiresAt, 'expiresAt');
    const token = session.tokenHash.toString('base64url');
    const seen = seenAt === undefined ? '' : epochMs(seenAt, 'seenAt');
    const listed = await this.run(SCRIPTS.extendEntry, this.indexKey(session.userId), [session.id, token, target]);
    if (listed !== 1) return false;
    const extended = await this.run(SCRIPTS.extendToken, this.tokenKey(token), [target, epochMs(ifBefore, 'ifBefore'), epochMs(now, 'now'), session.id, seen]);
    return extended === 1;
  }

  /** One script on the token key: a rotated or ended session is not touched (false). */
  async touch(session: StoredSession, seenAt: Date, ifSeenBefore: Date): Promise<boolean> {
    const key = this.tokenKey(session.tokenHash.toString('base64url'));
    return (await this.run(DETAIL_SCRIPTS.touch, key, [String(session.id), epochMs(seenAt, 'seenAt'), epochMs(ifSeenBefore, 'ifSeenBefore')])) === 1;
  }

  markReauthenticated(tokenHash: Buffer, now: Date): Promise<StoredSession | null> {
    return this.rewrite(DETAIL_SCRIPTS.markReauthenticated, tokenHash, [epochMs(now, 'now')]);
  }

  /** One script, so of concurrent binds one sets the key and the rest find it set. */
  async bindDeviceKey(tokenHash: Buffer, key: string, proofAt: Date, now: Date): Promise<StoredSession | null> {
    if (typeof key !== 'string' || key === '') throw new TypeError('RedisSessionStore: the device key must be a non-empty string.');
    return this.rewrite(DETAIL_SCRIPTS.bindDeviceKey, tokenHash, [epochMs(now, 'now'), key, epochMs(proofAt, 'proofAt')]);
  }

  /** One script, so of concurrent proofs over one challenge one is accepted. */
  acceptDeviceProof(tokenHash: Buffer, proofAt: Date, now: Date): Promise<StoredSession | null> {
    return this.rewrite(DETAIL_SCRIPTS.acceptDeviceProof, tokenHash, [epochMs(now, 'now'), epochMs(proofAt, 'proofAt')]);
  }

  /**
   * One script, so concurrent merges of one session are applied one after another and none is
   * lost. The bound is on the JSON.stringify size of the merged data, in UTF-8 bytes.
   */
  async mergeData(tokenHash: Buffer, patch: Record<string, unknown>, maxBytes: number, now: Date): Promise<MergeDataResult> {
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 0) throw new TypeError(`RedisSessionStore: maxBytes must be a whole number, got ${JSON.stringify(maxBytes)}.`);
    const args = [epochMs(now, 'now'), String(maxBytes), ...patchFields(patch)];
    const result = await this.run(DETAIL_SCRIPTS.mergeData, this.tokenKey(tokenHash.toString('base64url')), args);
    if (result === 0) return { tooLarge: true };
    return Array.isArray(result) ? { data: dataOf(pairs(result)) } : null;
  }

  /**
   * Taking the old key is what decides between concurrent rotations. Between the steps the
   * session has no usable token: the old one is dead and the new one not yet returned. A
   * failure after the take fails closed: the session is gone, never alive and unlisted.
   */
  async replaceTokenHash(tokenHash: Buffer, newTokenHash: Buffer, now: Date): Promise<StoredSession | null> {
    const oldToken = tokenHash.toString('base64url');
    const newToken = newTokenHash.toString('base64url');
    const fields = await this.take(oldToken, { now: epochMs(now, 'now') });
    if (!fields) return null;
    const { id, u: userId, e: expiresAt, c: createdAt } = fields;
    // The details go in the same write as the rest: the new key is never without them.
    await this.run(SCRIPTS.createToken, this.tokenKey(newToken), [id, userId, expiresAt, createdAt, ...extraFields(fields)]);
    let swapped: unknown;
    try {
      swapped = await this.run(SCRIPTS.swapEntry, this.indexKey(userId), [id, oldToken, newToken]);
    } catch (error) {
      // Unknown whether the index moved: fail closed rather than leave a key it may not name.
      await this.client.del(this.tokenKey(newToken)).catch(() => undefined);
      throw error;
    }
    if (swapped !== 1) {
      // A deletion marked or removed the entry after we took the old key: it meant to end this
      // session, so the rotation ends it.
      await this.client.del(this.tokenKey(newToken));
      return null;
    }
    return sessionOf(fields, newTokenHash);
  }

  async deleteByTokenHash(tokenHash: Buffer): Promise<StoredSession | null> {
    const token = tokenHash.toString('base64url');
    const fields = await this.take(token);
    if (!fields) return null;
    await this.run(SCRIPTS.removeEntries, this.indexKey(fields.u), [fields.id, token]);
    return sessionOf(fields, tokenHash);
  }

  /** Goes through `userId`'s own index, and the token key must agree on both id and user. */
  async deleteById(userId: string, id: string): Promise<StoredSession | null> {
    const [removed] = await this.revoke(String(userId), 'one', String(id));
    return removed ?? null;
  }

  /**
   * Sessions created while this runs may survive it (they are then listed, and the next call
   * takes them). A session caught mid-rotation is ended by the rotation failing, but is not
   * in the returned list.
   */
  async deleteByUser(userId: string, exceptId?: string): Promise<StoredSession[]> {
    return (await this.revoke(String(userId), 'all', exceptId === undefined ? '' : String(exceptId))).sort(newestFirst);
  }

  async listByUser(userId: string, now: Date): Promise<StoredSession[]> {
    const user = String(userId);
    const after = Number(epochMs(now, 'now'));
    const entries = await this.client.hgetall(this.indexKey(user));
    const sessions = await Promise.all(
      Object.entries(entries).map(async ([id, value]) => {
        const token = value.slice(value.indexOf(':') + 1);
        const stored = await this.findByTokenHash(Buffer.from(token, 'base64url'));
        // The token key decides: a dangling entry (its key expired or deleted) is skipped.
        return stored && stored.id === id && stored.userId === user && stored.expiresAt.getTime() > after ? stored : null;
      }),
    );
    return sessions.filter((s): s is StoredSession => s !== null).sort(newestFirst);
  }

  /**
   * Redis expires token keys and index keys by itself, and `create` drops a user's expired
   * index entries. What is left (entries of expired sessions in the index of a user who has
   * not signed in since, until that index key expires too) is out of reach without SCAN, so
   * this does nothing and returns 0.
   */
  async deleteExpired(_now: Date, _limit: number): Promise<number> {
    return 0;
  }

  /** The client is the caller's; nothing to release. */
  async ping(): Promise<void> {
    await this.client.ping();
  }

  async close(): Promise<void> {}

  private async revoke(userId: string, mode: 'one' | 'all', id: string): Promise<StoredSession[]> {
    const index = this.indexKey(userId);
    const marked = (await this.run(SCRIPTS.revokeEntries, index, [mode, id])) as string[];
    if (marked.length === 0) return [];
    const entries: [string, string][] = [];
    for (let i = 0; i < marked.length; i += 2) entries.push([marked[i], marked[i + 1]]);
    const taken = await Promise.all(entries.map(([entryId, token]) => this.take(token, { id: entryId, userId })));
    // Removed whether or not the key was still there: a missing key is an expired or deleted
    // session, or one mid-rotation, whose swap then fails and ends it.
    await this.run(SCRIPTS.removeEntries, index, entries.flat());
    const removed: StoredSession[] = [];
    taken.forEach((fields, i) => {
      const session = fields && sessionOf(fields, Buffer.from(entries[i][1], 'base64url'));
      if (session) removed.push(session);
    });
    return removed;
  }

  // The token key's fields (details included), deleted in the same step; null when it is gone or does not match.
  private async take(token: string, match: { now?: string; id?: string; userId?: string } = {}): Promise<Record<string, string> | null> {
    const fields = await this.run(SCRIPTS.takeToken, this.tokenKey(token), [match.now ?? '', match.id ?? '', match.userId ?? '']);
    return Array.isArray(fields) ? pairs(fields) : null;
  }

  private run(script: LuaScript, key: string, args: string[]): Promise<unknown> {
    return script.run(this.client, key, args);
  }

  // A details script on the token key that answers all its fields, or nil without a live session.
  private async rewrite(script: LuaScript, tokenHash: Buffer, args: string[]): Promise<StoredSession | null> {
    const fields = await this.run(script, this.tokenKey(tokenHash.toString('base64url')), args);
    return Array.isArray(fields) ? sessionOf(pairs(fields), tokenHash) : null;
  }

  private tokenKey(token: string): string {
    return `${this.keyPrefix}t:${token}`;
  }

  private indexKey(userId: string): string {
    return `${this.keyPrefix}{u:${encodeUserId(userId)}}:index`;
  }

  private sequenceKey(): string {
    return `${this.keyPrefix}seq`;
  }
}
