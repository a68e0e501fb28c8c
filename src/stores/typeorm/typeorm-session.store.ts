import type { DataSource } from 'typeorm';
import { SessionOptionsError, UnknownSessionUserError } from '../../core/session.exceptions.js';
import { SESSIONS_TABLE } from './session.entity.js';
import { createParams, DETAILS_SQL, type DetailsRow, detailsOf, DEVICE_DETAILS_SQL, patchParams, withUserSql } from './details-sql.js';
import type { EntityUsers } from './entity-users.js';
import { type PgResult, pgQuery, statementName } from './pg-query.js';
import type { MergeDataResult, NewStoredSession, SessionStore, StoredSession } from '../session-store.interface.js';

interface SessionRow extends DetailsRow {
  id: string;
  user_id: string | number;
  token: Buffer;
  expires_at: Date;
  created_at: Date;
}

const T = `"${SESSIONS_TABLE}"`;
const COLUMNS = 'id, user_id, token, expires_at, created_at';
// The user's own expired sessions go in the login's statement: found by the user_id index, in
// no extra round trip.
const CREATE_SQL = `WITH expired AS (DELETE FROM ${T} WHERE user_id = $1 AND expires_at <= $4)
       INSERT INTO ${T} (user_id, token, expires_at, created_at) VALUES ($1, $2, $3, $4) RETURNING ${COLUMNS}`;
const CREATE_NAME = statementName(CREATE_SQL);
// pg_try_advisory_lock(int, int) key of the purge: "nest", "sess" in ASCII.
const PURGE_LOCK = [0x6e657374, 0x73657373];

function toStored(row: SessionRow): StoredSession {
  const stored: StoredSession = {
    id: String(row.id),
    userId: String(row.user_id),
    tokenHash: row.token,
    expiresAt: row.expires_at,
    createdAt: row.created_at,
  };
  const details = detailsOf(row);
  if (details) stored.details = details;
  return stored;
}

// foreign_key_violation, invalid_text_representation: in this INSERT only user_id can cause
// either (the token and times are typed by us), so the caller passed a user the table lacks.
const REFUSED_USER_CODES = new Set(['23503', '22P02']);

function refusedUser(error: unknown, userId: string): UnknownSessionUserError | null {
  const { code, detail, message } = (error ?? {}) as { code?: string; detail?: string; message?: string };
  if (!code || !REFUSED_USER_CODES.has(code)) return null;
  return new UnknownSessionUserError(userId, detail ?? message ?? code);
}

// foreign_key_violation in a details write: the session went (a logout) between the statement's
// read of it and its check of the key. For the caller that is no live session, not a failure.
function sessionGone(error: unknown): null {
  if ((error as { code?: string } | null)?.code === '23503') return null;
  throw error;
}

const ALL_DETAIL_OPTIONS = ['metadata', 'reauthentication', 'data'];

/** Options of the TypeORM store. */
export interface TypeOrmSessionStoreOptions {
  /**
   * Look sessions up on the DataSource's read replicas (TypeORM `replication`), and on the
   * primary when a replica has no such session: it may not have received a login made a
   * moment ago. Writes and lists always go to the primary. Default false.
   */
  readFromReplicas?: boolean;
  /**
   * The app's users, read in the same statement as the session (`findByTokenHashWithUser`).
   * Without it, that method is left out and the service resolves users itself.
   */
  users?: EntityUsers;
  /**
   * Keep session details (the options `metadata`, `reauthentication`, `data`) in the
   * `session_details` table, which its own migration creates (`createSessionDetailsMigration`):
   * lookups and lists join it, a login and a sliding write fill it in the same statement.
   * Without it, no statement touches that table. Default false.
   */
  details?: boolean;
  /**
   * The module options that turned `details` on, named by `ready()`'s error when the table is
   * missing. Default all three. With `'deviceBound'` among them, details include the device
   * columns (`createSessionDeviceBoundMigration`), which `ready()` then checks for.
   */
  detailsOptions?: readonly string[];
}

/**
 * The default store: PostgreSQL through the app's TypeORM DataSource. Hand-written SQL, one
 * statement per call, so the hot path is one indexed SELECT and every write is atomic.
 */
export class TypeOrmSessionStore implements SessionStore {
  /** See `SessionStore.findByTokenHashWithUser`; there only with `options.users`. */
  readonly findByTokenHashWithUser?: (tokenHash: Buffer) => Promise<{ session: StoredSession; user: unknown } | null>;
  // Without deviceBound no statement names the device columns, so a details table made before
  // that option keeps working without its migration.
  private readonly deviceBound: boolean;
  private readonly sql: typeof DETAILS_SQL;
  private readonly createDetailsName: string;
  private readonly findSql: string;
  private readonly findName: string;

  constructor(
    private readonly dataSource: DataSource,
    private readonly options: TypeOrmSessionStoreOptions = {},
  ) {
    this.deviceBound = Boolean(options.details && options.detailsOptions?.includes('deviceBound'));
    this.sql = this.deviceBound ? DEVICE_DETAILS_SQL : DETAILS_SQL;
    this.createDetailsName = statementName(this.sql.create);
    this.findSql = options.details ? this.sql.findByTokenHash : `SELECT ${COLUMNS} FROM ${T} WHERE token = $1`;
    this.findName = statementName(this.findSql);
    const users = options.users;
    if (users) {
      const sql = options.details
        ? withUserSql(users.selectList('u'), users.leftJoin('u', 's.user_id'), this.deviceBound)
        : `SELECT s.id, s.user_id, s.token, s.expires_at, s.created_at, ${users.selectList('u')} FROM ${T} s ${users.leftJoin('u', 's.user_id')} WHERE s.token = $1`;
      const name = statementName(sql);
      this.findByTokenHashWithUser = (tokenHash) =>
        this.findOne(sql, name, tokenHash, (row) => ({ session: toStored(row), user: users.hydrate(row as unknown as Record<string, unknown>) }));
    }
  }

  // A read by token hash: on a replica first when configured, then on the primary, since a
  // replica may not yet have a login made a moment ago. Prepared: it is every cache miss, and
  // planning the join cost PostgreSQL about as much as running it.
  private async findOne<R>(sql: string, name: string, tokenHash: Buffer, map: (row: SessionRow) => R): Promise<R | null> {
    if (this.options.readFromReplicas) {
      const [row] = (await this.run(sql, [tokenHash], true, name)).rows;
      if (row) return map(row);
    }
    const [row] = (await this.run(sql, [tokenHash], false, name)).rows;
    return row ? map(row) : null;
  }

  private run<R = SessionRow>(sql: string, params: unknown[], replica = false, name?: string): Promise<PgResult<R>> {
    return pgQuery<R>(this.dataSource, sql, params, replica, name);
  }

  private async rows(sql: string, params: unknown[]): Promise<SessionRow[]> {
    return (await this.run(sql, params)).rows;
  }

  async create(session: NewStoredSession): Promise<StoredSession> {
    // Prepared: parsing and planning the DELETE beside the INSERT cost PostgreSQL more than
    // running it, which for a user with nothing expired is one index probe.
    const details = this.options.details ? session.details : undefined;
    const { rows } = await (
      details
        ? this.run(this.sql.create, createParams(session, details), false, this.createDetailsName)
        : this.run(CREATE_SQL, [session.userId, session.tokenHash, session.expiresAt, session.createdAt], false, CREATE_NAME)
    ).catch((error: unknown) => {
      throw refusedUser(error, session.userId) ?? error;
    });
    return toStored(rows[0]);
  }

  findByTokenHash(tokenHash: Buffer): Promise<StoredSession | null> {
    return this.findOne(this.findSql, this.findName, tokenHash, toStored);
  }

  async extendExpiry(session: StoredSession, expiresAt: Date, ifBefore: Date, now: Date, seenAt?: Date): Promise<boolean> {
    const rows =
      this.options.details && seenAt
        ? await this.rows(this.sql.extendExpiryAndSeen, [session.id, expiresAt, ifBefore, now, seenAt])
        : await this.rows(`UPDATE ${T} SET expires_at = $2 WHERE id = $1 AND expires_at < $3 AND expires_at > $4 RETURNING id`, [session.id, expiresAt, ifBefore, now]);
    return rows.length === 1;
  }

  async touch(session: StoredSession, seenAt: Date, ifSeenBefore: Date): Promise<boolean> {
    const result = await this.run(this.sql.touch, [session.id, seenAt, ifSeenBefore]).catch(sessionGone);
    return result !== null && result.rows.length === 1;
  }

  async markReauthenticated(tokenHash: Buffer, now: Date): Promise<StoredSession | null> {
    const result = await this.run(this.sql.markReauthenticated, [tokenHash, now]).catch(sessionGone);
    const row = result?.rows[0];
    return row ? toStored(row) : null;
  }

  async mergeData(tokenHash: Buffer, patch: Record<string, unknown>, maxBytes: number, now: Date): Promise<MergeDataResult> {
    const [sets, removals] = patchParams(patch);
    const result = await this.run<{ data: Record<string, unknown> }>(this.sql.mergeData, [tokenHash, sets, removals, maxBytes, now]).catch(sessionGone);
    const row = result?.rows[0];
    if (row) return { data: row.data };
    // Only a refusal costs this second read: over the bound, or no live session.
    const live = await this.rows(this.sql.isLive, [tokenHash, now]);
    return live.length === 1 ? { tooLarge: true } : null;
  }

  async bindDeviceKey(tokenHash: Buffer, key: string, proofAt: Date, now: Date): Promise<StoredSession | null> {
    const result = await this.run(DEVICE_DETAILS_SQL.bindDeviceKey, [tokenHash, key, proofAt, now]).catch(sessionGone);
    const row = result?.rows[0];
    return row ? toStored(row) : null;
  }

  async acceptDeviceProof(tokenHash: Buffer, proofAt: Date, now: Date): Promise<StoredSession | null> {
    const [row] = await this.rows(DEVICE_DETAILS_SQL.acceptDeviceProof, [tokenHash, proofAt, now]);
    return row ? toStored(row) : null;
  }

  async replaceTokenHash(tokenHash: Buffer, newTokenHash: Buffer, now: Date): Promise<StoredSession | null> {
    const [row] = await this.rows(
      this.options.details ? this.sql.replaceTokenHash : `UPDATE ${T} SET token = $2 WHERE token = $1 AND expires_at > $3 RETURNING ${COLUMNS}`,
      [tokenHash, newTokenHash, now],
    );
    return row ? toStored(row) : null;
  }

  async deleteByTokenHash(tokenHash: Buffer): Promise<StoredSession | null> {
    const [row] = await this.rows(`DELETE FROM ${T} WHERE token = $1 RETURNING ${COLUMNS}`, [tokenHash]);
    return row ? toStored(row) : null;
  }

  async deleteById(userId: string, id: string): Promise<StoredSession | null> {
    const [row] = await this.rows(`DELETE FROM ${T} WHERE id = $1 AND user_id = $2 RETURNING ${COLUMNS}`, [id, userId]);
    return row ? toStored(row) : null;
  }

  async deleteByUser(userId: string, exceptId?: string): Promise<StoredSession[]> {
    const rows =
      exceptId === undefined
        ? await this.rows(`DELETE FROM ${T} WHERE user_id = $1 RETURNING ${COLUMNS}`, [userId])
        : await this.rows(`DELETE FROM ${T} WHERE user_id = $1 AND id <> $2 RETURNING ${COLUMNS}`, [userId, exceptId]);
    return rows.map(toStored);
  }

  async listByUser(userId: string, now: Date): Promise<StoredSession[]> {
    const rows = await this.rows(
      this.options.details ? this.sql.listByUser : `SELECT ${COLUMNS} FROM ${T} WHERE user_id = $1 AND expires_at > $2 ORDER BY created_at DESC, id DESC`,
      [userId, now],
    );
    return rows.map(toStored);
  }

  async withPurgeLock<T>(work: () => Promise<T>): Promise<T | null> {
    // A session-level advisory lock lives on one connection: hold one for the whole purge. If
    // that connection dies, PostgreSQL releases the lock with it.
    const runner = this.dataSource.createQueryRunner('master');
    try {
      const [{ locked }] = (await runner.query('SELECT pg_try_advisory_lock($1, $2) AS locked', PURGE_LOCK)) as { locked: boolean }[];
      if (!locked) return null;
      try {
        return await work();
      } finally {
        await runner.query('SELECT pg_advisory_unlock($1, $2)', PURGE_LOCK);
      }
    } finally {
      await runner.release();
    }
  }

  async countSessions(now: Date): Promise<{ live: number; expired: number }> {
    const {
      rows: [row],
    } = await this.run<{ live: string; expired: string }>(
      `SELECT count(*) FILTER (WHERE expires_at > $1)::bigint AS live, count(*) FILTER (WHERE expires_at <= $1)::bigint AS expired FROM ${T}`,
      [now],
    );
    return { live: Number(row.live), expired: Number(row.expired) };
  }

  async ready(): Promise<void> {
    if (!this.options.details) return;
    const [{ present }] = (await this.run<{ present: boolean }>(DETAILS_SQL.tableExists, [DETAILS_SQL.tableName])).rows;
    if (present) {
      if (this.deviceBound) await this.checkDeviceColumns();
      return;
    }
    const named = this.options.detailsOptions?.length ? this.options.detailsOptions : ALL_DETAIL_OPTIONS;
    throw new SessionOptionsError(
      named.join(', '),
      `keeps session details in the table ${DETAILS_SQL.tableName}, which the database lacks. Create it with its migration: npx nestjs-sessions migration:create --details, then run it with your TypeORM CLI (or list CreateSessionDetails1765000000000 in your DataSource's migrations, after the sessions migration).`,
    );
  }

  // A details table from before deviceBound has no device columns; every read would fail on them.
  private async checkDeviceColumns(): Promise<void> {
    const { deviceColumns, deviceColumnNames, tableName } = DEVICE_DETAILS_SQL;
    const [{ present }] = (await this.run<{ present: number }>(deviceColumns, [tableName, deviceColumnNames])).rows;
    if (present === deviceColumnNames.length) return;
    throw new SessionOptionsError(
      'deviceBound',
      `keeps each session's device key in the columns ${deviceColumnNames.join(' and ')} of ${tableName}, which the table lacks. Add them with their migration: npx nestjs-sessions migration:create --device-bound, then run it with your TypeORM CLI (or list AddSessionDeviceBinding1766000000000 in your DataSource's migrations, after the details migration).`,
    );
  }

  async ping(): Promise<void> {
    await this.run('SELECT 1', []);
  }

  async deleteExpired(now: Date, limit: number): Promise<number> {
    // SKIP LOCKED: rows another purger (or a logout) holds are left for the next batch, not waited on.
    // `= ANY(ARRAY(…))`, not `IN (…)`: IN is planned as a semi-join that reads the whole table on
    // every batch; the array makes it primary-key lookups (1M rows: 1.6 s instead of 11 s).
    const { rowCount } = await this.run(
      `DELETE FROM ${T} WHERE id = ANY(ARRAY(SELECT id FROM ${T} WHERE expires_at <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED))`,
      [now, limit],
    );
    return rowCount;
  }
}
