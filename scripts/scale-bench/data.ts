/**
 * The scale benchmark's table: every row is a pure function of its number g (1..N), so the load,
 * the hot tokens the benchmark validates, and the repair after the login phase all agree without
 * shipping rows from Node. Per hundred rows (r = g % 100):
 *   r < 50      expired, between 1 hour and 7 days ago (the half the purge removes)
 *   r = 50      hot: live, with a token derived from g that Node can compute too (1%)
 *   r = 51, 52  live, of one of the "heavy" users (about 300 sessions each)
 *   otherwise   live and idle
 * and, overriding all of these, 500 rows spread evenly over the table belong to the listing user
 * (live, idle). Regular rows belong to `user-(g % U)`, U = N / 4: about four sessions per user,
 * half of them expired, scattered over the table as a real one's are after months of logins.
 */
import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { DataSource } from 'typeorm';
import { SESSIONS_TABLE } from '../../src/index.js';
import { pgQuery } from '../../src/stores/typeorm/pg-query.js';

export const LISTING_USER = 'list-500';
export const LISTING_SESSIONS = 500;
const T = `"${SESSIONS_TABLE}"`;
// Rows per INSERT: large enough that the statement, not the round trip, dominates; small enough
// that one chunk's WAL stays well under max_wal_size (1 GB by default).
const CHUNK = 500_000;

export interface Layout {
  rows: number;
  users: number;
  heavyUsers: number;
}

export function layout(rows: number): Layout {
  return { rows, users: Math.max(1, Math.floor(rows / 4)), heavyUsers: Math.max(1, Math.floor(rows / 10_000)) };
}

function isListingRow(g: number, rows: number): boolean {
  return Math.floor((g * LISTING_SESSIONS) / rows) !== Math.floor(((g - 1) * LISTING_SESSIONS) / rows);
}

/** The hot rows' tokens, as a client holds them: base64url of sha256('nss-hot-' || g), 43 characters, well formed. */
export function hotTokens(l: Layout): { token: string; userId: string }[] {
  const hot: { token: string; userId: string }[] = [];
  for (let g = 50; g <= l.rows; g += 100) {
    if (isListingRow(g, l.rows)) continue;
    hot.push({ token: createHash('sha256').update(`nss-hot-${g}`).digest('base64url'), userId: `user-${g % l.users}` });
  }
  return hot;
}

/**
 * The SELECT list of the row numbered by the bigint column `g`, and the LATERAL item it reads
 * (to follow the FROM item that yields g). $1 = rows, $2 = users, $3 = heavy
 * users. The token column is what the library stores: sha256 of the token's UTF-8 text (hashToken).
 */
function rowSelect(g: string): { columns: string; lateral: string } {
  // A fixed pseudo-random fraction per row, for expiry times that are not in row order.
  const f = `((${g} * 2654435761) % 1000003)::float8 / 1000003`;
  const listing = `(${g} * ${LISTING_SESSIONS}) / $1::bigint <> ((${g} - 1) * ${LISTING_SESSIONS}) / $1::bigint`;
  const hotToken = `rtrim(translate(encode(sha256(convert_to('nss-hot-' || ${g}, 'UTF8')), 'base64'), '+/', '-_'), '=')`;
  const columns = `
    CASE WHEN ${listing} THEN '${LISTING_USER}'
         WHEN ${g} % 100 IN (51, 52) THEN 'heavy-' || ((${g} / 100) % $3::bigint)
         ELSE 'user-' || (${g} % $2::bigint) END,
    CASE WHEN ${g} % 100 = 50 AND NOT (${listing}) THEN sha256(convert_to(${hotToken}, 'UTF8'))
         ELSE sha256(convert_to('nss-row-' || ${g}, 'UTF8')) END,
    x.expires_at,
    CASE WHEN ${g} % 100 = 50 AND NOT (${listing}) THEN now() - (${g} % 30) * interval '1 day'
         ELSE x.expires_at - interval '30 days' - (${g} % 60) * interval '1 day' END`;
  const lateral = `LATERAL (SELECT CASE
    WHEN ${listing} THEN now() + interval '1 hour' + ${f} * interval '28 days'
    -- Hot: 29.5 to 29.75 days ahead, so validating slides nothing (updateAge is a day) and each is one SELECT.
    WHEN ${g} % 100 = 50 THEN now() + interval '29 days 12 hours' + ${f} * interval '6 hours'
    WHEN ${g} % 100 < 50 THEN now() - interval '1 hour' - ${f} * interval '7 days'
    ELSE now() + interval '1 hour' + ${f} * interval '28 days' END AS expires_at) x`;
  return { columns, lateral };
}

const INSERT = `INSERT INTO ${T} (user_id, token, expires_at, created_at)`;

/** Fills the table to l.rows; returns seconds spent in the INSERTs. */
export async function fill(dataSource: DataSource, l: Layout, log: (m: string) => void): Promise<number> {
  const started = performance.now();
  const { columns, lateral } = rowSelect('g');
  for (let from = 1; from <= l.rows; from += CHUNK) {
    const to = Math.min(l.rows, from + CHUNK - 1);
    await pgQuery(dataSource, `${INSERT} SELECT ${columns} FROM generate_series($4::bigint, $5::bigint) g, ${lateral}`, [l.rows, l.users, l.heavyUsers, from, to]);
    if (l.rows > CHUNK) log(`  ${to.toLocaleString('en-US')} / ${l.rows.toLocaleString('en-US')} rows`);
  }
  return (performance.now() - started) / 1000;
}

/**
 * Puts back what the login phase changed: its new sessions go, and the expired sessions its
 * logins deleted (those of the regular users it logged in) are inserted again, so the purge
 * that follows has the same half of the table to delete at every size.
 */
export async function repair(dataSource: DataSource, l: Layout, lastId: string, loggedIn: Iterable<number>): Promise<{ removed: number; restored: number }> {
  const { rowCount: removed } = await pgQuery(dataSource, `DELETE FROM ${T} WHERE id > $1`, [lastId]);
  const users = [...loggedIn];
  const { columns, lateral } = rowSelect('g');
  let restored = 0;
  for (let i = 0; i < users.length; i += 10_000) {
    // A user u owns rows u, u + U, u + 2U, ...; whichever of those is missing was deleted at login.
    const { rowCount } = await pgQuery(
      dataSource,
      `${INSERT} SELECT * FROM (SELECT ${columns}
         FROM unnest($4::bigint[]) AS uu (u), generate_series(0, $1::bigint / $2::bigint) k, LATERAL (SELECT u + k * $2::bigint AS g) gg, ${lateral}
         WHERE g BETWEEN 1 AND $1::bigint) r (user_id, token, expires_at, created_at)
       WHERE NOT EXISTS (SELECT 1 FROM ${T} s WHERE s.token = r.token)`,
      [l.rows, l.users, l.heavyUsers, users.slice(i, i + 10_000)],
    );
    restored += rowCount;
  }
  return { removed, restored };
}

export interface TableSize {
  totalBytes: number;
  heapBytes: number;
  indexes: { name: string; bytes: number }[];
}

export async function tableSize(dataSource: DataSource): Promise<TableSize> {
  const [{ total, heap }] = (await dataSource.query(
    `SELECT pg_total_relation_size($1)::bigint AS total, pg_relation_size($1)::bigint AS heap`,
    [SESSIONS_TABLE],
  )) as { total: string; heap: string }[];
  const indexes = (await dataSource.query(
    `SELECT c.relname AS name, pg_relation_size(c.oid)::bigint AS bytes
       FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = $1::regclass ORDER BY c.relname`,
    [SESSIONS_TABLE],
  )) as { name: string; bytes: string }[];
  return { totalBytes: Number(total), heapBytes: Number(heap), indexes: indexes.map((x) => ({ name: x.name, bytes: Number(x.bytes) })) };
}
