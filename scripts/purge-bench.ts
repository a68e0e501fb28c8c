/**
 * Purge benchmark: does purging a big backlog of expired sessions hurt live validations?
 *
 *   node --import tsx scripts/purge-bench.ts [--rows N] [--quick]
 *
 * On a throwaway PostgreSQL database (created on TEST_DATABASE_URL, default
 * postgres://postgres@127.0.0.1:5432, dropped at the end, also on failure or Ctrl-C) it loads
 * N expired sessions (default 1,000,000; --quick 100,000) and ~1,000 live ones, then:
 *   1. baseline: 16 concurrent loops validate live tokens (cache off, so each is a real SELECT)
 *      for a few seconds, with no purge;
 *   2. purge: `purgeExpiredSessions()` once, with the same validation load while it runs.
 * It prints the purge's wall time and rows/s, and the validation latencies (p50, p99, max) of both
 * phases. Read the ratio p99(during)/p99(baseline), not the absolute numbers: this runs on 2
 * cores shared with other work, so milliseconds move from run to run; a batched purge that keeps
 * validations flowing should keep the ratio small (and never fail a validation).
 */
import 'reflect-metadata';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { NestFactory } from '@nestjs/core';
import { getDataSourceToken, TypeOrmModule } from '@nestjs/typeorm';
import type { INestApplicationContext } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import { CreateSessionsTable1763856000000, SESSIONS_TABLE, SessionModule, type SessionModuleOptions, SessionService } from '../src/index.js';
import { resolveSessionOptions } from '../src/options/resolve-options.js';
import { createTestDatabase, type TestDatabase } from '../test/support/database.js';
import { dropThenClose, runScript } from '../bench/support.js';

const LIVE_SESSIONS = 1_000;
const CONCURRENCY = 16;
const INSERT_CHUNK = 250_000;

// ---- arguments --------------------------------------------------------------------------------

function parseArgs(argv: string[]): { rows: number; baselineMs: number } {
  const quick = argv.includes('--quick');
  let rows = quick ? 100_000 : 1_000_000;
  const at = argv.indexOf('--rows');
  if (at !== -1) {
    rows = Number(String(argv[at + 1]).replace(/_/g, ''));
    if (!Number.isSafeInteger(rows) || rows < 1) throw new Error(`--rows: expected a positive whole number, got ${argv[at + 1]}`);
  }
  return { rows, baselineMs: quick ? 3_000 : 5_000 };
}

// ---- measuring --------------------------------------------------------------------------------

interface LoadResult {
  latencies: number[]; // ms
  failures: number;
}

/**
 * CONCURRENCY loops, each validating its own slice of the tokens (so no two loops share a token
 * and the service's in-flight de-duplication never turns a lookup into a free ride), until `stop`.
 */
async function validationLoad(sessions: SessionService<{ id: string }>, live: { token: string; userId: string }[], stop: () => boolean): Promise<LoadResult> {
  const result: LoadResult = { latencies: [], failures: 0 };
  const loop = async (slot: number): Promise<void> => {
    const mine = live.filter((_, i) => i % CONCURRENCY === slot);
    for (let i = 0; !stop(); i = (i + 1) % mine.length) {
      const { token, userId } = mine[i];
      const start = performance.now();
      try {
        const user = await sessions.validateSession(token);
        result.latencies.push(performance.now() - start);
        if (user?.id !== userId) result.failures += 1;
      } catch {
        result.latencies.push(performance.now() - start);
        result.failures += 1;
      }
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, (_, slot) => loop(slot)));
  return result;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

function summarize(r: LoadResult): { count: number; failures: number; p50: number; p99: number; max: number } {
  const sorted = [...r.latencies].sort((a, b) => a - b);
  return { count: sorted.length, failures: r.failures, p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted[sorted.length - 1] ?? NaN };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const log = (message: string) => process.stderr.write(`[purge-bench] ${message}\n`);
const ms = (n: number) => n.toFixed(2);
const int = (n: number) => Math.round(n).toLocaleString('en-US');

// ---- setup and teardown -----------------------------------------------------------------------

let db: TestDatabase | undefined;
let app: INestApplicationContext | undefined;

async function cleanUp(): Promise<void> {
  const [dropping, closing] = [db, app];
  [db, app] = [undefined, undefined];
  await dropThenClose(dropping, closing, log);
}

async function startApp(url: string): Promise<INestApplicationContext> {
  const sessionOptions: SessionModuleOptions & { cleanup?: false } = {
    resolveUser: (id) => ({ id: String(id) }),
    cache: false,
    broadcast: false,
    cleanup: false,
  };
  // `cleanup` is new; on a tree that does not know it yet, leave it out (there is no task to stop).
  try {
    resolveSessionOptions(sessionOptions);
  } catch (error) {
    if (!(error instanceof Error && /"cleanup"/.test(error.message))) throw error;
    delete sessionOptions.cleanup;
  }
  return NestFactory.createApplicationContext(
    {
      module: class PurgeBenchModule {},
      imports: [
        TypeOrmModule.forRoot({
          type: 'postgres',
          url,
          autoLoadEntities: true,
          migrations: [CreateSessionsTable1763856000000],
          migrationsRun: true,
          // One connection per validation loop plus room for the purge, so what we measure is the
          // database, not a queue for the pool (the default pool holds 10).
          poolSize: CONCURRENCY + 4,
        }),
        SessionModule.forRoot(sessionOptions),
      ],
    },
    { logger: ['error', 'warn'], abortOnError: false },
  );
}

async function load(dataSource: DataSource, sessions: SessionService<{ id: string }>, rows: number): Promise<{ token: string; userId: string }[]> {
  let started = performance.now();
  for (let from = 1; from <= rows; from += INSERT_CHUNK) {
    const to = Math.min(rows, from + INSERT_CHUNK - 1);
    // Expired between 1 and 8 days ago, created 31 days before that; 50,000 distinct users.
    await dataSource.query(
      `INSERT INTO "${SESSIONS_TABLE}" (user_id, token, expires_at, created_at)
       SELECT 'user-' || (g % 50000), sha256(convert_to('expired-' || g, 'UTF8')), e, e - interval '31 days'
         FROM generate_series($1::bigint, $2::bigint) g,
              LATERAL (SELECT now() - interval '1 day' - (g % 604800) * interval '1 second' AS e) x`,
      [from, to],
    );
    log(`inserted ${int(to)} / ${int(rows)} expired rows`);
  }
  log(`expired rows loaded in ${((performance.now() - started) / 1000).toFixed(1)} s`);

  started = performance.now();
  const live: { token: string; userId: string }[] = [];
  for (let i = 0; i < LIVE_SESSIONS; i += 50) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(50, LIVE_SESSIONS - i) }, async (_, j) => {
        const userId = `live-${i + j}`;
        const { token } = await sessions.createSession({ userId });
        return { token, userId };
      }),
    );
    live.push(...batch);
  }
  log(`${int(live.length)} live sessions created in ${((performance.now() - started) / 1000).toFixed(1)} s`);

  started = performance.now();
  await dataSource.query(`VACUUM ANALYZE "${SESSIONS_TABLE}"`);
  log(`VACUUM ANALYZE in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  return live;
}

// ---- the run ----------------------------------------------------------------------------------

async function main(): Promise<void> {
  const { rows, baselineMs } = parseArgs(process.argv.slice(2));
  db = await createTestDatabase('nss_purge_bench');
  log(`database ${db.name}`);
  app = await startApp(db.url);
  const dataSource = app.get<DataSource>(getDataSourceToken());
  const sessions = app.get(SessionService) as SessionService<{ id: string }>;
  const [{ server_version: pgVersion }] = (await dataSource.query('SHOW server_version')) as { server_version: string }[];
  const batchSize = (sessions as unknown as { options: { purgeBatchSize: number } }).options.purgeBatchSize;

  const live = await load(dataSource, sessions, rows);

  log('warm-up (1 s)');
  let deadline = performance.now() + 1_000;
  await validationLoad(sessions, live, () => performance.now() >= deadline);

  log(`baseline (${baselineMs / 1000} s, no purge)`);
  deadline = performance.now() + baselineMs;
  const baseline = summarize(await validationLoad(sessions, live, () => performance.now() >= deadline));

  log('purge, under the same load');
  let purging = true;
  const during = validationLoad(sessions, live, () => !purging);
  const purgeStart = performance.now();
  let purged: number;
  try {
    purged = await sessions.purgeExpiredSessions();
  } finally {
    purging = false;
  }
  const purgeSeconds = (performance.now() - purgeStart) / 1000;
  const purge = summarize(await during);

  const [{ left }] = (await dataSource.query(`SELECT count(*)::int AS left FROM "${SESSIONS_TABLE}"`)) as { left: number }[];

  const row = (cells: string[], widths: number[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  const w = [16, 10, 9, 9, 9, 10, 9];
  const lines = [
    '',
    `purge benchmark: ${int(rows)} expired + ${int(live.length)} live sessions, batch size ${int(batchSize)}, ${CONCURRENCY} validation loops (cache off)`,
    `machine: ${os.cpus().length} CPUs, Node ${process.version}, PostgreSQL ${pgVersion}`,
    '',
    `rows purged      ${int(purged)}${purged === rows ? '' : `  (expected ${int(rows)})`}`,
    `purge time (s)   ${purgeSeconds.toFixed(2)}`,
    `rows/s           ${int(purged / purgeSeconds)}`,
    `rows left        ${int(left)}${left === live.length ? '' : `  (expected ${int(live.length)})`}`,
    '',
    row(['validations', 'count', 'p50 ms', 'p99 ms', 'max ms', 'failures', 'secs'], w),
    row(['baseline', int(baseline.count), ms(baseline.p50), ms(baseline.p99), ms(baseline.max), int(baseline.failures), (baselineMs / 1000).toFixed(2)], w),
    row(['during purge', int(purge.count), ms(purge.p50), ms(purge.p99), ms(purge.max), int(purge.failures), purgeSeconds.toFixed(2)], w),
    '',
    `p99 ratio (during / baseline): ${(purge.p99 / baseline.p99).toFixed(2)}x`,
    '',
  ];
  process.stdout.write(lines.join('\n'));
  if (purge.failures + baseline.failures > 0) process.exitCode = 1;
}

await runScript(log, main, cleanUp);
