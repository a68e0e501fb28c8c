import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import type { SharedCacheRefusal } from '../../telemetry/session.telemetry.js';

// Memcached has no authentication by default, and SASL, where it is on, is shared by every
// client of the server; so what a read finds there is trusted only when it carries a MAC made
// with a key only this app holds. Anyone else who can write there can delete entries (the
// sessions are then read from PostgreSQL), but cannot make or change one.
//
// Version 3, a signed envelope around a version 1 or 2 entry (memcached-entry.ts):
//   [0]          format version (3)
//   [1..6]       the last moment the entry may be served, epoch ms, unsigned 48-bit big-endian:
//                its write time plus the tier's ttl, never past the session's expiry
//   [7..n-33]    the entry, exactly as encodeSession writes it
//   [n-32..n-1]  HMAC-SHA256(key, cache key, NUL, bytes [0..n-33])
// The cache key is under the MAC so an entry copied to another token's key does not verify
// there; the deadline is, so a copy of an entry replayed after its session was revoked serves
// for at most the ttl it was written with, not until the session's own expiry.

export const SIGNED_FORMAT = 3;
const TAG_BYTES = 32;
const HEAD_BYTES = 7;
const MAX_MS = 2 ** 48 - 1;
// Below this a value cannot hold the head, the shortest entry and the tag.
const MIN_SIGNED_BYTES = HEAD_BYTES + 15 + TAG_BYTES;

/** The key Memcached entries are signed with, from a configured secret; its own label keeps it apart from every other key derived from the same secret. */
export function memcachedEntryKey(secret: string | Uint8Array): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, 'nestjs-sessions', 'nestjs-sessions memcached entry', 32));
}

function tag(key: Buffer, cacheKey: string, signed: Buffer): Buffer {
  return createHmac('sha256', key).update(cacheKey).update('\0').update(signed).digest();
}

/** `entry` signed for `cacheKey` with `key`, to be served until `servableUntil` (epoch ms) at the latest. */
export function signEntry(key: Buffer, cacheKey: string, entry: Buffer, servableUntil: number): Buffer {
  const out = Buffer.allocUnsafe(HEAD_BYTES + entry.length + TAG_BYTES);
  out.writeUInt8(SIGNED_FORMAT, 0);
  out.writeUIntBE(Math.min(Math.max(0, Math.floor(servableUntil)), MAX_MS), 1, 6);
  entry.copy(out, HEAD_BYTES);
  tag(key, cacheKey, out.subarray(0, HEAD_BYTES + entry.length)).copy(out, HEAD_BYTES + entry.length);
  return out;
}

/** What a value read under a cache key holds, once its MAC checked out; or why it is refused. */
export type OpenedEntry = { entry: Buffer; servableUntil: number } | { refused: SharedCacheRefusal };

/**
 * The entry inside `value` when one of `keys` (newest first, as configured) signed it for
 * `cacheKey`. Nothing of the value is read before its MAC is checked but its version and length.
 */
export function openEntry(keys: readonly Buffer[], cacheKey: string, value: Buffer): OpenedEntry {
  if (value.length < MIN_SIGNED_BYTES || value.readUInt8(0) !== SIGNED_FORMAT) return { refused: 'unsigned' };
  const signed = value.subarray(0, value.length - TAG_BYTES);
  const given = value.subarray(value.length - TAG_BYTES);
  // Every key is tried (no early exit), so the time taken does not tell which one matched.
  let valid = false;
  for (const key of keys) valid = timingSafeEqual(given, tag(key, cacheKey, signed)) || valid;
  if (!valid) return { refused: 'forged' };
  return { entry: Buffer.from(signed.subarray(HEAD_BYTES)), servableUntil: signed.readUIntBE(1, 6) };
}
