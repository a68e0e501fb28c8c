/**
 * The benchmark: `npm run bench` (about 25 minutes) or `npm run bench -- --quick` (under a minute).
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
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { createTestDatabase, type TestDatabase } from '../test/support/database.js';
import { type Variant, VARIANTS } from './common.js';
import type { MemoryResult } from './memory.js';
import { fixed, int, report } from './report.js';
import { children, load, log, logIn, resultOf, setUpDatabase, spawn, startServer } from './servers.js';
import type { ServiceConfig, ServiceResult } from './service.js';
import { answer, dropLogged, runScript, type Sample, stopChild } from './support.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const CORE: Variant[] = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'af', 'bf', 'cf', 'gf'];
const INFORMATIONAL: Variant[] = ['e0', 'c2', 'd0', 'g0', 'gp', 'bt', 'bj', 'bx', 'bm', 'cm'];

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

let db: TestDatabase | undefined;
let redisPrefix: string | undefined;

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
  const dropping = db;
  db = undefined;
  await dropLogged(dropping, log);
}

process.once('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

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

// ---- versions -------------------------------------------------------------------------------

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
  const memory = resultOf<MemoryResult>(memoryChild, 'memory', 120_000);
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
    const serviceResult = resultOf<ServiceResult>(serviceChild, 'service', 900_000);
    serviceChild.send({ type: 'go' });
    service = await serviceResult;
  }

  const { text, targets } = report({ options, command, samples, service, memory: memoryResult, pgVersion, redisVersion: await redisVersion(), started });
  process.stdout.write(text);

  if (options.json) {
    writeFileSync(
      options.json,
      JSON.stringify({ command, options, pgVersion, node: process.version, cores: os.cpus().length, samples: Object.fromEntries(samples), service, memory: memoryResult, targets }, null, 2),
    );
    log(`results written to ${options.json}`);
  }
}

await runScript(log, main, cleanUp);
