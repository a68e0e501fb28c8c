import type { StoredSession, StoredSessionDetails } from '../session-store.interface.js';

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
//
// Version 2, a session with details: version 1's first 15 + h + i bytes (with 2 in [0]), then
//   [15+h+i]   length of userId in UTF-8 bytes (u), unsigned 16-bit big-endian, then u bytes
//   [17+h+i+u] length of the details' JSON in bytes (j), unsigned 32-bit big-endian, then j bytes
//              to the end: {ua, dv, ip, ls, ra, d}, the times as epoch ms, null where unset.
// A session without details is still written as version 1, which every version reads.
//
// Version 4, a session with a device key (the option deviceBound): version 2's layout (with 4
// in [0]), its JSON with dk (the key's JSON text) and dp (deviceProofAt, epoch ms or null) too.
// Its own version so that an instance of a release before it misses the entry rather than
// serving the session without its key; sessions without a key stay version 2. (3 is taken by
// the signed envelope around an entry, memcached-signature.ts.)
const FORMAT_V1 = 1;
const FORMAT_V2 = 2;
const FORMAT_V4 = 4;
const MAX_MS = 2 ** 48 - 1;
// memcached's default item size is 1 MiB, key and header included; a larger entry would be
// refused by the server (and count as an outage), so it is not cached at all.
export const MAX_ENTRY_BYTES = 1_000_000;

type DetailsJson = {
  ua: string | null;
  dv: string | null;
  ip: string | null;
  ls: number | null;
  ra: number | null;
  d: Record<string, unknown>;
  dk?: string;
  dp?: number | null;
};

const isBound = (details: StoredSessionDetails): details is StoredSessionDetails & { deviceKey: string } => typeof details.deviceKey === 'string';

function detailsJson(details: StoredSessionDetails): Buffer {
  const json: DetailsJson = {
    ua: details.userAgent ?? null,
    dv: details.device ?? null,
    ip: details.ip ?? null,
    ls: details.lastSeenAt ? details.lastSeenAt.getTime() : null,
    ra: details.reauthenticatedAt ? details.reauthenticatedAt.getTime() : null,
    d: details.data ?? {},
  };
  if (isBound(details)) Object.assign(json, { dk: details.deviceKey, dp: details.deviceProofAt ? details.deviceProofAt.getTime() : null });
  return Buffer.from(JSON.stringify(json), 'utf8');
}

const isText = (v: unknown): v is string | null => v === null || typeof v === 'string';
const isTime = (v: unknown): v is number | null => v === null || (Number.isSafeInteger(v) && (v as number) >= 0);

function parseDetails(text: string, bound: boolean): StoredSessionDetails | null {
  let json: DetailsJson;
  try {
    json = JSON.parse(text) as DetailsJson;
  } catch {
    return null;
  }
  if (json === null || typeof json !== 'object' || !isText(json.ua) || !isText(json.dv) || !isText(json.ip) || !isTime(json.ls) || !isTime(json.ra)) return null;
  if (json.d === null || typeof json.d !== 'object' || Array.isArray(json.d)) return null;
  if (bound && (typeof json.dk !== 'string' || json.dp === undefined || !isTime(json.dp))) return null;
  const details: StoredSessionDetails = {
    userAgent: json.ua,
    device: json.dv,
    ip: json.ip,
    lastSeenAt: json.ls === null ? null : new Date(json.ls),
    reauthenticatedAt: json.ra === null ? null : new Date(json.ra),
    data: json.d,
  };
  if (bound) Object.assign(details, { deviceKey: json.dk, deviceProofAt: json.dp === null ? null : new Date(json.dp!) });
  return details;
}

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
  if (session.details) return encodeWithDetails(session, id, userId, session.details);

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

// Version 2 (4 with a device key): the fixed head of version 1, then the length-prefixed user id and details.
function encodeWithDetails(session: StoredSession, id: Buffer, userId: Buffer, details: StoredSessionDetails): Buffer | null {
  const hash = session.tokenHash;
  let json: Buffer;
  try {
    json = detailsJson(details);
  } catch {
    return null;
  }
  const size = 21 + hash.length + id.length + userId.length + json.length;
  if (userId.length > 0xffff || size > MAX_ENTRY_BYTES) return null;
  const out = Buffer.allocUnsafe(size);
  let at = out.writeUInt8(isBound(details) ? FORMAT_V4 : FORMAT_V2, 0);
  at = out.writeUIntBE(session.expiresAt.getTime(), at, 6);
  at = out.writeUIntBE(session.createdAt.getTime(), at, 6);
  at = out.writeUInt8(hash.length, at);
  at += hash.copy(out, at);
  at = out.writeUInt8(id.length, at);
  at += id.copy(out, at);
  at = out.writeUInt16BE(userId.length, at);
  at += userId.copy(out, at);
  at = out.writeUInt32BE(json.length, at);
  json.copy(out, at);
  return out;
}

/** The session of `encodeSession`'s bytes, or null for anything else (another format, truncated). */
export function decodeSession(value: Buffer): StoredSession | null {
  const version = value.length < 15 ? 0 : value.readUInt8(0);
  if (version !== FORMAT_V1 && version !== FORMAT_V2 && version !== FORMAT_V4) return null;
  const hashLength = value.readUInt8(13);
  if (value.length < 15 + hashLength) return null;
  const idLength = value.readUInt8(14 + hashLength);
  const idStart = 15 + hashLength;
  if (value.length < idStart + idLength || idLength === 0) return null;
  const session: StoredSession = {
    id: value.toString('utf8', idStart, idStart + idLength),
    userId: '',
    tokenHash: Buffer.from(value.subarray(14, 14 + hashLength)),
    expiresAt: new Date(value.readUIntBE(1, 6)),
    createdAt: new Date(value.readUIntBE(7, 6)),
  };
  if (version === FORMAT_V1) {
    session.userId = value.toString('utf8', idStart + idLength);
    return session;
  }
  const userStart = idStart + idLength + 2;
  if (value.length < userStart) return null;
  const userLength = value.readUInt16BE(userStart - 2);
  const jsonStart = userStart + userLength + 4;
  // The lengths must account for every byte: a truncated or padded entry is not trusted.
  if (value.length < jsonStart || value.length !== jsonStart + value.readUInt32BE(jsonStart - 4)) return null;
  const details = parseDetails(value.toString('utf8', jsonStart), version === FORMAT_V4);
  if (!details) return null;
  session.userId = value.toString('utf8', userStart, userStart + userLength);
  session.details = details;
  return session;
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
