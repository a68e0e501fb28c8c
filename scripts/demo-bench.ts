/**
 * The demo app's own configuration, measured from outside over HTTP (issue 20, items 1 and 2):
 *
 *   npm run build && node --import tsx scripts/demo-bench.ts [--quick] [--rounds N] [--duration S]
 *        [--connections N] [--profile] [--json FILE]
 *
 * Defaults: 5 rounds x 5 s, 32 connections; --quick: 2 rounds x 2 s. It runs the compiled demo
 * (sample/dist on dist/, what `npm start` runs), so build first; it warns when src/ or sample/ is
 * newer than the build.
 *
 * On one throwaway PostgreSQL database (TEST_DATABASE_URL's server, default
 * postgres://postgres@127.0.0.1:5432; dropped at the end, also on failure or Ctrl-C), which the
 * demo's own migrations fill at its start (migrationsRun), three servers, each its own process
 * (scripts/demo-bench/server-*.ts):
 *   demo-hit   the demo as createDemoApp builds it (APP_GUARD SessionGuard, resolvePermissions and
 *              resolveContext, the session details, metrics with METRICS_TOKEN), cache on, plus
 *              one `@Public() GET /bench/open` answering /me's shape, with two parameters as /me has, from constants;
 *   demo-miss  the same demo with the cache off (SESSION_CACHE_SIZE=0);
 *   floor      bare Express + a pg Pool of 10: sha256 of the bearer token and one SELECT of the
 *              session joined to its user on the same tables.
 * Users register and log in through the demo's HTTP API, one session per connection; the same
 * tokens serve all three. The measurements (hit: demo-hit /me; open: demo-hit /bench/open;
 * miss: demo-miss /me; floor: floor /me; floorp: floor /me/prepared, its SELECT prepared, no
 * target) run interleaved, each round in a shuffled order (fixed seeds), after a warm-up of
 * each; reported are medians over rounds of req/s, p50, p99 and the
 * server's CPU per request (user + system, asked over IPC before and after), the SQL statements
 * per request (counted in the server before the rounds), and the targets: hit - open ≤ 5 µs of
 * CPU per request (median of the per-round differences, with their spread) and miss / floor
 * ≥ 0.8 of req/s (median of the per-round ratios). Exits 0 whether they pass or not, 1 when it
 * could not measure. --profile runs demo-hit under --cpu-prof (bench/profiles/demo-hit/, for
 * bench/profile-summary.ts; the library runs compiled, from dist/).
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, statSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../test/support/database.js';
import { dropLogged, runScript, stopChild } from '../bench/support.js';
import { children, type Child, load, log, type Sample, startServer, statementsDuring } from './demo-bench/processes.js';
import { MEASURES, type Measure, report, shuffled, writeJson } from './demo-bench/report.js';
import { cacheCounters, checkServers, inSeries, logInUsers } from './demo-bench/sessions.js';

const ROOT = join(import.meta.dirname, '..');

function parseArgs(argv: string[]) {
  const known = new Set(['--quick', '--rounds', '--duration', '--connections', '--profile', '--json']);
  for (const arg of argv) if (arg.startsWith('--') && !known.has(arg)) throw new Error(`unknown option ${arg}; known: ${[...known].join(' ')}`);
  const value = (name: string): string | undefined => {
    const at = argv.indexOf(name);
    if (at === -1) return undefined;
    const v = argv[at + 1];
    if (v === undefined || v.startsWith('--')) throw new Error(`${name}: a value is missing`);
    return v;
  };
  const number = (name: string, fallback: number): number => {
    const raw = value(name);
    const n = raw === undefined ? fallback : Number(raw);
    if (!Number.isFinite(n) || n < 1) throw new Error(`${name}: expected a number of at least 1, got ${raw}`);
    return n;
  };
  const quick = argv.includes('--quick');
  return {
    quick,
    rounds: Math.round(number('--rounds', quick ? 2 : 5)),
    // Whole seconds: autocannon stops on its one-second tick.
    durationMs: Math.ceil(number('--duration', quick ? 2 : 5)) * 1000,
    warmupMs: quick ? 1_000 : 2_000,
    pauseMs: quick ? 100 : 1_000,
    connections: Math.round(number('--connections', 32)),
    profile: argv.includes('--profile'),
    json: value('--json'),
  };
}

/** The newest modification time of the .ts files under `dir`, ms. */
function newest(dir: string): number {
  let latest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile() && entry.name.endsWith('.ts') && !entry.parentPath.includes('dist')) latest = Math.max(latest, statSync(join(entry.parentPath, entry.name)).mtimeMs);
  }
  return latest;
}

/** What was measured: the build's time, the commit, and whether src/ or sample/ had uncommitted changes. */
function checkBuild(): string {
  const library = join(ROOT, 'dist/index.js');
  const demo = join(ROOT, 'sample/dist/app.module.js');
  if (!existsSync(library) || !existsSync(demo)) throw new Error('no build of the library or the demo: run npm run build first');
  const built = Math.min(statSync(library).mtimeMs, statSync(demo).mtimeMs);
  if (Math.max(newest(join(ROOT, 'src')), newest(join(ROOT, 'sample'))) > built) log('WARNING: src/ or sample/ changed after the last build; this measures the build (npm run build to refresh)');
  const git = (...args: string[]) => execFileSync('git', args, { cwd: ROOT, encoding: 'utf8' }).trim();
  const dirty = git('status', '--porcelain', '--', 'src', 'sample') !== '';
  return `build of ${new Date(built).toISOString().slice(0, 16)}Z on ${git('rev-parse', '--short', 'HEAD')}${dirty ? ' with uncommitted changes in src/ or sample/' : ''}`;
}

let db: TestDatabase | undefined;

async function cleanUp(): Promise<void> {
  await Promise.all([...children].map(stopChild));
  await dropLogged(db, log);
}

process.once('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

async function postgresVersion(url: string): Promise<string> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return ((await client.query('SHOW server_version')).rows[0] as { server_version: string }).server_version;
  } finally {
    await client.end();
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  const started = Date.now();
  const loadStart = os.loadavg();
  const build = checkBuild();

  db = await createTestDatabase('nss_demobench');
  const metricsToken = randomBytes(32).toString('base64url');
  const env = { DATABASE_URL: db.url, METRICS_TOKEN: metricsToken };
  log(`database ${db.name}`);
  // One after another: each demo runs the migrations at start, and two at once would race.
  const hit = await startServer('demo-hit', env, options.profile ? join(ROOT, 'bench', 'profiles', 'demo-hit') : undefined);
  const [miss, floor] = await Promise.all([startServer('demo-miss', env), startServer('floor', env)]);
  const servers: Record<Measure, Child> = { hit, open: hit, miss, floor, floorp: floor };
  log(`servers up in ${((Date.now() - started) / 1000).toFixed(1)} s; registering and logging in ${options.connections} users`);

  const credentials = await logInUsers(hit, options.connections);
  const headers = credentials.map((c) => c.headers);
  await checkServers(hit, miss, floor, credentials);
  const measures = Object.keys(MEASURES) as Measure[];
  const statements = {} as Record<Measure, number>;
  const counted = credentials.length * 4;
  for (const m of measures) statements[m] = (await statementsDuring(servers[m], () => inSeries(servers[m], MEASURES[m].path, credentials, counted))) / counted;
  log(`checked; SQL statements per request: ${measures.map((m) => `${m} ${statements[m].toFixed(2)}`).join(', ')}`);

  log(`warm-up, ${options.warmupMs / 1000} s each`);
  for (const m of measures) await load(servers[m], MEASURES[m].path, headers, options.connections, options.warmupMs);

  const samples = Object.fromEntries(measures.map((m) => [m, [] as Sample[]])) as Record<Measure, Sample[]>;
  for (let round = 0; round < options.rounds; round++) {
    for (const m of shuffled(measures, round + 1)) {
      await sleep(options.pauseMs);
      const before = m === 'hit' ? await cacheCounters(hit, metricsToken) : undefined;
      const sample = await load(servers[m], MEASURES[m].path, headers, options.connections, options.durationMs);
      if (before) {
        const after = await cacheCounters(hit, metricsToken);
        sample.cache = { hit: after.hit - before.hit, miss: after.miss - before.miss };
      }
      sample.loadAverage = os.loadavg()[0];
      samples[m].push(sample);
      log(
        `round ${round + 1}/${options.rounds} ${m.padEnd(5)} ${Math.round(sample.rps).toString().padStart(6)} req/s  p50 ${sample.p50} ms  p99 ${sample.p99} ms  CPU ${sample.cpuPerRequest.toFixed(1)} µs/req` +
          (sample.non2xx + sample.errors > 0 ? `  (${sample.non2xx} non-2xx, ${sample.errors} errors)` : ''),
      );
    }
  }
  const postgres = await postgresVersion(db.url);
  await Promise.all([hit, miss, floor].map((c) => stopChild(c.process)));

  const command = `node --import tsx scripts/demo-bench.ts${process.argv.length > 2 ? ` ${process.argv.slice(2).join(' ')}` : ''}`;
  const cpu = os.cpus();
  const { text, json } = report({
    command,
    options: { quick: options.quick, rounds: options.rounds, durationMs: options.durationMs, connections: options.connections },
    machine: { cores: cpu.length, cpu: cpu[0]?.model.trim() ?? '?', node: process.version, postgres, loadStart, loadEnd: os.loadavg(), build },
    samples,
    statements,
    seconds: (Date.now() - started) / 1000,
  });
  process.stdout.write(text);
  if (options.json) {
    writeJson(options.json, json);
    log(`results written to ${options.json}`);
  }
}

await runScript(log, main, cleanUp);
