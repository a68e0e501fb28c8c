/**
 * The service-level figures, in one process with the service (no HTTP), started by bench/run.ts
 * on the benchmark's database (users and the sessions table already there):
 *
 *  1. createSession per second against a raw pg INSERT of the same row (random token, sha256,
 *     same columns, RETURNING the same columns), both on a pool of POOL_SIZE connections, both
 *     driven by CONCURRENCY loops, interleaved over rounds, the logins spread over loginUsers
 *     users; a third side runs createSession's own SQL raw (the INSERT with its DELETE of the
 *     user's expired sessions), prepared as the store runs it, which tells the SQL's cost from
 *     the JS around it; two more, informational: that SQL unprepared (the store before issue
 *     20) and the raw INSERT prepared (what preparing alone is worth);
 *  2. a cache-miss validateSession (cache of size 1, CONCURRENCY loops over 1,000 tokens, so
 *     every call misses, reads the store and fills the cache) against a raw pg SELECT by the same
 *     unique index (sha256 of the token, then SELECT … WHERE token = $1). resolveUser answers
 *     without I/O here, so both sides do exactly one query;
 *  3. the purge of N expired rows (loaded with generate_series, then VACUUM ANALYZE) by
 *     purgeExpiredSessions() with the default batch size, alone on the database.
 *
 * Configuration arrives as JSON in BENCH_SERVICE (see ServiceConfig); the result goes to the
 * parent as `{ type: 'result', result }`.
 */
import 'reflect-metadata';
import { createHash, randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { getDataSourceToken, TypeOrmModule } from '@nestjs/typeorm';
import pg from 'pg';
import type { DataSource } from 'typeorm';
import { SESSIONS_TABLE, SessionModule, SessionService } from '../src/index.js';
import { type ChildMessage, type ParentMessage, POOL_SIZE, requireEnv, runChild } from './common.js';

export interface ServiceConfig {
  rounds: number;
  durationMs: number;
  concurrency: number;
  purgeRows: number;
  /** Users the logins of part 1 are spread over (so each has a session or two, as on a real site). */
  loginUsers: number;
}

export interface Throughput {
  opsPerSec: number;
  p50: number;
  p99: number;
  errors: number;
}

export interface ServiceResult {
  create: { ours: Throughput[]; raw: Throughput[]; rawSameSql: Throughput[]; rawSameSqlUnprepared: Throughput[]; rawPrepared: Throughput[] };
  validate: { ours: Throughput[]; raw: Throughput[] };
  purge: { rows: number; purged: number; seconds: number; loadSeconds: number; batchSize: number };
  config: ServiceConfig;
}

const VALIDATION_TOKENS = 1_000;
const DAY = 86_400_000;
const INSERT_CHUNK = 250_000;
const RAW_INSERT = `INSERT INTO "${SESSIONS_TABLE}" (user_id, token, expires_at, created_at) VALUES ($1, $2, $3, $4)
  RETURNING id, user_id, token, expires_at, created_at`;
// What TypeOrmSessionStore.create runs (prepared): the INSERT, with the user's expired sessions
// deleted in the same statement. Run raw, it separates the cost of that SQL from the JS around it.
const CREATE_SQL = `WITH expired AS (DELETE FROM "${SESSIONS_TABLE}" WHERE user_id = $1 AND expires_at <= $4)
  INSERT INTO "${SESSIONS_TABLE}" (user_id, token, expires_at, created_at) VALUES ($1, $2, $3, $4)
  RETURNING id, user_id, token, expires_at, created_at`;
const RAW_SELECT = `SELECT id, user_id, token, expires_at, created_at FROM "${SESSIONS_TABLE}" WHERE token = $1`;

const log = (message: string) => process.stderr.write(`[bench:service] ${message}\n`);

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/** `concurrency` loops calling `op(slot, n)` until `durationMs` has passed. */
async function drive(concurrency: number, durationMs: number, op: (slot: number, n: number) => Promise<boolean>): Promise<Throughput> {
  const latencies: number[] = [];
  let errors = 0;
  const started = performance.now();
  const deadline = started + durationMs;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, slot) => {
      for (let n = 0; performance.now() < deadline; n++) {
        const t = performance.now();
        try {
          if (!(await op(slot, n))) errors += 1;
        } catch {
          errors += 1;
        }
        latencies.push(performance.now() - t);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return { opsPerSec: (latencies.length - errors) / seconds, p50: percentile(latencies, 50), p99: percentile(latencies, 99), errors };
}

type Op = (slot: number, n: number) => Promise<boolean>;

/** Runs each side once per round, the order rotating each round, after a warm-up of each. */
async function compare<K extends string>(config: ServiceConfig, what: string, sides: Record<K, Op>): Promise<Record<K, Throughput[]>> {
  const names = Object.keys(sides) as K[];
  const warm = Math.min(1_000, config.durationMs / 2);
  for (const name of names) await drive(config.concurrency, warm, sides[name]);
  const result = Object.fromEntries(names.map((n) => [n, [] as Throughput[]])) as Record<K, Throughput[]>;
  for (let round = 0; round < config.rounds; round++) {
    const shift = round % names.length;
    for (const name of [...names.slice(shift), ...names.slice(0, shift)]) {
      const measured = await drive(config.concurrency, config.durationMs, sides[name]);
      result[name].push(measured);
      log(`${what} round ${round + 1}/${config.rounds} ${name}: ${Math.round(measured.opsPerSec)}/s, p99 ${measured.p99.toFixed(2)} ms${measured.errors ? `, ${measured.errors} errors` : ''}`);
    }
  }
  return result;
}

const tokenHash = (token: string) => createHash('sha256').update(token, 'ascii').digest();

async function main(): Promise<ServiceResult> {
  const config = JSON.parse(requireEnv('BENCH_SERVICE')) as ServiceConfig;
  const url = requireEnv('DATABASE_URL');
  let app: INestApplicationContext | undefined;
  const pool = new pg.Pool({ connectionString: url, max: POOL_SIZE });
  try {
    app = await NestFactory.createApplicationContext(
      {
        module: class ServiceBenchModule {},
        imports: [
          TypeOrmModule.forRoot({ type: 'postgres', url, autoLoadEntities: true, poolSize: POOL_SIZE }),
          // resolveUser without I/O: the comparison is the session lookup against one raw SELECT.
          // A cache of one entry: with 1,000 tokens in turn, every validation is a miss.
          SessionModule.forRoot({ resolveUser: (id) => ({ id }), cache: { size: 1 }, broadcast: false, cleanup: false }),
        ],
      },
      { logger: ['error', 'warn'] },
    );
    const sessions = app.get<SessionService<{ id: string }>>(SessionService);
    const dataSource = app.get<DataSource>(getDataSourceToken());
    const userIds = ((await pool.query<{ id: string }>('SELECT id FROM users ORDER BY email')).rows).map((r) => r.id);

    // 1. createSession against a raw INSERT of the same row, spread over many users: a login
    // also deletes that user's expired sessions (by the user_id index), and a real user has a
    // handful of sessions, not hundreds.
    const { rows: loginUsers } = await pool.query<{ id: string }>(
      `INSERT INTO users (email) SELECT 'login' || g || '@example.com' FROM generate_series(1, $1::int) g RETURNING id`,
      [config.loginUsers],
    );
    let nextLogin = 0;
    const loginUser = () => loginUsers[nextLogin++ % loginUsers.length].id;
    // The sessions part 2 validates, one per user of the first 1,000.
    const tokens: { token: string; userId: string }[] = [];
    for (let i = 0; i < VALIDATION_TOKENS; i += 100) {
      tokens.push(
        ...(await Promise.all(
          Array.from({ length: 100 }, async (_, j) => {
            const userId = userIds[(i + j) % userIds.length];
            return { token: (await sessions.createSession({ userId })).token, userId };
          }),
        )),
      );
    }

    // Set up; under bench/run.ts, wait for the HTTP part to end before measuring (the set-up
    // overlaps it, to keep --quick short).
    if (process.send) {
      process.send({ type: 'prepared' } satisfies ChildMessage);
      await new Promise<void>((resolve) => process.on('message', (m: ParentMessage) => m?.type === 'go' && resolve()));
    }
    log(`createSession vs raw INSERT (over ${config.loginUsers.toLocaleString('en-US')} users)`);
    // With a name, pg prepares the statement once per connection, as the store does its own.
    const rawInsert = (text: string, name?: string) => async () => {
      const now = Date.now();
      const token = randomBytes(32).toString('base64url');
      const values = [loginUser(), tokenHash(token), new Date(now + 30 * DAY), new Date(now)];
      const { rows } = await (name ? pool.query({ name, text, values }) : pool.query(text, values));
      return rows.length === 1;
    };
    const create = await compare(config, 'create', {
      ours: async () => (await sessions.createSession({ userId: loginUser() })).token.length === 43,
      raw: rawInsert(RAW_INSERT),
      rawSameSql: rawInsert(CREATE_SQL, 'bench_create'),
      rawSameSqlUnprepared: rawInsert(CREATE_SQL),
      rawPrepared: rawInsert(RAW_INSERT, 'bench_insert'),
    });

    // 2. A cache-miss validation against a raw SELECT by token hash.
    log('cache-miss validateSession vs raw SELECT');
    await dataSource.query(`ANALYZE "${SESSIONS_TABLE}"`);
    // Each loop walks its own slice, so no two concurrent validations share a token (the
    // service would otherwise answer both with one lookup).
    const slice = (slot: number, n: number) => {
      const per = Math.floor(tokens.length / config.concurrency);
      return tokens[slot * per + (n % per)];
    };
    const validate = await compare(config, 'validate', {
      ours: async (slot, n) => {
        const { token, userId } = slice(slot, n);
        return (await sessions.validateSession(token))?.id === userId;
      },
      raw: async (slot, n) => {
        const { token, userId } = slice(slot, n);
        const { rows } = await pool.query(RAW_SELECT, [tokenHash(token)]);
        return rows[0]?.user_id === userId;
      },
    });

    // 3. The purge of N expired rows.
    log(`loading ${config.purgeRows.toLocaleString('en-US')} expired sessions`);
    const loadStarted = performance.now();
    for (let from = 1; from <= config.purgeRows; from += INSERT_CHUNK) {
      const to = Math.min(config.purgeRows, from + INSERT_CHUNK - 1);
      // Expired 1 to 8 days ago, created 31 days before that, spread over the users.
      await pool.query(
        `INSERT INTO "${SESSIONS_TABLE}" (user_id, token, expires_at, created_at)
         SELECT u.ids[1 + g % array_length(u.ids, 1)], sha256(convert_to('expired-' || g, 'UTF8')), x.e, x.e - interval '31 days'
           FROM (SELECT array_agg(id) AS ids FROM users) u,
                generate_series($1::bigint, $2::bigint) g,
                LATERAL (SELECT now() - interval '1 day' - (g % 604800) * interval '1 second' AS e) x`,
        [from, to],
      );
    }
    await pool.query(`VACUUM ANALYZE "${SESSIONS_TABLE}"`);
    const loadSeconds = (performance.now() - loadStarted) / 1000;
    log(`loaded in ${loadSeconds.toFixed(1)} s; purging`);
    const batchSize = (sessions as unknown as { options: { purgeBatchSize: number } }).options.purgeBatchSize;
    const purgeStarted = performance.now();
    const purged = await sessions.purgeExpiredSessions();
    const purgeSeconds = (performance.now() - purgeStarted) / 1000;
    log(`purged ${purged.toLocaleString('en-US')} in ${purgeSeconds.toFixed(2)} s`);

    return { create, validate, purge: { rows: config.purgeRows, purged, seconds: purgeSeconds, loadSeconds, batchSize }, config };
  } finally {
    await app?.close().catch(() => undefined);
    await pool.end().catch(() => undefined);
  }
}

process.on('disconnect', () => process.exit(1));
await runChild(main);
