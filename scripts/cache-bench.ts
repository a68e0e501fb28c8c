/**
 * Cache benchmark: a working set larger than the in-process cache.
 *
 *   node --expose-gc --import tsx scripts/cache-bench.ts [--quick] [--json FILE]
 *
 * On a throwaway PostgreSQL database (TEST_DATABASE_URL, default postgres://postgres@127.0.0.1:5432;
 * dropped at the end, also on failure or Ctrl-C) it loads 100,000 live sessions of 100,000 users
 * (--quick: 20,000, and caches a tenth as big, the same ratio) and validates them through
 * `SessionService.validateSession` from 16 concurrent loops, with two access patterns: uniform
 * over all sessions, and Zipf (s = 1: the top tenth of the sessions take ~80% of the requests).
 * Each pattern runs against:
 *   off       cache: false, a SELECT per request (the floor of the cache's worth);
 *   entries   the default cache, bounded at 10,000 entries;
 *   bytes     a cache bounded by estimated bytes (lru-cache maxSize + sizeCalculation,
 *             scripts/cache-bench/entry-size.ts) with the budget the default takes with small users;
 *   all       a cache of 100,000 entries: everything fits, the ceiling (filled first).
 * with small users ({id, email}), and entries and bytes again with a mixed population (every
 * tenth user carries a 2 KB profile), where a bound by entries no longer bounds the memory;
 * there also `bytes=`, a byte bound with the budget of the mix's average entry × 10,000, the
 * memory the bound by entries takes: the same memory, to compare hit ratios.
 *
 * Reported per run: hit ratio (from the service's own sessions_cache_total counter), validations
 * per second, p50/p99 latency, the heap the cache holds (heap after GC, less the same with the
 * cache off) and RSS. Each run warms up with its own pattern first. On a shared 2-core machine
 * read the ratios between rows of one run, not the absolute numbers.
 */
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { getDataSourceToken } from '@nestjs/typeorm';
import type { INestApplicationContext } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import { register } from 'prom-client';
import { SessionService } from '../src/index.js';
import { cachedSession } from '../src/cache/cached-entry.js';
import { ByteBoundCache, entryBytes } from './cache-bench/entry-size.js';
import type { LocalSessionCache } from '../src/cache/local-session.cache.js';
import { DEFAULT_CACHE_SIZE } from '../src/cache/cache.options.js';
import { createTestDatabase, type TestDatabase } from '../test/support/database.js';
import { dropThenClose, runScript } from '../bench/support.js';
import { loadSessions, startApp, userResolver } from './cache-bench/setup.js';
import { drive, type LoadResult, type Pattern, uniform, zipf } from './cache-bench/workload.js';

const LOOPS = 16;
const args = process.argv.slice(2);
const quick = args.includes('--quick');
const jsonAt = args.indexOf('--json');
const jsonFile = jsonAt === -1 ? undefined : args[jsonAt + 1];
const SESSIONS = quick ? 20_000 : 100_000;
const CACHE = quick ? 2_000 : DEFAULT_CACHE_SIZE;
const WARM_MS = quick ? 1_500 : 4_000;
const MEASURE_MS = quick ? 2_000 : 8_000;
const TTL = 300_000;

type Mix = 'small' | 'mixed';
type Variant = 'off' | 'entries' | 'bytes' | 'bytes=' | 'all';
interface Row extends LoadResult {
  mix: Mix;
  variant: Variant;
  pattern: string;
  hitRatio: number | null;
  cached: number;
  cacheMb: number;
  heapMb: number;
  rssMb: number;
}

const log = (message: string) => process.stderr.write(`[cache-bench] ${message}\n`);
const gc = (globalThis as { gc?: () => void }).gc;
function heapUsed(): number {
  if (gc) for (let i = 0; i < 3; i++) gc();
  return process.memoryUsage().heapUsed;
}

async function cacheCounts(): Promise<{ hit: number; miss: number }> {
  const metric = register.getSingleMetric('sessions_cache_total');
  const counts = { hit: 0, miss: 0 };
  for (const { labels, value } of (await metric?.get())?.values ?? []) counts[labels.result as 'hit' | 'miss'] += value;
  return counts;
}

// The budget of the byte-bounded cache, by the same estimate the bound counts with: what the
// default cache holds of small users ('bytes'), or of the mix's average user ('bytes=', the
// memory the bound by entries takes there).
function budget(mix: Mix): number {
  const users = mix === 'small' ? 1 : 10;
  let sum = 0;
  for (let i = 0; i < users; i++) {
    const userId = `00000000-0000-4000-8000-00000000000${i}`;
    const user = userResolver(mix)(userId);
    sum += entryBytes(cachedSession({ id: '1000001', userId, expiresAt: Date.now(), createdAt: Date.now(), user, permissions: [], context: undefined, details: undefined }, Date.now()), 'x'.repeat(44));
  }
  return Math.round((CACHE * sum) / users);
}

let db: TestDatabase | undefined;
let app: INestApplicationContext | undefined;
async function cleanUp(): Promise<void> {
  const [dropping, closing] = [db, app];
  [db, app] = [undefined, undefined];
  await dropThenClose(dropping, closing, log);
}

async function run(url: string, data: { tokens: string[]; userIds: string[] }, mix: Mix, variant: Variant, patterns: Pattern[], offHeap: Map<string, number>, rows: Row[]): Promise<void> {
  const cache = variant === 'off' ? false : variant === 'all' ? { size: SESSIONS } : { size: CACHE };
  app = await startApp(url, cache, mix, LOOPS + 4);
  const sessions = app.get(SessionService) as SessionService<{ id: string }>;
  const local = (sessions as unknown as { authenticator: { local: { cache: LocalSessionCache | null } } }).authenticator.local;
  // The one variant the module has no option for: swapped in before the first validation.
  if (variant === 'bytes' || variant === 'bytes=') local.cache = new ByteBoundCache(TTL, budget(variant === 'bytes' ? 'small' : mix));
  if (variant === 'all') {
    log(`${mix}/${variant}: filling all ${SESSIONS.toLocaleString('en-US')} sessions`);
    await drive(sessions, data.tokens, data.userIds, LOOPS, { indexes: Array.from({ length: SESSIONS }, (_, i) => i) });
  }
  for (const pattern of patterns) {
    await drive(sessions, data.tokens, data.userIds, LOOPS, { pattern, ms: WARM_MS });
    const before = await cacheCounts();
    const result = await drive(sessions, data.tokens, data.userIds, LOOPS, { pattern, ms: MEASURE_MS });
    const after = await cacheCounts();
    const hits = after.hit - before.hit;
    const lookups = hits + after.miss - before.miss;
    const heap = heapUsed();
    if (variant === 'off') offHeap.set(pattern.name, heap);
    const row: Row = {
      mix,
      variant,
      pattern: pattern.name,
      ...result,
      hitRatio: variant === 'off' ? null : lookups > 0 ? hits / lookups : 0,
      cached: local.cache?.size ?? 0,
      cacheMb: (heap - (offHeap.get(pattern.name) ?? heap)) / 2 ** 20,
      heapMb: heap / 2 ** 20,
      rssMb: process.memoryUsage().rss / 2 ** 20,
    };
    rows.push(row);
    log(`${mix}/${variant}/${pattern.name}: ${Math.round(row.requests / row.seconds)} req/s, hit ${row.hitRatio === null ? '-' : (row.hitRatio * 100).toFixed(1) + '%'}, cache ${row.cacheMb.toFixed(1)} MB`);
  }
  await app.close();
  app = undefined;
}

function table(rows: Row[]): string {
  const head = ['users', 'cache', 'pattern', 'hit %', 'req/s', 'p50 ms', 'p99 ms', 'entries', 'cache MB', 'B/entry', 'heap MB', 'RSS MB'];
  const w = [6, 7, 8, 6, 7, 7, 7, 8, 9, 8, 8, 7];
  const line = (cells: string[]) => cells.map((c, i) => (i < 3 ? c.padEnd(w[i]) : c.padStart(w[i]))).join('  ');
  return [
    line(head),
    ...rows.map((r) =>
      line([
        r.mix,
        r.variant,
        r.pattern,
        r.hitRatio === null ? '-' : (r.hitRatio * 100).toFixed(1),
        Math.round(r.requests / r.seconds).toLocaleString('en-US'),
        r.p50.toFixed(2),
        r.p99.toFixed(2),
        r.cached.toLocaleString('en-US'),
        r.variant === 'off' ? '-' : r.cacheMb.toFixed(1),
        r.cached > 0 ? Math.round((r.cacheMb * 2 ** 20) / r.cached).toString() : '-',
        r.heapMb.toFixed(1),
        r.rssMb.toFixed(0),
      ]),
    ),
  ].join('\n');
}

async function main(): Promise<void> {
  if (!gc) log('run with node --expose-gc for the memory figures (heap after GC)');
  db = await createTestDatabase('nss_cache_bench');
  log(`database ${db.name}; loading ${SESSIONS.toLocaleString('en-US')} sessions`);
  app = await startApp(db.url, false, 'small', 4);
  const dataSource = app.get<DataSource>(getDataSourceToken());
  const [{ server_version: pgVersion }] = (await dataSource.query('SHOW server_version')) as { server_version: string }[];
  const data = await loadSessions(dataSource, SESSIONS);
  await app.close();
  app = undefined;

  const patterns = [uniform(SESSIONS), zipf(SESSIONS)];
  const rows: Row[] = [];
  const offHeap = new Map<string, number>();
  const runs: [Mix, Variant][] = [['small', 'off'], ['small', 'entries'], ['small', 'bytes'], ['small', 'all'], ['mixed', 'entries'], ['mixed', 'bytes'], ['mixed', 'bytes=']];
  for (const [mix, variant] of runs) await run(db.url, data, mix, variant, patterns, offHeap, rows);

  const command = `node --expose-gc --import tsx scripts/cache-bench.ts${quick ? ' --quick' : ''}`;
  const bytes = budget('small');
  process.stdout.write(
    [
      '',
      `cache benchmark: ${SESSIONS.toLocaleString('en-US')} live sessions, ${LOOPS} loops, cache ${CACHE.toLocaleString('en-US')} entries or ${(bytes / 2 ** 20).toFixed(2)} MB (estimated; 'bytes=' ${(budget('mixed') / 2 ** 20).toFixed(2)} MB), ttl 5m; ${MEASURE_MS / 1000} s per row after ${WARM_MS / 1000} s of warm-up`,
      `machine: ${os.cpus().length} CPUs, Node ${process.version}, PostgreSQL ${pgVersion}; ${command}`,
      `cache MB: heap after GC less the same pattern's with the cache off (small users); 'mixed': every tenth user has a 2 KB profile`,
      '',
      table(rows),
      '',
    ].join('\n'),
  );
  if (jsonFile) writeFileSync(jsonFile, JSON.stringify({ command, node: process.version, pgVersion, cores: os.cpus().length, sessions: SESSIONS, cache: CACHE, budgetBytes: bytes, rows }, null, 2));
  if (rows.some((r) => r.failures > 0)) process.exitCode = 1;
}

await runScript(log, main, cleanUp);
