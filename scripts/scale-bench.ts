/**
 * Scale benchmark: does a session cost the same in a table of ten thousand rows as in one of ten
 * million (issue 20, item 5)?
 *
 *   node --import tsx scripts/scale-bench.ts [--sizes 10000,1000000,10000000] [--quick]
 *       [--settings default|recommended|default,recommended] [--index default|hash|covering]
 *       [--load-indexes after|during] [--seconds S] [--json FILE]
 *
 * For each size (and each settings name) a throwaway PostgreSQL database (on TEST_DATABASE_URL,
 * default postgres://postgres@127.0.0.1:5432, dropped at the end, also on failure or Ctrl-C) gets
 * the real migration, then a `sessions` table of that many rows loaded by SQL (scale-bench/data.ts:
 * half expired, 1% hot, most idle, heavy users with ~300 sessions, one with exactly 500 live), then
 * VACUUM ANALYZE. Through a Nest application context with SessionModule (cache off, so every
 * validation is one SELECT), it measures:
 *   1. validation: 16 concurrent loops over the hot tokens for S seconds (default 5, --quick 2),
 *      then the same loops on the raw indexed SELECT (a pg pool, prepared): PostgreSQL's own floor;
 *   2. listing: listUserSessions of the user with 500 sessions, 50 calls one after another;
 *   3. login: createSession for random users, 16 concurrent, for S seconds (each login also deletes
 *      that user's expired sessions); afterwards the logins' rows go and the expired rows they
 *      deleted come back, so the purge has the same half of the table at every size;
 *   4. purge: purgeExpiredSessions() while the validation loops run; wall time, rows/s, the time
 *      5,000,000 rows would take at that rate, and the validations' p99 during it against just before;
 *   5. the table's size on disk (heap, each index) and bytes per row, measured after the load.
 * Then a summary across sizes (each figure against the smallest size) and the issue's goals with
 * PASS/MISS. Read ratios rather than milliseconds: this runs on 2 shared cores.
 *
 * --settings recommended applies per-database and per-table settings (scale-bench/settings.ts,
 * each justified there); server-wide ones such as shared_buffers need a restart, so they are only
 * reported. --index swaps the token index for an experiment. --load-indexes after (the default)
 * drops the secondary indexes for the load and builds them again (much faster at 10M, but the
 * indexes come out packed, so smaller than a table grown by logins); `during` keeps them.
 */
import 'reflect-metadata';
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { NestFactory } from '@nestjs/core';
import { getDataSourceToken, TypeOrmModule } from '@nestjs/typeorm';
import type { INestApplicationContext } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import { CreateSessionsTable1763856000000, SESSIONS_TABLE, SessionModule, SessionService } from '../src/index.js';
import { hashToken } from '../src/tokens/opaque-token.js';
import { createTestDatabase, type TestDatabase } from '../test/support/database.js';
import { dropLogged, dropThenClose, runScript } from '../bench/support.js';
import { fill, hotTokens, layout, LISTING_SESSIONS, LISTING_USER, repair, tableSize } from './scale-bench/data.js';
import { CONCURRENCY, forMs, listingLoad, loginLoad, rawValidationLoad, type Summary, validationLoad } from './scale-bench/measure.js';
import { type Args, parseArgs } from './scale-bench/args.js';
import { checks, type SizeResult, sizeReport, summaryReport } from './scale-bench/report.js';
import {
  applyDatabaseSettings,
  applyIndexVariant,
  applyTableSettings,
  dropSecondaryIndexes,
  RECOMMENDED_DATABASE,
  RECOMMENDED_TABLE,
  serverSettings,
  type SettingsName,
} from './scale-bench/settings.js';

const LISTING_CALLS = 50;
const PURGE_GOAL_ROWS = 5_000_000;

// ---- one size ---------------------------------------------------------------------------------

let db: TestDatabase | undefined;
let app: INestApplicationContext | undefined;
// The server's settings, as the first run's database reports them (the same for all).
let server: Record<string, string> | undefined;
let pgVersion = '';

const log = (message: string) => process.stderr.write(`[scale-bench] ${message}\n`);
const int = (n: number) => Math.round(n).toLocaleString('en-US');
const secs = (since: number) => (performance.now() - since) / 1000;

async function cleanUp(): Promise<void> {
  const [dropping, closing] = [db, app];
  [db, app] = [undefined, undefined];
  await dropThenClose(dropping, closing, log);
}

function startApp(url: string): Promise<INestApplicationContext> {
  return NestFactory.createApplicationContext(
    {
      module: class ScaleBenchModule {},
      imports: [
        TypeOrmModule.forRoot({
          type: 'postgres',
          url,
          autoLoadEntities: true,
          migrations: [CreateSessionsTable1763856000000],
          migrationsRun: true,
          // One connection per loop plus room for the purge, so what we measure is the database,
          // not a queue for the pool (the default pool holds 10).
          poolSize: CONCURRENCY + 4,
        }),
        SessionModule.forRoot({ resolveUser: (id: string) => ({ id }), cache: false, broadcast: false, cleanup: false }),
      ],
    },
    { logger: ['error', 'warn'], abortOnError: false },
  );
}

async function countExpired(dataSource: DataSource): Promise<number> {
  const [{ expired }] = (await dataSource.query(`SELECT count(*)::int AS expired FROM "${SESSIONS_TABLE}" WHERE expires_at <= now()`)) as { expired: number }[];
  return expired;
}

/**
 * The plans PostgreSQL picks for the store's three statements that the table's size could turn
 * (the texts of typeorm-session.store.ts), one line each, so a change of plan between sizes or
 * settings shows in the report.
 */
async function plans(dataSource: DataSource, token: string): Promise<Record<string, string>> {
  const statements: Record<string, [string, unknown[]]> = {
    validation: [`SELECT id, user_id, token, expires_at, created_at FROM "${SESSIONS_TABLE}" WHERE token = $1`, [hashToken(token)]],
    listing: [`SELECT id, user_id, token, expires_at, created_at FROM "${SESSIONS_TABLE}" WHERE user_id = $1 AND expires_at > $2 ORDER BY created_at DESC, id DESC`, [LISTING_USER, new Date()]],
    purge: [`SELECT id FROM "${SESSIONS_TABLE}" WHERE expires_at <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED`, [new Date(), 5_000]],
  };
  const out: Record<string, string> = {};
  for (const [name, [sql, params]] of Object.entries(statements)) {
    const rows = (await dataSource.query(`EXPLAIN (COSTS OFF) ${sql}`, params)) as { 'QUERY PLAN': string }[];
    out[name] = rows.map((r) => r['QUERY PLAN'].trim().replace(/^->\s*/, '').replace(/'[^']*'::[a-z ]+/g, '$')).join(' > ');
  }
  return out;
}

// Server-wide WAL counters (PostgreSQL 14+): what a login writes, full-page images included.
async function walStats(dataSource: DataSource): Promise<{ bytes: number; fpi: number }> {
  const [row] = (await dataSource.query('SELECT wal_bytes::float8 AS bytes, wal_fpi::float8 AS fpi FROM pg_stat_wal')) as { bytes: number; fpi: number }[];
  return row;
}

async function runSize(rows: number, settings: SettingsName, args: Args): Promise<SizeResult> {
  const wall = performance.now();
  const l = layout(rows);
  db = await createTestDatabase('nss_scale_bench');
  log(`${int(rows)} rows, settings ${settings}, index ${args.index}: database ${db.name}`);
  try {
    await applyDatabaseSettings(db.name, settings);
    app = await startApp(db.url);
    const dataSource = app.get<DataSource>(getDataSourceToken());
    const sessions = app.get(SessionService) as SessionService<{ id: string }>;
    if (!server) {
      server = await serverSettings();
      pgVersion = ((await dataSource.query('SHOW server_version')) as { server_version: string }[])[0].server_version;
    }
    await applyIndexVariant(dataSource, args.index);
    await applyTableSettings(dataSource, settings);

    // ---- load
    let t = performance.now();
    const rebuild = args.loadIndexes === 'after' ? await dropSecondaryIndexes(dataSource) : null;
    const insertSeconds = await fill(dataSource, l, log);
    t = performance.now();
    await rebuild?.();
    const indexSeconds = secs(t);
    t = performance.now();
    await dataSource.query(`VACUUM ANALYZE "${SESSIONS_TABLE}"`);
    const vacuumSeconds = secs(t);
    // The load's WAL would otherwise set off a checkpoint in the middle of a timed phase (at
    // 10,000,000 rows it is several GB against max_wal_size 1 GB); each size starts from one.
    t = performance.now();
    await dataSource.query('CHECKPOINT');
    const checkpointSeconds = secs(t);
    const loadSeconds = insertSeconds + indexSeconds + vacuumSeconds + checkpointSeconds;
    log(`loaded in ${loadSeconds.toFixed(1)} s (insert ${insertSeconds.toFixed(1)}, indexes ${indexSeconds.toFixed(1)}, vacuum analyze ${vacuumSeconds.toFixed(1)}, checkpoint ${checkpointSeconds.toFixed(1)})`);
    const size = await tableSize(dataSource);
    const expiredAtLoad = await countExpired(dataSource);
    const hot = hotTokens(l);
    const plan = await plans(dataSource, hot[0].token);
    if ((await sessions.validateSession(hot[0].token))?.id !== hot[0].userId) throw new Error('a hot token does not validate: the derived tokens and the loaded hashes disagree');

    // ---- validation, listing
    log(`validation (${args.seconds} s after 1 s of warm-up)`);
    await validationLoad(sessions, hot, forMs(1_000));
    const validation = await validationLoad(sessions, hot, forMs(args.seconds * 1_000));
    log(`the raw SELECT floor (${args.seconds} s after 1 s of warm-up)`);
    const pool = new pg.Pool({ connectionString: db.url, max: CONCURRENCY + 4 });
    let validationRaw: Summary;
    try {
      await rawValidationLoad(pool, hot, forMs(1_000));
      validationRaw = await rawValidationLoad(pool, hot, forMs(args.seconds * 1_000));
    } finally {
      await pool.end();
    }
    log(`listing ${LISTING_USER} (${LISTING_CALLS} calls)`);
    const listing = await listingLoad(sessions, LISTING_USER, LISTING_SESSIONS, LISTING_CALLS);

    // ---- login, then the table as it was
    const [{ last }] = (await dataSource.query(`SELECT max(id)::text AS last FROM "${SESSIONS_TABLE}"`)) as { last: string }[];
    log(`login (${args.seconds} s)`);
    const walBefore = await walStats(dataSource);
    const { summary: login, loggedIn } = await loginLoad(sessions, l.users, forMs(args.seconds * 1_000));
    const walAfter = await walStats(dataSource);
    const loginWal = { bytes: (walAfter.bytes - walBefore.bytes) / login.count, fullPageImages: (walAfter.fpi - walBefore.fpi) / login.count };
    t = performance.now();
    const repaired = await repair(dataSource, l, last, loggedIn);
    await dataSource.query(`VACUUM ANALYZE "${SESSIONS_TABLE}"`);
    await dataSource.query('CHECKPOINT');
    const repairSeconds = secs(t);
    log(`repaired in ${repairSeconds.toFixed(1)} s: ${int(repaired.removed)} new sessions removed, ${int(repaired.restored)} expired ones put back`);

    // ---- purge under validation load
    const expired = await countExpired(dataSource);
    if (expired !== expiredAtLoad) log(`after the repair ${int(expired)} expired rows, against ${int(expiredAtLoad)} loaded`);
    log(`validation just before the purge (${Math.min(3, args.seconds)} s)`);
    const before = await validationLoad(sessions, hot, forMs(Math.min(3, args.seconds) * 1_000));
    log(`purge of ${int(expired)} rows, under the same load`);
    let purging = true;
    const duringLoad = validationLoad(sessions, hot, () => !purging);
    t = performance.now();
    let purged: number;
    try {
      purged = await sessions.purgeExpiredSessions();
    } finally {
      purging = false;
    }
    const purgeSeconds = secs(t);
    const during = await duringLoad;
    t = performance.now();
    await dataSource.query(`VACUUM "${SESSIONS_TABLE}"`);
    const vacuumAfterPurgeSeconds = secs(t);
    log(`purged in ${purgeSeconds.toFixed(2)} s; VACUUM after it ${vacuumAfterPurgeSeconds.toFixed(1)} s`);

    return {
      rows,
      settings,
      index: args.index,
      hotTokens: hot.length,
      plans: plan,
      load: { insertSeconds, indexSeconds, vacuumSeconds, checkpointSeconds, totalSeconds: loadSeconds },
      table: { ...size, bytesPerRow: size.totalBytes / rows },
      validation,
      validationRaw,
      listing,
      login,
      loginWal,
      repair: { ...repaired, seconds: repairSeconds },
      purge: {
        rows: purged,
        expected: expired,
        seconds: purgeSeconds,
        rowsPerSecond: purged / purgeSeconds,
        secondsFor5M: (purgeSeconds * PURGE_GOAL_ROWS) / purged,
        before,
        during,
        p99Ratio: during.p99 / before.p99,
      },
      vacuumAfterPurgeSeconds,
      wallSeconds: secs(wall),
    };
  } finally {
    await app?.close().catch((error) => log(`closing the app failed: ${error}`));
    app = undefined;
    const dropping = db;
    db = undefined;
    await dropLogged(dropping, log);
  }
}

// ---- the run ----------------------------------------------------------------------------------

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const started = performance.now();
  const bySettings = new Map<SettingsName, SizeResult[]>();
  for (const settings of args.settings) {
    const results: SizeResult[] = [];
    for (const rows of args.sizes) {
      results.push(await runSize(rows, settings, args));
      process.stdout.write(sizeReport(results[results.length - 1]).join('\n') + '\n');
    }
    bySettings.set(settings, results);
  }
  const lines = ['', `machine: ${os.cpus().length} CPUs, ${(os.totalmem() / 2 ** 30).toFixed(0)} GB RAM, Node ${process.version}, PostgreSQL ${pgVersion}; ${CONCURRENCY} loops, ${args.seconds} s per timed phase`, ''];
  for (const results of bySettings.values()) lines.push(...summaryReport(results));
  lines.push(
    `server: ${Object.entries(server ?? {}).map(([k, v]) => `${k}=${v}`).join(', ')}`,
    `recommended (applied with --settings recommended): ALTER DATABASE SET ${Object.entries(RECOMMENDED_DATABASE).map(([k, v]) => `${k}=${v}`).join(', ')}; ` +
      `ALTER TABLE sessions SET (${Object.entries(RECOMMENDED_TABLE).map(([k, v]) => `${k}=${v}`).join(', ')})`,
    'server-wide, needs a restart, not applied here: shared_buffers at about 25% of RAM, and at least the token index plus the hot sessions\' heap pages ' +
      '(at 10,000,000 rows the index alone is several hundred MB, past the default 128MB); autovacuum on (the table settings above do nothing without it); ' +
      'a longer checkpoint_timeout and larger max_wal_size (a reload, not a restart, but server-wide), since a login into a big table writes about one ' +
      'full-page image (8 kB of WAL) per first touch of a token-index page after each checkpoint (see "login WAL"). Left out: random_page_cost=1.1, which turns the purge to a slower index scan (settings.ts).',
    `total ${(secs(started) / 60).toFixed(1)} min`,
    '',
  );
  process.stdout.write(lines.join('\n'));
  if (args.json) {
    writeFileSync(args.json, JSON.stringify({ machine: { cpus: os.cpus().length, node: process.version, postgres: pgVersion }, server, args, results: Object.fromEntries(bySettings), checks: Object.fromEntries([...bySettings].filter(([, r]) => r.length > 1).map(([k, r]) => [k, checks(r)])) }, null, 2));
    log(`wrote ${args.json}`);
  }
  const failures = [...bySettings.values()].flat().reduce((n, r) => n + r.validation.failures + r.purge.during.failures + r.purge.before.failures + r.login.failures + r.listing.failures, 0);
  if (failures > 0) {
    log(`${failures} failed calls`);
    process.exitCode = 1;
  }
}

await runScript(log, main, cleanUp);
