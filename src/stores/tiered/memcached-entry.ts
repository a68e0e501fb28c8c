import type { StoredSession } from '../session-store.interface.js';

// How a session is kept in Memcached: a compact binary entry and its TTL.

/** memcached reads an expiry above 30 days as a unix time, not a TTL; longer TTLs are clamped to it. */
export const MAX_RELATIVE_TTL_SECONDS = 60 * 60 * 24 * 30;

// ---- encoding -------------------------------------------------------------------------------
//
// Version 1, 14 + hash + 1 + id + userId bytes (87 for a 32-byte hash, a 12-digit id and a
// 20-byte user id; JSON of the same is ~190):
//   [0]        format version (1)
//   [1..6]     expiresAt, epoch ms, unsigned 48-bit big-endian
//   [7..12]    createdAt, epoch ms, unsigned 48-bit big-endian
//   [13]       length of tokenHash (h), then h bytes
//   [14+h]     length of id in UTF-8 bytes (i), then i bytes
//   [15+h+i..] userId, UTF-8, to the end
const FORMAT_V1 = 1;
const MAX_MS = 2 ** 48 - 1;

/** The compact binary form of a session, or null when it cannot be encoded (then it is not cached). */
export function encodeSession(session: StoredSession): Buffer | null {
  const expiresAt = session.expiresAt.getTime();
  const createdAt = session.createdAt.getTime();
  const id = Buffer.from(session.id, 'utf8');
  const userId = Buffer.from(session.userId, 'utf8');
  const hash = session.tokenHash;
  if (!Number.isInteger(expiresAt) || expiresAt < 0 || expiresAt > MAX_MS) return null;
  if (!Number.isInteger(createdAt) || createdAt < 0 || createdAt > MAX_MS) return null;
  if (hash.length > 255 || id.length > 255) return null;

  const out = Buffer.allocUnsafe(15 + hash.length + id.length + userId.length);
  out.writeUInt8(FORMAT_V1, 0);
  out.writeUIntBE(expiresAt, 1, 6);
  out.writeUIntBE(createdAt, 7, 6);
  out.writeUInt8(hash.length, 13);
  hash.copy(out, 14);
  out.writeUInt8(id.length, 14 + hash.length);
  id.copy(out, 15 + hash.length);
  userId.copy(out, 15 + hash.length + id.length);
  return out;
}

/** The session of `encodeSession`'s bytes, or null for anything else (another format, truncated). */
export function decodeSession(value: Buffer): StoredSession | null {
  if (value.length < 15 || value.readUInt8(0) !== FORMAT_V1) return null;
  const hashLength = value.readUInt8(13);
  if (value.length < 15 + hashLength) return null;
  const idLength = value.readUInt8(14 + hashLength);
  const idStart = 15 + hashLength;
  if (value.length < idStart + idLength || idLength === 0) return null;
  return {
    id: value.toString('utf8', idStart, idStart + idLength),
    userId: value.toString('utf8', idStart + idLength),
    tokenHash: Buffer.from(value.subarray(14, 14 + hashLength)),
    expiresAt: new Date(value.readUIntBE(1, 6)),
    createdAt: new Date(value.readUIntBE(7, 6)),
  };
}

/**
 * The TTL, in seconds, memcached should give an entry for `session` cached for at most `ttlMs`
 * at `now`: rounded up to whole seconds (so it may outlive the session by less than a second,
 * never more), clamped to 30 days (beyond that memcached would read it as a unix time), null
 * when there is nothing left to cache.
 */
export function memcachedTtlSeconds(session: StoredSession, ttlMs: number, now: number): number | null {
  const ms = Math.min(ttlMs, session.expiresAt.getTime() - now);
  if (!(ms > 0)) return null;
  return Math.min(Math.ceil(ms / 1000), MAX_RELATIVE_TTL_SECONDS);
}
