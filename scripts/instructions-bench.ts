/**
 * Instructions per request, counted by valgrind's callgrind in the server (issue 20, item 1):
 * what a cache hit costs over HTTP in work done, whatever else the two cores are doing.
 *
 *   npm run bench:instructions [-- --variants a,bt,b] [--requests N] [--names]
 *
 * Timings on a shared machine swing from round to round; an instruction count does not (the
 * same code, inputs and JIT state give the same total). Each variant's bench server
 * (bench/server-nest.ts, as `npm run bench` runs it) starts under callgrind on one throwaway
 * PostgreSQL database; 32 users log in as in the bench; after a warm-up of 4,000 requests the
 * counters are zeroed, N requests (default 2,000, 8 connections, each its own session) are
 * sent, and the counters dumped; three times. What V8 compiles and collects lands in some
 * counts and not others (up to 20% more), so the figure is the smallest count: the one with
 * the least of that in it, which came out within 1.5% over two to four runs of the same code
 * (a larger warm-up did not settle every variant). Reported: instructions per request of the
 * whole server process (Node, V8's JIT code, GC, libuv, ours), and each variant's excess over
 * `a`. The dumps stay in bench/profiles/callgrind-<variant>/ for `callgrind_annotate`. `--names` starts the servers
 * with `--perf-basic-prof`, so the JIT code has names too (bench/callgrind-names.ts), and prints
 * for each variant the functions whose own instructions differ most from the first variant's.
 * Callgrind runs a program some 50 times slower, so a variant takes about three minutes; the
 * counts are what matters, not its req/s.
 *
 * Where the excess over `a` is near what `npm run bench:guard` measures in a loop, the rest of
 * a measured time gap is not instructions but waiting on memory (caches shared with the load
 * generator and PostgreSQL), which no change of ours removes.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { instructionsByFunction, largestDifferences } from '../bench/callgrind-names.js';
import { int, table } from '../bench/report.js';
import { type BenchUser, children, logIn, setUpDatabase, spawn, type Server } from '../bench/servers.js';
import { answer, dropLogged, runScript, stopChild } from '../bench/support.js';
import type { Variant } from '../bench/common.js';
import { createTestDatabase, type TestDatabase } from '../test/support/database.js';

const PROFILES = join(import.meta.dirname, '../bench/profiles');
const log = (message: string) => console.error(`[instructions] ${message}`);
const KNOWN: Variant[] = ['a', 'bt', 'b', 'c', 'g'];
const CONNECTIONS = 8;
const SESSIONS = 32;
const WARM_UP = 4_000;
const COUNTS = 3;

interface Options {
  variants: Variant[];
  requests: number;
  names: boolean;
}

function parseArgs(argv: string[]): Options {
  const value = (name: string) => {
    const at = argv.indexOf(name);
    return at < 0 ? undefined : argv[at + 1];
  };
  const flags = ['--variants', '--requests', '--names'];
  for (const arg of argv) if (arg.startsWith('--') && !flags.includes(arg)) throw new Error(`unknown option ${arg}; known: ${flags.join(' ')}`);
  const variants = (value('--variants') ?? 'a,bt,b').split(',') as Variant[];
  for (const v of variants) if (!KNOWN.includes(v)) throw new Error(`--variants: unknown variant ${v}; known: ${KNOWN.join(',')}`);
  const requests = Number(value('--requests') ?? 2_000);
  if (!Number.isInteger(requests) || requests < 100) throw new Error(`--requests: expected a whole number of at least 100`);
  return { variants, requests, names: argv.includes('--names') };
}

/** `amount` requests on `server`'s GET /me, each connection with its own session. */
async function send(server: Server, amount: number): Promise<void> {
  let next = 0;
  const result = await autocannon({
    url: `http://127.0.0.1:${server.port}/me`,
    connections: CONNECTIONS,
    amount,
    timeout: 60,
    setupClient: (client) => client.setHeaders(server.credentials[next++ % server.credentials.length].headers),
  });
  if (result['2xx'] !== amount) throw new Error(`${server.variant}: ${result['2xx']} of ${amount} requests answered 2xx (${result.non2xx} others, ${result.errors} errors)`);
}

/** The instructions callgrind counted in `pid` since its counters were last zeroed, and the dump's path. */
function dump(pid: number, dir: string): { instructions: number; file: string } {
  const before = new Set(readdirSync(dir));
  execFileSync('callgrind_control', ['--dump', `${pid}`], { stdio: 'ignore' });
  const dumped = readdirSync(dir).filter((f) => !before.has(f));
  if (dumped.length !== 1) throw new Error(`callgrind_control --dump ${pid}: expected one new file in ${dir}, found ${dumped.length}`);
  const totals = /^(?:summary|totals): (\d+)/m.exec(readFileSync(join(dir, dumped[0]), 'utf8'));
  if (!totals) throw new Error(`no totals in ${dumped[0]}`);
  return { instructions: Number(totals[1]), file: join(dir, dumped[0]) };
}

interface Counted {
  /** Instructions per request, one per count. */
  counts: number[];
  /** The smallest count's self instructions per request by function (`--names`). */
  functions?: Map<string, number>;
}

async function measure(variant: Variant, env: Record<string, string>, users: BenchUser[], databaseUrl: string, { requests, names }: Options): Promise<Counted> {
  const dir = join(PROFILES, `callgrind-${variant}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const valgrind = ['--tool=callgrind', `--callgrind-out-file=${join(dir, 'callgrind.%p')}`, '--dump-instr=no', process.execPath, ...(names ? ['--perf-basic-prof'] : [])];
  const child = spawn('server-nest.ts', { ...env, BENCH_VARIANT: variant }, valgrind, 'valgrind');
  log(`${variant}: starting under callgrind (minutes)`);
  const { port } = await answer<{ port: number }>(child, 'ready', `server ${variant}`, 15 * 60_000);
  const server: Server = { variant, port, child, credentials: [] };
  await logIn(server, users, SESSIONS, databaseUrl);
  await send(server, WARM_UP);
  const counts: number[] = [];
  const files: string[] = [];
  for (let repeat = 0; repeat < COUNTS; repeat++) {
    execFileSync('callgrind_control', ['--zero', `${child.pid}`], { stdio: 'ignore' });
    await send(server, requests);
    const dumped = dump(child.pid!, dir);
    counts.push(dumped.instructions / requests);
    files.push(dumped.file);
    log(`${variant}: ${int(counts[repeat])} instructions per request`);
  }
  await stopChild(child);
  const least = counts.indexOf(Math.min(...counts));
  return { counts, functions: names ? instructionsByFunction(files[least], child.pid!, requests) : undefined };
}

let db: TestDatabase | undefined;

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  const { variants, requests } = options;
  execFileSync('valgrind', ['--version'], { stdio: 'ignore' });
  // callgrind_annotate has no option that exits 0: only whether it runs at all is asked.
  if (options.names && spawnSync('callgrind_annotate', ['--version']).error) throw new Error('--names needs callgrind_annotate (part of valgrind)');
  db = await createTestDatabase('nss_instructions');
  const { users } = await setUpDatabase(db.url);
  const results = new Map<Variant, Counted>();
  // One at a time: under callgrind each server needs a core of its own.
  for (const variant of variants) results.set(variant, await measure(variant, { DATABASE_URL: db.url }, users, db.url, options));
  const steady = (v: Variant) => Math.min(...results.get(v)!.counts);
  const base = results.has('a') ? steady('a') : undefined;
  const rows = variants.map((v) => [v, int(steady(v)), base === undefined || v === 'a' ? '' : `+${int(steady(v) - base)}`, results.get(v)!.counts.map(int).join(' ')]);
  console.log(`\nInstructions per request in the server, counted by callgrind: npm run bench:instructions -- ${process.argv.slice(2).join(' ')}`);
  console.log(`Node ${process.version}; GET /me, ${requests.toLocaleString('en-US')} requests per count after ${WARM_UP.toLocaleString('en-US')} of warm-up, ${CONNECTIONS} connections, ${SESSIONS} sessions; the figure is the smallest count\n`);
  console.log(table(['variant', 'instructions/request', 'over a', 'per count'], rows));
  if (!options.names) return;
  const [first, ...others] = variants;
  for (const v of others) {
    const differences = largestDifferences(results.get(first)!.functions!, results.get(v)!.functions!, 30);
    console.log(`\n${v} against ${first}, self instructions per request by function (the 30 largest differences)\n`);
    console.log(table(['function', `${v} − ${first}`, v], differences.map(([name, excess, own]) => [name.slice(0, 110), `${excess >= 0 ? '+' : ''}${int(excess)}`, int(own)])));
  }
}

await runScript(log, main, async () => {
  await Promise.all([...children].map(stopChild));
  await dropLogged(db, log);
});
