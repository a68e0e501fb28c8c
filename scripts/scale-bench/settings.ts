/**
 * PostgreSQL settings and index variants the scale benchmark can apply to its throwaway database
 * (never to the server: nothing here needs a restart or touches another database).
 */
import pg from 'pg';
import type { DataSource } from 'typeorm';
import { SESSIONS_TABLE } from '../../src/index.js';
import { ADMIN_URL } from '../../test/support/database.js';

export type SettingsName = 'default' | 'recommended';
export type IndexVariant = 'default' | 'hash' | 'covering';

const T = `"${SESSIONS_TABLE}"`;

/**
 * Per-database settings for a big sessions table, each one a session-level GUC, so ALTER
 * DATABASE applies it to every new connection without a restart.
 */
// Not random_page_cost = 1.1, the usual advice for SSD: measured here, it turns the purge's
// `expires_at <= $1 LIMIT n` from a sequential scan to an unordered scan of IDX_sessions_expires_at
// that walks past every entry the earlier batches deleted, and 1,000,000 rows purged at 56,000
// rows/s instead of 124,000-191,000 (the validations' and listing's plans did not change).
export const RECOMMENDED_DATABASE: Record<string, string> = {
  // Lets a bitmap heap scan (a listing of hundreds of sessions spread over as many pages) prefetch
  // its pages; the default 1 reads them one at a time. 200 is the usual figure for SSD.
  effective_io_concurrency: '200',
};

/**
 * The table's autovacuum parameters. At the default 20%, a 10,000,000-row table is vacuumed
 * after 2,000,000 dead rows: a day's purge and the logins' deletes pile up as bloat and stale
 * statistics for expires_at (the purge's plan) long before that. 2% keeps both current. These
 * only act when the server's autovacuum is on.
 */
export const RECOMMENDED_TABLE: Record<string, string> = {
  autovacuum_vacuum_scale_factor: '0.02',
  // Logins only insert; without this the visibility map (index-only scans) lags far behind.
  autovacuum_vacuum_insert_scale_factor: '0.02',
  autovacuum_analyze_scale_factor: '0.02',
};

/** Run before the app connects: ALTER DATABASE settings apply to connections opened after them. */
export async function applyDatabaseSettings(database: string, settings: SettingsName): Promise<void> {
  if (settings === 'default') return;
  const client = new pg.Client({ connectionString: ADMIN_URL });
  await client.connect();
  try {
    for (const [name, value] of Object.entries(RECOMMENDED_DATABASE)) await client.query(`ALTER DATABASE "${database}" SET ${name} = '${value}'`);
  } finally {
    await client.end();
  }
}

export async function applyTableSettings(dataSource: DataSource, settings: SettingsName): Promise<void> {
  if (settings === 'default') return;
  const list = Object.entries(RECOMMENDED_TABLE).map(([name, value]) => `${name} = ${value}`).join(', ');
  await dataSource.query(`ALTER TABLE ${T} SET (${list})`);
}

/**
 * Replaces the migration's unique B-tree on the token hash, as an experiment:
 *   hash      a hash index (4 bytes of hash code per entry instead of the 32-byte key; no
 *             uniqueness, which 256-bit tokens do not need to be unique in practice)
 *   covering  the same unique B-tree with every other column INCLUDEd, so a validation can be an
 *             index-only scan (it needs the visibility map, set by VACUUM)
 */
export async function applyIndexVariant(dataSource: DataSource, variant: IndexVariant): Promise<void> {
  if (variant === 'default') return;
  await dataSource.query(`DROP INDEX "UQ_sessions_token"`);
  await dataSource.query(
    variant === 'hash'
      ? `CREATE INDEX "UQ_sessions_token" ON ${T} USING hash ("token")`
      : `CREATE UNIQUE INDEX "UQ_sessions_token" ON ${T} ("token") INCLUDE ("id", "user_id", "expires_at", "created_at")`,
  );
}

/**
 * What the server runs with, for the report (settings that only a restart changes among them):
 * read on the admin database, which carries none of our ALTER DATABASE settings.
 */
export async function serverSettings(): Promise<Record<string, string>> {
  const names = ['shared_buffers', 'effective_cache_size', 'work_mem', 'maintenance_work_mem', 'max_wal_size', 'autovacuum', 'random_page_cost', 'effective_io_concurrency', 'full_page_writes', 'checkpoint_timeout'];
  const client = new pg.Client({ connectionString: ADMIN_URL });
  await client.connect();
  try {
    const { rows } = await client.query<{ name: string; value: string }>(`SELECT name, current_setting(name) AS value FROM unnest($1::text[]) name`, [names]);
    return Object.fromEntries(rows.map((r) => [r.name, r.value]));
  } finally {
    await client.end();
  }
}

/**
 * Drops the table's secondary indexes for a bulk load and gives back a function that builds them
 * again from their own definitions (pg_indexes), so what is measured is still the migration's.
 */
export async function dropSecondaryIndexes(dataSource: DataSource): Promise<() => Promise<void>> {
  const defs = (await dataSource.query(
    `SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() AND tablename = $1 AND indexname <> 'PK_sessions'`,
    [SESSIONS_TABLE],
  )) as { indexname: string; indexdef: string }[];
  for (const { indexname } of defs) await dataSource.query(`DROP INDEX "${indexname}"`);
  return async () => {
    for (const { indexdef } of defs) await dataSource.query(indexdef);
  };
}
