import type { DataSource } from 'typeorm';

/** The part of pg's Pool used here. */
interface PgPool {
  query(sql: string, params: unknown[]): Promise<{ rows: unknown[]; rowCount: number | null }>;
}

/** Rows and, for UPDATE and DELETE, how many rows the statement touched. */
export interface PgResult<R> {
  rows: R[];
  rowCount: number;
}

/**
 * Runs one statement on the pg pool under a TypeORM DataSource (a replica's, with `replica`,
 * when the DataSource has replicas; TypeORM's own choice, at random). Not through
 * `dataSource.query`: a TypeORM query runner costs about 15-20 µs of CPU per statement (a
 * runner object, query events, result wrapping) on top of pg's own, and each statement of
 * ours is a single one that needs none of it. Statements still go through the DataSource's
 * logger, as TypeORM's own do.
 */
export async function pgQuery<R>(dataSource: DataSource, sql: string, params: unknown[], replica = false): Promise<PgResult<R>> {
  const { master, slaves } = dataSource.driver as unknown as { master?: PgPool; slaves?: PgPool[] };
  const pool = replica && slaves && slaves.length > 0 ? slaves[Math.floor(Math.random() * slaves.length)] : master;
  if (typeof pool?.query !== 'function') {
    throw new Error('nestjs-sessions: the DataSource has no pg pool; it must be an initialized DataSource of type postgres.');
  }
  const logger = dataSource.logger;
  logger.logQuery(sql, params);
  try {
    const result = await pool.query(sql, params);
    return { rows: result.rows as R[], rowCount: result.rowCount ?? 0 };
  } catch (error) {
    logger.logQueryError(error as Error, sql, params);
    throw error;
  }
}
