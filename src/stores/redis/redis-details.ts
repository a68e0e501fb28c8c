import type { StoredSession, StoredSessionDetails } from '../session-store.interface.js';

/*
 * How a session's details sit in its token hash, beside {id, u, e, c}:
 *
 *   x     '1': the session has details (one created without them has no x, and reads back
 *         with `details: undefined`, until markReauthenticated or mergeData gives it some)
 *   ua, dv, ip   userAgent, device, ip; a missing field is null
 *   ls, ra       lastSeenAt, reauthenticatedAt, epoch ms; a missing field is null
 *   dk, dp       deviceKey (the JWK's JSON), deviceProofAt (epoch ms): with `deviceBound`, set
 *                together by bindDeviceKey; a session without dk reads without either
 *   d:<key>      one field per data key, holding the member text `JSON(key):JSON(value)`
 *
 * Data is not one JSON field merged by cjson in Lua: Redis 7.0's cjson turns an empty array
 * into {} (it has no decode_array_with_array_mt) and writes numbers with 14 significant digits
 * (0.1 + 0.2 comes back as 0.3, 2^53 - 1 as 9.007199254741e+15). Here every JSON text is
 * made by JSON.stringify and Lua only moves it; the data is '{' + members joined by ',' + '}',
 * so a script knows its exact JSON size (the size JSON.stringify gives) without parsing it.
 */

/** The prefix of a data member's field. */
export const DATA_FIELD = 'd:';

const CORE_FIELDS = new Set(['id', 'u', 'e', 'c']);

/** Epoch ms of `date` as a decimal string; a TypeError naming `name` for anything but a valid Date. */
export function epochMs(date: Date, name: string): string {
  const ms = date instanceof Date ? date.getTime() : NaN;
  if (!Number.isSafeInteger(ms)) throw new TypeError(`RedisSessionStore: ${name} must be a valid Date.`);
  return String(ms);
}

/**
 * The member text of one data entry, or undefined for a value JSON leaves out (undefined, a
 * function), as JSON.stringify of the whole object would.
 */
export function dataMember(key: string, value: unknown): string | undefined {
  const json = JSON.stringify(value) as string | undefined;
  return json === undefined ? undefined : `${JSON.stringify(key)}:${json}`;
}

/** The mergeData script's field, member pairs of `patch`; '' as the member removes the key (a null value). */
export function patchFields(patch: Record<string, unknown>): string[] {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) throw new TypeError('RedisSessionStore: the patch must be an object.');
  const fields: string[] = [];
  for (const [key, value] of Object.entries(patch)) {
    const member = value === null ? '' : dataMember(key, value);
    if (member !== undefined) fields.push(DATA_FIELD + key, member);
  }
  return fields;
}

function optionalText(value: unknown, name: string): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value !== 'string') throw new TypeError(`RedisSessionStore: details.${name} must be a string or null.`);
  return value;
}

/** The hash fields (flat name, value pairs) of a new session's details. */
export function detailFields(details: StoredSessionDetails): string[] {
  const fields = ['x', '1'];
  const texts = { ua: optionalText(details.userAgent, 'userAgent'), dv: optionalText(details.device, 'device'), ip: optionalText(details.ip, 'ip') };
  for (const [field, text] of Object.entries(texts)) if (text !== null) fields.push(field, text);
  if (details.lastSeenAt) fields.push('ls', epochMs(details.lastSeenAt, 'details.lastSeenAt'));
  if (details.reauthenticatedAt) fields.push('ra', epochMs(details.reauthenticatedAt, 'details.reauthenticatedAt'));
  const data = details.data ?? {};
  if (data === null || typeof data !== 'object' || Array.isArray(data)) throw new TypeError('RedisSessionStore: details.data must be an object.');
  for (const [key, value] of Object.entries(data)) {
    const member = dataMember(key, value);
    if (member !== undefined) fields.push(DATA_FIELD + key, member);
  }
  return fields;
}

/** The fields of a hash beside the session's own four, as flat pairs: what a rotation carries over. */
export function extraFields(hash: Record<string, string>): string[] {
  return Object.entries(hash)
    .filter(([field]) => !CORE_FIELDS.has(field))
    .flat();
}

/** A flat reply of name, value pairs as a record (Object.fromEntries: no field name is special). */
export function pairs(flat: unknown): Record<string, string> {
  const list = flat as string[];
  const entries: [string, string][] = [];
  for (let i = 0; i + 1 < list.length; i += 2) entries.push([list[i], list[i + 1]]);
  return Object.fromEntries(entries);
}

/** The data whose members are the `d:` fields of `hash`. */
export function dataOf(hash: Record<string, string>): Record<string, unknown> {
  const members = Object.entries(hash)
    .filter(([field]) => field.startsWith(DATA_FIELD))
    .map(([, member]) => member);
  return JSON.parse(`{${members.join(',')}}`) as Record<string, unknown>;
}

const time = (value: string | undefined): Date | null => (value === undefined ? null : new Date(Number(value)));

/** The session of a token hash's fields, with its details where it has them; null when the fields are not a session. */
export function sessionOf(hash: Record<string, string>, tokenHash: Buffer): StoredSession | null {
  if (!hash.id || !hash.u || !hash.e || !hash.c) return null;
  const session: StoredSession = {
    id: hash.id,
    userId: hash.u,
    tokenHash: Buffer.from(tokenHash),
    expiresAt: new Date(Number(hash.e)),
    createdAt: new Date(Number(hash.c)),
  };
  if (hash.x === '1') {
    session.details = {
      userAgent: hash.ua ?? null,
      device: hash.dv ?? null,
      ip: hash.ip ?? null,
      lastSeenAt: time(hash.ls),
      reauthenticatedAt: time(hash.ra),
      data: dataOf(hash),
      ...(hash.dk !== undefined && { deviceKey: hash.dk, deviceProofAt: time(hash.dp) }),
    };
  }
  return session;
}

/** Newest first by creation, then by id (numerically, like PostgreSQL's bigint ORDER BY id DESC). */
export function newestFirst(a: StoredSession, b: StoredSession): number {
  const byCreation = b.createdAt.getTime() - a.createdAt.getTime();
  if (byCreation !== 0) return byCreation;
  const [x, y] = [BigInt(a.id), BigInt(b.id)];
  return x === y ? 0 : x < y ? 1 : -1;
}

/** A copy of `details` that shares nothing with the caller's (data is copied through JSON, as it is stored). */
export function copyDetails(details: StoredSessionDetails): StoredSessionDetails {
  return {
    userAgent: details.userAgent ?? null,
    device: details.device ?? null,
    ip: details.ip ?? null,
    lastSeenAt: details.lastSeenAt ? new Date(details.lastSeenAt) : null,
    reauthenticatedAt: details.reauthenticatedAt ? new Date(details.reauthenticatedAt) : null,
    data: JSON.parse(JSON.stringify(details.data ?? {})) as Record<string, unknown>,
  };
}
