import { createHash } from 'node:crypto';
import type { DataSource } from 'typeorm';

/** The part of pg's Pool used here. */
interface PgPool {
  query(sql: string | { name: string; text: string; values: unknown[] }, params?: unknown[]): Promise<{ rows: unknown[]; rowCount: number | null }>;
}

/** Rows and, for UPDATE and DELETE, how many rows the statement touched. */
export interface PgResult<R> {
  rows: R[];
  rowCount: number;
}

/**
 * A name for `sql` as a prepared statement: the same text gets the same name in every process,
 * so two stores (or two app instances behind one pooler) never give one name two meanings.
 */
export function statementName(sql: string): string {
  return `nss_${createHash('sha256').update(sql).digest('hex').slice(0, 20)}`;
}

// invalid_sql_statement_name, duplicate_prepared_statement: a pooler in transaction mode
// (PgBouncer before 1.21, or with max_prepared_statements = 0) sent the statement to a server
// connection that never prepared it, or to one that already had it. Either way nothing ran.
const STATEMENT_LOST = new Set(['26000', '42P05']);
// Pools behind such a pooler: every statement there goes unprepared from the first failure on.
const unpreparedOnly = new WeakSet<PgPool>();

function poolOf(dataSource: DataSource, replica: boolean): PgPool {
  const { master, slaves } = dataSource.driver as unknown as { master?: PgPool; slaves?: PgPool[] };
  const pool = replica && slaves && slaves.length > 0 ? slaves[Math.floor(Math.random() * slaves.length)] : master;
  if (typeof pool?.query !== 'function') {
    throw new Error('nestjs-sessions: the DataSource has no pg pool; it must be an initialized DataSource of type postgres.');
  }
  return pool;
}

// Not async: a statement pays no promise beyond pg's own, but for the fallback's catch when named.
function send(pool: PgPool, sql: string, params: unknown[], name: string | undefined): ReturnType<PgPool['query']> {
  if (name === undefined || unpreparedOnly.has(pool)) return pool.query(sql, params);
  return pool.query({ name, text: sql, values: params }).catch((error: unknown) => {
    if (!STATEMENT_LOST.has((error as { code?: string } | null)?.code ?? '')) throw error;
    unpreparedOnly.add(pool);
    return pool.query(sql, params);
  });
}

/**
 * Runs one statement on the pg pool under a TypeORM DataSource (a replica's, with `replica`,
 * when the DataSource has replicas; TypeORM's own choice, at random). Not through
 * `dataSource.query`: a TypeORM query runner costs about 15-20 µs of CPU per statement (a
 * runner object, query events, result wrapping) on top of pg's own, and each statement of
 * ours is a single one that needs none of it. Statements still go through the DataSource's
 * logger, as TypeORM's own do.
 *
 * With `name` (from `statementName`), the statement is prepared once per connection, so
 * PostgreSQL parses and plans it once instead of at every call; behind a pooler that cannot
 * keep prepared statements, it falls back to unprepared statements for good.
 */
export async function pgQuery<R>(dataSource: DataSource, sql: string, params: unknown[], replica = false, name?: string): Promise<PgResult<R>> {
  const pool = poolOf(dataSource, replica);
  const logger = dataSource.logger;
  logger.logQuery(sql, params);
  try {
    const result = await send(pool, sql, params, name);
    return { rows: result.rows as R[], rowCount: result.rowCount ?? 0 };
  } catch (error) {
    logger.logQueryError(error as Error, sql, params);
    throw error;
  }
}
