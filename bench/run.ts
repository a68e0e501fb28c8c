/**
 * The benchmark: `npm run bench` (about 13 minutes) or `npm run bench -- --quick` (under a minute).
 *
 *   node --import tsx bench/run.ts [--quick] [--rounds N] [--duration SECONDS] [--connections N]
 *        [--only a,b,c | --no-http] [--no-service] [--profile b,c] [--json FILE]
 *
 * On one throwaway PostgreSQL database (created on TEST_DATABASE_URL, default
 * postgres://postgres@127.0.0.1:5432/postgres, dropped at the end) and Redis (REDIS_URL, default
 * redis://127.0.0.1:6379; only keys under a per-run prefix, deleted at the end):
 *
 * 1. HTTP: every variant (see bench/common.ts) is a server in its own child process serving
 *    GET /me → {id, email} for a logged-in user; autocannon in this process drives one at a time
 *    with a fixed number of connections, each connection a different user's session. The variants
 *    run interleaved: R rounds, each variant once per round in an order of its own, after a
 *    warm-up of each. Reported: the median over rounds of req/s, p50 and p99 per variant,
 *    and each ratio as the median over rounds of that round's ratio (two variants of one round
 *    ran minutes apart at most, so a machine that gets busier mid-run skews a ratio less).
 *    Each round's order is a shuffle (fixed seeds, so one run's orders are the next run's): a
 *    rotation would give every variant the same two neighbours in every round, and the one run
 *    after a PostgreSQL-heavy variant (d's UPDATEs, then autovacuum) would always pay for it.
 *    A pause between variants (1 s; --quick 0.1 s) lets the machine settle.
 *    a, b, c and g run on Fastify too, as af, bf, cf and gf: the same app on the other adapter.
 * 2. Service level (bench/service.ts, a child): createSession/s against a raw pg INSERT, a
 *    cache-miss validation against a raw pg SELECT, and the purge of 1,000,000 expired rows
 *    (--quick: 100,000, its time scaled ×10 for the target). Memory per cached session
 *    (bench/memory.ts, a child under --expose-gc, 100,000 sessions), run while the servers start
 *    and done before the first round.
 *
 * It prints each target with its measured value and PASS or MISS, and exits 0 either way: a
 * benchmark reports, it does not fail CI. It exits 1 only when it could not measure.
 * --profile b,c starts those servers with --cpu-prof (profiles in bench/profiles/<variant>/; the
 * main thread's is the big one), for bench/profile-summary.ts.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { randomBytes, createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { Redis } from 'ioredis';
import pg from 'pg';
import { DataSource, type MigrationInterface, type QueryRunner } from 'typeorm';
import { createSessionDetailsMigration, createSessionsMigration } from '../src/index.js';
import { generateToken } from '../src/tokens/opaque-token.js';
import { createTestDatabase, type TestDatabase } from '../test/support/database.js';
import { baseOf, type ChildMessage, POOL_SIZE, SERVER_FILE, type Variant, VARIANTS } from './common.js';
import type { MemoryResult } from './memory.js';
import type { ServiceConfig, ServiceResult, Throughput } from './service.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const USERS = 1_000;
const CORE: Variant[] = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'af', 'bf', 'cf', 'gf'];
const INFORMATIONAL: Variant[] = ['e0', 'c2', 'd0', 'g0', 'gp', 'bt', 'bj', 'bx', 'bm', 'cm'];
const require = createRequire(import.meta.url);

// ---- arguments --------------------------------------------------------------------------------

interface Options {
  quick: boolean;
  rounds: number;
  durationMs: number;
  warmupMs: number;
  connections: number;
  variants: Variant[];
  service: boolean;
  profile: Variant[];
  json?: string;
  serviceConfig: ServiceConfig;
}

function parseArgs(argv: string[]): Options {
  const quick = argv.includes('--quick');
  const value = (name: string): string | undefined => {
    const at = argv.indexOf(name);
    if (at === -1) return undefined;
    const v = argv[at + 1];
    if (v === undefined || v.startsWith('--')) throw new Error(`${name}: a value is missing`);
    return v;
  };
  const number = (name: string, fallback: number, min: number): number => {
    const raw = value(name);
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!Number.isFinite(n) || n < min) throw new Error(`${name}: expected a number of at least ${min}, got ${raw}`);
    return n;
  };
  const variantList = (name: string, fallback: Variant[]): Variant[] => {
    const raw = value(name);
    if (raw === undefined) return fallback;
    const list = raw.split(',').map((v) => v.trim());
    for (const v of list) if (!(v in VARIANTS)) throw new Error(`${name}: unknown variant ${v}; known: ${Object.keys(VARIANTS).join(', ')}`);
    return list as Variant[];
  };
  const known = new Set(['--quick', '--rounds', '--duration', '--connections', '--only', '--no-http', '--no-service', '--profile', '--json']);
  for (const arg of argv) if (arg.startsWith('--') && !known.has(arg)) throw new Error(`unknown option ${arg}; known: ${[...known].join(' ')}`);
  return {
    quick,
    rounds: Math.round(number('--rounds', quick ? 3 : 5, 1)),
    // Whole seconds: autocannon stops on its one-second tick, so 2.5 s would run 3.
    durationMs: Math.ceil(number('--duration', quick ? 1 : 10, 1)) * 1000,
    warmupMs: quick ? 1_000 : 2_000,
    connections: Math.round(number('--connections', 32, 1)),
    variants: argv.includes('--no-http') ? [] : variantList('--only', quick ? CORE : [...CORE, ...INFORMATIONAL]),
    service: !argv.includes('--no-service'),
    profile: variantList('--profile', []),
    json: value('--json'),
    serviceConfig: quick
      ? { rounds: 2, durationMs: 500, concurrency: 16, purgeRows: 100_000, loginUsers: 50_000 }
      : { rounds: 5, durationMs: 3_000, concurrency: 16, purgeRows: 1_000_000, loginUsers: 200_000 },
  };
}

// ---- processes and clean-up -------------------------------------------------------------------

const log = (message: string) => process.stderr.write(`[bench] ${message}\n`);
const children = new Set<ChildProcess>();
let db: TestDatabase | undefined;
let redisPrefix: string | undefined;

/** Forks a TypeScript child under tsx; it is killed if we exit first. */
function spawn(file: string, env: Record<string, string>, execArgv: string[] = []): ChildProcess {
  const child = fork(join(HERE, file), [], {
    execArgv: [...execArgv, '--import', 'tsx'],
    // The root tsconfig does not include bench/: without ours, tsx would refuse the decorators.
    env: { ...process.env, TSX_TSCONFIG_PATH: join(HERE, 'tsconfig.json'), ...env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  // A send to a child that has just gone (Ctrl-C) must not crash the clean-up.
  child.on('error', (error) => log(`${file}: ${error.message}`));
  return child;
}

/** The first `result`/`ready` message of a child, or its error or exit as a rejection. */
function answer<T>(child: ChildProcess, type: 'ready' | 'result' | 'prepared', what: string, timeoutMs: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what}: no answer within ${timeoutMs / 1000} s`)), timeoutMs);
    const done = () => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    const onMessage = (message: ChildMessage) => {
      if (message.type === 'error') {
        done();
        reject(new Error(`${what}: ${message.message}`));
      } else if (message.type === type) {
        done();
        resolve((type === 'result' ? (message as { result: T }).result : message) as T);
      }
    };
    const onExit = (code: number | null, signal: string | null) => {
      done();
      reject(new Error(`${what}: exited (${signal ?? code}) before answering`));
    };
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    if (child.connected) child.send({ type: 'stop' });
    else child.kill('SIGTERM');
  });
}

async function cleanUp(): Promise<void> {
  await Promise.all([...children].map(stopChild));
  if (redisPrefix) {
    const prefix = redisPrefix;
    redisPrefix = undefined;
    const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
    try {
      await redis.connect();
      let removed = 0;
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
        cursor = next;
        if (keys.length > 0) removed += await redis.del(...keys);
      } while (cursor !== '0');
      log(`deleted ${removed} Redis key(s) under ${prefix}`);
    } catch (error) {
      log(`could not delete the Redis keys under ${prefix}: ${error}`);
    } finally {
      redis.disconnect();
    }
  }
  if (db) {
    const dropping = db;
    db = undefined;
    await dropping.drop().then(
      () => log(`dropped ${dropping.name}`),
      (error) => log(`could not drop ${dropping.name}: ${error}`),
    );
  }
}

let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    interrupted = true;
    log(`${signal}: stopping the servers, dropping the database, deleting the Redis keys`);
    cleanUp().finally(() => process.exit(130));
  });
}
process.once('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

// ---- the database -----------------------------------------------------------------------------

class CreateBenchUsers1700000000000 implements MigrationInterface {
  async up(q: QueryRunner): Promise<void> {
    await q.query('CREATE TABLE users (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), email text NOT NULL UNIQUE)');
  }
  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE users');
  }
}
class CreateSessionsTable1763856000000 extends createSessionsMigration({ usersTable: 'users' }) {}
// Created for the details variants (bm, cm); the others never read it.
class CreateSessionDetails1763857000000 extends createSessionDetailsMigration() {}

interface BenchUser {
  id: string;
  email: string;
}

async function setUpDatabase(url: string): Promise<{ users: BenchUser[]; pgVersion: string }> {
  const dataSource = new DataSource({ type: 'postgres', url, migrations: [CreateBenchUsers1700000000000, CreateSessionsTable1763856000000, CreateSessionDetails1763857000000] });
  await dataSource.initialize();
  try {
    await dataSource.runMigrations();
    // connect-pg-simple's table, as its README says to create it.
    await dataSource.query(readFileSync(join(dirname(require.resolve('connect-pg-simple')), 'table.sql'), 'utf8'));
    const users = (await dataSource.query(
      `INSERT INTO users (email) SELECT 'user' || g || '@example.com' FROM generate_series(1, $1::int) g RETURNING id, email`,
      [USERS],
    )) as BenchUser[];
    await dataSource.query('ANALYZE');
    const [{ server_version: pgVersion }] = (await dataSource.query('SHOW server_version')) as { server_version: string }[];
    return { users, pgVersion };
  } finally {
    await dataSource.destroy();
  }
}

// ---- the servers ------------------------------------------------------------------------------

interface Server {
  variant: Variant;
  port: number;
  child: ChildProcess;
  /** Per connection: the headers that authenticate it, and the user it should get. */
  credentials: { headers: Record<string, string>; user: BenchUser }[];
}

async function startServer(variant: Variant, env: Record<string, string>, profile: boolean): Promise<Server> {
  // One folder per variant: tsx's loader thread writes a profile of its own beside the main thread's.
  const dir = join(HERE, 'profiles', variant);
  const execArgv = profile ? ['--cpu-prof', `--cpu-prof-dir=${dir}`] : [];
  if (profile) mkdirSync(dir, { recursive: true });
  const child = spawn(SERVER_FILE[variant], { ...env, BENCH_VARIANT: variant }, execArgv);
  const { port } = await answer<{ port: number }>(child, 'ready', `server ${variant}`, 90_000);
  return { variant, port, child, credentials: [] };
}

async function post(port: number, path: string, body: unknown): Promise<Response> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`, {
    method: 'POST',
    // A browser's User-Agent, so the details variants record (and parse) what a real login gives.
    headers: { 'content-type': 'application/json', 'user-agent': 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36' },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`POST ${path} on ${port}: ${response.status} ${await response.text()}`);
  return response;
}

// One request at a time: a burst would fill the server's pool (POOL_SIZE connections), and
// eleven full pools at once exceed PostgreSQL's default max_connections of 100.
async function inSeries<T, R>(items: T[], each: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = [];
  for (const item of items) results.push(await each(item));
  return results;
}

/** Logs each connection's user in the way the variant does it; checks that GET /me then answers right. */
async function logIn(server: Server, users: BenchUser[], connections: number, databaseUrl: string): Promise<void> {
  const mine = users.slice(0, connections);
  const variant = baseOf(server.variant);
  switch (variant) {
    case 'a':
    case 'bt': {
      // No authentication; the same header bytes as the bearer variants.
      server.credentials = mine.map((user) => ({ headers: { authorization: `Bearer ${generateToken()}` }, user }));
      break;
    }
    case 'b':
    case 'bj':
    case 'bx':
    case 'bm':
    case 'cm':
    case 'c':
    case 'c2':
    case 'e':
    case 'e0': {
      server.credentials = await inSeries(mine, async (user) => {
        const { token } = (await (await post(server.port, '/login', { userId: user.id })).json()) as { token: string };
        return { headers: { authorization: `Bearer ${token}` }, user };
      });
      break;
    }
    case 'd':
    case 'd0':
    case 'f': {
      server.credentials = await inSeries(mine, async (user) => {
        const response = await post(server.port, '/login', { userId: user.id });
        const cookie = response.headers.getSetCookie().find((c) => c.startsWith('connect.sid='));
        if (!cookie) throw new Error(`server ${server.variant}: no connect.sid cookie at login`);
        return { headers: { cookie: cookie.slice(0, cookie.indexOf(';')) }, user };
      });
      break;
    }
    case 'g':
    case 'g0':
    case 'gp': {
      // Sessions made as createSession makes them (32 random bytes, base64url; sha256 stored).
      const client = new pg.Client({ connectionString: databaseUrl });
      await client.connect();
      try {
        server.credentials = [];
        for (const user of mine) {
          const token = generateToken();
          const hash = createHash('sha256').update(token, 'ascii').digest();
          await client.query(`INSERT INTO sessions (user_id, token, expires_at) VALUES ($1, $2, now() + interval '30 days')`, [user.id, hash]);
          server.credentials.push({ headers: { authorization: `Bearer ${token}` }, user });
        }
      } finally {
        await client.end();
      }
      break;
    }
  }
  // Every credential gets its own user back; without one, a guarded route refuses.
  await inSeries(server.credentials, async ({ headers, user }) => {
    const response = await fetch(`http://127.0.0.1:${server.port}/me`, { headers });
    const body = (await response.json()) as BenchUser;
    const expected = variant === 'a' || variant === 'bt' ? undefined : user;
    if (response.status !== 200 || (expected && (body.id !== expected.id || body.email !== expected.email))) {
      throw new Error(`server ${server.variant}: GET /me answered ${response.status} ${JSON.stringify(body)}, expected ${JSON.stringify(expected ?? '200')}`);
    }
  });
  if (variant !== 'a' && variant !== 'bt') {
    const refused = await fetch(`http://127.0.0.1:${server.port}/me`);
    await refused.arrayBuffer();
    if (refused.status !== 401) throw new Error(`server ${server.variant}: GET /me without a session answered ${refused.status}, expected 401`);
  }
}

// ---- load -------------------------------------------------------------------------------------

interface Sample {
  rps: number;
  p50: number;
  p99: number;
  non2xx: number;
  errors: number;
  /** The server process's CPU time per answered request, µs: steadier than req/s on a busy machine. */
  cpuPerRequest: number;
}

/** The CPU time the server's process has used so far, µs. */
function cpuOf(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    if (interrupted || !server.child.connected) {
      reject(new Error(`server ${server.variant} is gone`));
      return;
    }
    const timer = setTimeout(() => reject(new Error(`server ${server.variant}: no CPU figure`)), 5_000);
    const onMessage = (message: ChildMessage) => {
      if (message.type !== 'cpu') return;
      clearTimeout(timer);
      server.child.off('message', onMessage);
      resolve(message.micros);
    };
    server.child.on('message', onMessage);
    server.child.send({ type: 'cpu' });
  });
}

async function load(server: Server, connections: number, durationMs: number): Promise<Sample> {
  let next = 0;
  const cpuBefore = await cpuOf(server);
  const result = await autocannon({
    url: `http://127.0.0.1:${server.port}/me`,
    connections,
    duration: durationMs / 1000,
    // Each connection its own user's session.
    setupClient: (client) => client.setHeaders(server.credentials[next++ % server.credentials.length].headers),
  });
  const cpu = (await cpuOf(server)) - cpuBefore;
  return {
    rps: result['2xx'] / result.duration,
    p50: result.latency.p50,
    p99: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
    cpuPerRequest: cpu / Math.max(1, result['2xx'] + result.non2xx),
  };
}

/** `items` in a random order drawn from `seed` (xorshift32, Fisher-Yates): the same seed, the same order. */
function shuffled<T>(items: T[], seed: number): T[] {
  const out = [...items];
  let state = Math.imul(seed, 0x9e3779b1) >>> 0 || 1;
  const random = () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 2 ** 32;
  };
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function median(values: number[]): number {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

// ---- report -----------------------------------------------------------------------------------

const int = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '-');
const fixed = (n: number, d = 2) => (Number.isFinite(n) ? n.toFixed(d) : '-');

function table(head: string[], rows: string[][], leftColumns = 1): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i < leftColumns ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ').trimEnd();
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

function versionOf(name: string): string {
  try {
    return (JSON.parse(readFileSync(join(process.cwd(), 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return '?';
  }
}

async function redisVersion(): Promise<string> {
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    return /redis_version:(\S+)/.exec(await redis.info('server'))?.[1] ?? '?';
  } finally {
    redis.disconnect();
  }
}

// ---- the run ----------------------------------------------------------------------------------

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  const started = Date.now();
  const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;

  db = await createTestDatabase('nss_bench');
  redisPrefix = `nssbench:${process.pid}:${randomBytes(3).toString('hex')}:`;
  log(`database ${db.name}, Redis prefix ${redisPrefix}`);
  const { users, pgVersion } = await setUpDatabase(db.url);
  const env = { DATABASE_URL: db.url, REDIS_URL, BENCH_REDIS_PREFIX: redisPrefix };

  // Memory figure meanwhile: a heap count does not mind the CPU being busy.
  const memoryChild = spawn('memory.ts', { BENCH_MEMORY_ENTRIES: '100000' }, ['--expose-gc']);
  const memory = answer<MemoryResult>(memoryChild, 'result', 'memory', 120_000);
  memory.catch(() => undefined);

  // The service child sets itself up meanwhile too (Nest, users, sessions), then waits for `go`.
  let serviceChild: ChildProcess | undefined;
  let servicePrepared: Promise<unknown> = Promise.resolve();
  if (options.service) {
    serviceChild = spawn('service.ts', { DATABASE_URL: db.url, BENCH_SERVICE: JSON.stringify(options.serviceConfig) });
    servicePrepared = answer(serviceChild, 'prepared', 'service set-up', 300_000);
    servicePrepared.catch(() => undefined);
  }

  log(`starting ${options.variants.length} servers`);
  const servers = await Promise.all(options.variants.map((v) => startServer(v, env, options.profile.includes(v))));
  for (const server of servers) await logIn(server, users, options.connections, db.url);
  await servicePrepared;
  // The memory figure is done by now, or waited for: it must not take CPU from the first round.
  const memoryResult = await memory;
  log(`servers up and checked, service set up, in ${((Date.now() - started) / 1000).toFixed(1)} s`);

  log(`warm-up, ${options.warmupMs / 1000} s each`);
  for (const server of servers) await load(server, options.connections, options.warmupMs);

  const samples = new Map<Variant, Sample[]>(options.variants.map((v) => [v, []]));
  for (let round = 0; round < options.rounds; round++) {
    const order = shuffled(servers, round + 1);
    for (const server of order) {
      await sleep(options.quick ? 100 : 1_000);
      const sample = await load(server, options.connections, options.durationMs);
      samples.get(server.variant)!.push(sample);
      log(
        `round ${round + 1}/${options.rounds} ${server.variant.padEnd(2)} ${int(sample.rps).padStart(7)} req/s  p50 ${fixed(sample.p50, 0)} ms  p99 ${fixed(sample.p99, 0)} ms  server CPU ${int(sample.cpuPerRequest)} µs/req` +
          (sample.non2xx + sample.errors > 0 ? `  (${sample.non2xx} non-2xx, ${sample.errors} errors)` : ''),
      );
    }
  }
  await Promise.all(servers.map((s) => stopChild(s.child)));
  if (options.profile.length > 0) log(`CPU profiles in ${join(HERE, 'profiles')}`);

  log(`HTTP part done at ${((Date.now() - started) / 1000).toFixed(1)} s`);

  let service: ServiceResult | undefined;
  if (serviceChild) {
    log('service-level figures');
    if (serviceChild.exitCode !== null || serviceChild.signalCode !== null) throw new Error('service: exited while the HTTP part ran');
    // Timed from `go`, not from the spawn: the HTTP part before it takes 20 minutes and more.
    const serviceResult = answer<ServiceResult>(serviceChild, 'result', 'service', 900_000);
    serviceChild.send({ type: 'go' });
    service = await serviceResult;
  }

  // ---- the tables ----
  const stats = new Map<Variant, { rps: number; p50: number; p99: number; cpu: number; bad: number; rounds: number[] }>();
  for (const [variant, list] of samples) {
    stats.set(variant, {
      rps: median(list.map((s) => s.rps)),
      p50: median(list.map((s) => s.p50)),
      p99: median(list.map((s) => s.p99)),
      cpu: median(list.map((s) => s.cpuPerRequest)),
      bad: list.reduce((n, s) => n + s.non2xx + s.errors, 0),
      rounds: list.map((s) => s.rps),
    });
  }
  // The median of the per-round ratios.
  const pairedRatio = (xs: number[], ys: number[]) => median(xs.map((x, i) => x / ys[i]).filter((r) => Number.isFinite(r)));
  const ratio = (x: Variant, y: Variant) =>
    samples.has(x) && samples.has(y) ? pairedRatio(samples.get(x)!.map((s) => s.rps), samples.get(y)!.map((s) => s.rps)) : NaN;
  // Server CPU per request of x over y, per round (the two ran minutes apart at most): the median and the spread.
  const cpuOver = (x: Variant, y: Variant) => {
    const ys = samples.get(y)!;
    const over = samples.get(x)!.map((s, i) => s.cpuPerRequest - ys[i].cpuPerRequest);
    return { median: median(over), min: Math.min(...over), max: Math.max(...over) };
  };

  const out: string[] = [];
  out.push('');
  out.push(`nestjs-sessions benchmark (${options.quick ? 'quick' : 'full'}): ${command}`);
  out.push(
    `machine: ${os.cpus().length} cores (${os.cpus()[0]?.model.trim() ?? '?'}), ${Math.round(os.totalmem() / 2 ** 30)} GB, Node ${process.version}, PostgreSQL ${pgVersion}, Redis ${await redisVersion()}; ` +
      `load average at the end ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`,
  );
  out.push(
    `versions: @nestjs/core ${versionOf('@nestjs/core')}, express ${versionOf('express')}, typeorm ${versionOf('typeorm')}, pg ${versionOf('pg')}, ioredis ${versionOf('ioredis')}, ` +
      `express-session ${versionOf('express-session')}, connect-pg-simple ${versionOf('connect-pg-simple')}, connect-redis ${versionOf('connect-redis')}, redis ${versionOf('redis')}, autocannon ${versionOf('autocannon')}`,
  );
  if (options.variants.length > 0) {
    out.push('');
    out.push(
      `HTTP: GET /me -> {id,email}, ${options.connections} connections (one user's session each), ${options.rounds} rounds x ${options.durationMs / 1000} s per variant, interleaved; medians over rounds (ratios: median of the per-round ratios)`,
    );
    out.push(
      table(
        ['', 'variant', 'req/s', 'p50 ms', 'p99 ms', 'server CPU µs/req', 'req/s per round'],
        options.variants.map((v) => {
          const s = stats.get(v)!;
          return [v, VARIANTS[v] + (s.bad > 0 ? ` (${s.bad} failed)` : ''), int(s.rps), fixed(s.p50, 0), fixed(s.p99, 0), int(s.cpu), s.rounds.map(int).join(' ')];
        }),
        2,
      ),
    );
  }
  const extraRatios: [string, number][] = [
    // No guard can beat the route without one: b/d is at most a/d, e/f at most a/f.
    ['a/d (no auth vs express-session + pg, the bound of b/d; "about 4.8")', ratio('a', 'd')],
    ['a/f (no auth vs express-session + Redis, the bound of e/f)', ratio('a', 'f')],
    ['g/d (floor vs express-session + pg; "about 2.6")', ratio('g', 'd')],
    ['c/g0 (cache off vs the node:http floor)', ratio('c', 'g0')],
    ['bt/a (a guard and @CurrentUser() with no session check, vs no guard)', ratio('bt', 'a')],
    ['b/bt (the session check, cache on, vs a guard that checks nothing)', ratio('b', 'bt')],
    ['c/gp (cache off vs the floor with its SELECT prepared, as the store prepares its own)', ratio('c', 'gp')],
    ['af/a (Fastify vs Express, no auth)', ratio('af', 'a')],
    ['bf/b (Fastify vs Express, cache on)', ratio('bf', 'b')],
    ['cf/c (Fastify vs Express, cache off)', ratio('cf', 'c')],
    ['gf/g (Fastify vs Express, the floor)', ratio('gf', 'g')],
    ['c2/g (cache off, resolveUser: two queries, vs the floor)', ratio('c2', 'g')],
    ['c2/d (cache off, resolveUser, vs express-session + pg)', ratio('c2', 'd')],
    ['b/d0 (cache on vs express-session + pg without Nest)', ratio('b', 'd0')],
    ['c/d0 (cache off vs express-session + pg without Nest)', ratio('c', 'd0')],
    ['e0/f (Redis store, cache off, vs connect-redis)', ratio('e0', 'f')],
    ['bj/b (JWT vs opaque token, cache on)', ratio('bj', 'b')],
    ['bx/b (JWE vs opaque token, cache on)', ratio('bx', 'b')],
    ['bj/d (JWT, cache on, vs express-session + pg)', ratio('bj', 'd')],
    ['bm/b (details on vs off, cache hit)', ratio('bm', 'b')],
    ['cm/c (details on vs off, cache miss)', ratio('cm', 'c')],
    ['bm/a (details on, cache hit, vs no auth)', ratio('bm', 'a')],
    ['cm/g (details on, cache off, vs the floor)', ratio('cm', 'g')],
  ].filter(([, n]) => Number.isFinite(n)) as [string, number][];
  if (extraRatios.length) {
    out.push('');
    out.push('other ratios (no target): ' + extraRatios.map(([k, n]) => `${k} ${fixed(n)}`).join('; '));
  }

  if (service) {
    const med = (list: Throughput[], key: keyof Throughput) => median(list.map((t) => t[key]));
    out.push('');
    out.push(
      `service level (in-process, no HTTP): ${service.config.concurrency} concurrent callers, pool ${POOL_SIZE}, ${service.config.rounds} rounds x ${service.config.durationMs / 1000} s per side, interleaved; medians`,
    );
    const row = (name: string, list: Throughput[]) => [name, int(med(list, 'opsPerSec')), fixed(med(list, 'p50')), fixed(med(list, 'p99')), int(list.reduce((n, t) => n + t.errors, 0))];
    out.push(
      table(
        ['operation', 'ops/s', 'p50 ms', 'p99 ms', 'errors'],
        [
          row('createSession', service.create.ours),
          row('raw pg INSERT of the same row', service.create.raw),
          row("raw pg, createSession's own SQL (DELETE user's expired + INSERT), prepared", service.create.rawSameSql),
          row('  the same SQL unprepared (the store before issue 20)', service.create.rawSameSqlUnprepared),
          row('  raw pg INSERT of the same row, prepared', service.create.rawPrepared),
          row('validateSession, cache miss', service.validate.ours),
          row('raw pg SELECT by token hash', service.validate.raw),
        ],
      ),
    );
    out.push(
      `purge: ${int(service.purge.purged)} of ${int(service.purge.rows)} expired rows in ${fixed(service.purge.seconds)} s (${int(service.purge.purged / service.purge.seconds)} rows/s, batch ${int(service.purge.batchSize)}; loading them took ${fixed(service.purge.loadSeconds, 1)} s)`,
    );
  }
  out.push(
    `memory: ${fixed(memoryResult.bytesPerSession, 0)} bytes per cached session (${int(memoryResult.entries)} sessions through validateSession, heap ${fixed(memoryResult.heapBeforeMb, 1)} -> ${fixed(memoryResult.heapAfterMb, 1)} MB after GC)`,
  );

  // ---- targets ----
  type Target = { name: string; goal: string; value: number; shown: string; pass: boolean };
  const targets: Target[] = [];
  const atLeast = (name: string, value: number, goal: number) =>
    targets.push({ name, goal: `>= ${goal}`, value, shown: fixed(value), pass: value >= goal });
  const httpTargets: [Variant, Variant, number, string][] = [
    ['b', 'a', 0.9, 'b/a  SessionGuard (cache) vs no auth'],
    ['b', 'd', 4, 'b/d  SessionGuard (cache) vs express-session + pg'],
    ['c', 'd', 1.5, 'c/d  SessionGuard (no cache) vs express-session + pg'],
    ['c', 'g', 0.95, 'c/g  SessionGuard (no cache) vs one-SELECT floor'],
    // Issue 20's goals for the Fastify adapter, where Nest's own share of a request is smaller.
    ['bf', 'af', 0.95, 'bf/af  on Fastify: SessionGuard (cache) vs no auth'],
    ['cf', 'gf', 0.9, 'cf/gf  on Fastify: SessionGuard (no cache) vs one-SELECT floor'],
    ['e', 'f', 2, 'e/f  SessionGuard on Redis vs connect-redis'],
  ];
  for (const [x, y, goal, name] of httpTargets) if (stats.has(x) && stats.has(y)) atLeast(name, ratio(x, y), goal);
  // Issue 20: what the check adds to a request's server CPU, against the same route without it.
  const cpuTargets: [Variant, Variant, number, string][] = [
    ['b', 'a', 5, 'b - a  server CPU of a cache hit over no auth'],
    ['c', 'g', 40, 'c - g  server CPU of a cache miss over the floor'],
    ['bf', 'af', 5, 'bf - af  on Fastify: server CPU of a cache hit over no auth'],
  ];
  for (const [x, y, goal, name] of cpuTargets) {
    if (!stats.has(x) || !stats.has(y)) continue;
    const over = cpuOver(x, y);
    targets.push({ name: `${name} (µs/req; rounds ${fixed(over.min, 1)} to ${fixed(over.max, 1)})`, goal: `<= ${goal}`, value: over.median, shown: fixed(over.median, 1), pass: over.median <= goal });
  }
  if (service) {
    const create = pairedRatio(service.create.ours.map((t) => t.opsPerSec), service.create.raw.map((t) => t.opsPerSec));
    atLeast('createSession / raw INSERT', create, 0.9);
    const vsPrepared = pairedRatio(service.create.ours.map((t) => t.opsPerSec), service.create.rawPrepared.map((t) => t.opsPerSec));
    targets.push({ name: 'createSession / raw INSERT prepared (no target)', goal: '-', value: vsPrepared, shown: fixed(vsPrepared), pass: true });
    const validate = pairedRatio(service.validate.ours.map((t) => t.opsPerSec), service.validate.raw.map((t) => t.opsPerSec));
    targets.push({ name: 'cache-miss validation / raw SELECT (no target)', goal: '-', value: validate, shown: fixed(validate), pass: true });
    const scale = 1_000_000 / service.purge.rows;
    const seconds = service.purge.seconds * scale;
    targets.push({
      name: `purge 1,000,000 expired rows${scale === 1 ? '' : ` (${int(service.purge.rows)} measured, x${fixed(scale, 0)})`}`,
      goal: '< 20 s',
      value: seconds,
      shown: `${fixed(seconds, 1)} s`,
      pass: seconds < 20 && service.purge.purged === service.purge.rows,
    });
  }
  targets.push({
    name: 'memory per cached session',
    goal: '< 1024 B',
    value: memoryResult.bytesPerSession,
    shown: `${fixed(memoryResult.bytesPerSession, 0)} B`,
    pass: memoryResult.bytesPerSession < 1024,
  });
  out.push('');
  out.push('targets');
  out.push(table(['target', 'goal', 'measured', ''], targets.map((t) => [t.name, t.goal, t.shown, t.goal === '-' ? '' : t.pass ? 'PASS' : 'MISS'])));
  const misses = targets.filter((t) => t.goal !== '-' && !t.pass);
  out.push('');
  out.push(misses.length === 0 ? 'all targets met' : `MISSED: ${misses.map((t) => t.name.split('  ')[0]).join(', ')}`);
  out.push(`took ${((Date.now() - started) / 1000).toFixed(0)} s`);
  out.push('');
  process.stdout.write(out.join('\n'));

  if (options.json) {
    writeFileSync(
      options.json,
      JSON.stringify({ command, options, pgVersion, node: process.version, cores: os.cpus().length, samples: Object.fromEntries(samples), service, memory: memoryResult, targets }, null, 2),
    );
    log(`results written to ${options.json}`);
  }
}

try {
  await main();
} catch (error) {
  process.exitCode = 1;
  log(`failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
} finally {
  await cleanUp();
  // Nothing of ours should keep the process alive now; do not wait on a stray handle.
  process.exit();
}
