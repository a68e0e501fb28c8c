// The statements of the TypeORM store when it keeps details (the store's `details` option):
// each still one statement, the companion table joined or written in the same round trip.
import type { NewStoredSession, StoredSessionDetails } from '../session-store.interface.js';
import { SESSION_DETAILS_TABLE } from './session-details.entity.js';
import { SESSIONS_TABLE } from './session.entity.js';

/** The columns of `session_details` as a row of the store's statements carries them. */
export interface DetailsRow {
  session_id?: string | null;
  user_agent?: string | null;
  device?: string | null;
  ip?: string | null;
  last_seen_at?: Date | null;
  reauthenticated_at?: Date | null;
  data?: Record<string, unknown> | null;
  device_key?: string | null;
  device_proof_at?: Date | null;
}

const T = `"${SESSIONS_TABLE}"`;
const D = `"${SESSION_DETAILS_TABLE}"`;
const COLUMNS = 'id, user_id, token, expires_at, created_at';
const S = 's.id, s.user_id, s.token, s.expires_at, s.created_at';
// Their names differ from the sessions columns', so rows need no aliases; session_id tells a
// session with a details row from one without (all NULL from the LEFT JOIN). The device
// columns are named only with `deviceBound`: a table from before that option lacks them.
const BASE_COLUMNS = ['session_id', 'user_agent', 'device', 'ip', 'last_seen_at', 'reauthenticated_at', 'data'];
const DEVICE_COLUMNS = ['device_key', 'device_proof_at'];
const detailColumns = (alias: string, device: boolean) => [...BASE_COLUMNS, ...(device ? DEVICE_COLUMNS : [])].map((c) => `${alias}.${c}`).join(', ');

// The widths of the columns (varchar counts characters; a JS slice of UTF-16 units never has
// more): a longer value would fail the whole login.
const WIDTH = { userAgent: 512, device: 100, ip: 45 };
const fit = (value: string | null, width: number) => (value === null ? null : value.slice(0, width));

/** The details of a row, or undefined when the session has no details row. */
export function detailsOf(row: DetailsRow): StoredSessionDetails | undefined {
  if (row.session_id === undefined || row.session_id === null) return undefined;
  return {
    userAgent: row.user_agent ?? null,
    device: row.device ?? null,
    ip: row.ip ?? null,
    lastSeenAt: row.last_seen_at ?? null,
    reauthenticatedAt: row.reauthenticated_at ?? null,
    data: row.data ?? {},
    // Only once bound, so a session without a key reads as it did before the option.
    ...(typeof row.device_key === 'string' && { deviceKey: row.device_key, deviceProofAt: row.device_proof_at ?? null }),
  };
}

/** Parameters $1..$10 of `DETAILS_SQL.create`. */
export function createParams(session: NewStoredSession, details: StoredSessionDetails): unknown[] {
  return [
    session.userId,
    session.tokenHash,
    session.expiresAt,
    session.createdAt,
    fit(details.userAgent, WIDTH.userAgent),
    fit(details.device, WIDTH.device),
    fit(details.ip, WIDTH.ip),
    details.lastSeenAt,
    details.reauthenticatedAt,
    JSON.stringify(details.data ?? {}),
  ];
}

/** A patch as `mergeData` sends it: the keys it sets (as JSON) and the keys it removes (null values). */
export function patchParams(patch: Record<string, unknown>): [string, string[]] {
  const sets: Record<string, unknown> = {};
  const removals: string[] = [];
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) removals.push(key);
    else if (value !== undefined) sets[key] = value;
  }
  return [JSON.stringify(sets), removals];
}

/** `findByTokenHashWithUser`: the session, its details and its user in one statement. */
export function withUserSql(selectList: string, leftJoin: string, device: boolean): string {
  return `SELECT ${S}, ${detailColumns('d', device)}, ${selectList} FROM ${T} s LEFT JOIN ${D} d ON d.session_id = s.id ${leftJoin} WHERE s.token = $1`;
}

// Both kinds of statements: with `device`, every read of details names the device columns too.
const statements = (device: boolean, DS = detailColumns('d', device)) => ({
  // The existing login statement (expired sessions of the user go with it), plus the details
  // row written from the inserted session: a login stays one round trip.
  create: `WITH expired AS (DELETE FROM ${T} WHERE user_id = $1 AND expires_at <= $4),
       s AS (INSERT INTO ${T} (user_id, token, expires_at, created_at) VALUES ($1, $2, $3, $4) RETURNING ${COLUMNS}),
       d AS (INSERT INTO ${D} (session_id, user_agent, device, ip, last_seen_at, reauthenticated_at, data)
             SELECT id, $5::varchar, $6::varchar, $7::varchar, $8::timestamptz, $9::timestamptz, $10::jsonb FROM s RETURNING *)
       SELECT ${S}, ${DS} FROM s JOIN d ON d.session_id = s.id`,

  findByTokenHash: `SELECT ${S}, ${DS} FROM ${T} s LEFT JOIN ${D} d ON d.session_id = s.id WHERE s.token = $1`,

  listByUser: `SELECT ${S}, ${DS} FROM ${T} s LEFT JOIN ${D} d ON d.session_id = s.id WHERE s.user_id = $1 AND s.expires_at > $2 ORDER BY s.created_at DESC, s.id DESC`,

  // The CTE's join reads details as they were before the statement: it changes only the token.
  replaceTokenHash: `WITH s AS (UPDATE ${T} SET token = $2 WHERE token = $1 AND expires_at > $3 RETURNING ${COLUMNS})
       SELECT ${S}, ${DS} FROM s LEFT JOIN ${D} d ON d.session_id = s.id`,

  // Only the session whose expiry moved gets its last-seen time: the sliding write's one winner.
  extendExpiryAndSeen: `WITH moved AS (UPDATE ${T} SET expires_at = $2 WHERE id = $1 AND expires_at < $3 AND expires_at > $4 RETURNING id),
       seen AS (UPDATE ${D} SET last_seen_at = $5 FROM moved WHERE ${D}.session_id = moved.id)
       SELECT id FROM moved`,

  // ON CONFLICT DO UPDATE locks the row and checks its WHERE against the newest version, so of
  // concurrent touches one writes; the INSERT side gives a session from before the option a row.
  touch: `INSERT INTO ${D} AS d (session_id, last_seen_at) SELECT id, $2::timestamptz FROM ${T} WHERE id = $1 AND expires_at > $2
       ON CONFLICT (session_id) DO UPDATE SET last_seen_at = EXCLUDED.last_seen_at WHERE d.last_seen_at IS NULL OR d.last_seen_at < $3
       RETURNING d.session_id`,

  markReauthenticated: `WITH s AS (SELECT ${COLUMNS} FROM ${T} WHERE token = $1 AND expires_at > $2),
       m AS (INSERT INTO ${D} AS d (session_id, reauthenticated_at) SELECT id, $2::timestamptz FROM s
             ON CONFLICT (session_id) DO UPDATE SET reauthenticated_at = EXCLUDED.reauthenticated_at RETURNING d.*)
       SELECT ${S}, ${detailColumns('m', device)} FROM s JOIN m ON m.session_id = s.id`,

  // $2 the keys set (jsonb), $3 the keys removed, $4 the bound, $5 now. The merge reads the
  // row it locked, so no concurrent merge is lost; over the bound nothing is written. The
  // INSERT side (no row yet) holds only $2, the smallest result there can be: if $2 alone is
  // over the bound, so is any merge with it.
  mergeData: `INSERT INTO ${D} AS d (session_id, data)
       SELECT id, $2::jsonb FROM ${T} WHERE token = $1 AND expires_at > $5 AND octet_length($2::jsonb::text) <= $4::int
       ON CONFLICT (session_id) DO UPDATE SET data = (d.data || EXCLUDED.data) - $3::text[]
       WHERE octet_length(((d.data || EXCLUDED.data) - $3::text[])::text) <= $4::int
       RETURNING d.data`,

  /** Whether the token has a live session: tells a merge refused for size from one with no session. */
  isLive: `SELECT 1 AS live FROM ${T} WHERE token = $1 AND expires_at > $2`,

  tableExists: `SELECT to_regclass($1) IS NOT NULL AS present`,
  tableName: D,
});

export const DETAILS_SQL = statements(false);

/** The statements with `deviceBound`: every read of details brings the device columns too. */
export const DEVICE_DETAILS_SQL = {
  ...statements(true),

  // $2 the key, $3 its first proof's time, $4 now. As touch: ON CONFLICT locks the row and
  // checks device_key against its newest version, so of concurrent binds one sets the key and
  // no later one replaces it; the INSERT side gives a session from before the options a row.
  bindDeviceKey: `WITH s AS (SELECT ${COLUMNS} FROM ${T} WHERE token = $1 AND expires_at > $4),
       b AS (INSERT INTO ${D} AS d (session_id, device_key, device_proof_at) SELECT id, $2::text, $3::timestamptz FROM s
             ON CONFLICT (session_id) DO UPDATE SET device_key = EXCLUDED.device_key, device_proof_at = EXCLUDED.device_proof_at
             WHERE d.device_key IS NULL RETURNING d.*)
       SELECT ${S}, ${detailColumns('b', true)} FROM s JOIN b ON b.session_id = s.id`,

  // $2 the proof's time, $3 now. A concurrent UPDATE of the row waits for the first and then
  // rechecks device_proof_at against what it wrote: of two uses of one challenge, one lands.
  acceptDeviceProof: `UPDATE ${D} AS d SET device_proof_at = $2::timestamptz FROM ${T} s
       WHERE d.session_id = s.id AND s.token = $1 AND s.expires_at > $3
         AND d.device_key IS NOT NULL AND (d.device_proof_at IS NULL OR d.device_proof_at < $2::timestamptz)
       RETURNING ${S}, ${detailColumns('d', true)}`,

  /** How many of the device columns the table has (2 once its migration ran). */
  deviceColumns: `SELECT count(*)::int AS present FROM pg_attribute WHERE attrelid = to_regclass($1) AND attname = ANY($2::text[]) AND attnum > 0 AND NOT attisdropped`,
  deviceColumnNames: DEVICE_COLUMNS,
};
