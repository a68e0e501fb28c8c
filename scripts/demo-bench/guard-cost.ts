/**
 * What the demo's SessionGuard costs per cache hit with no HTTP around it, feature by feature
 * (issue 20, item 1: what moves the demo's hit - open):
 *
 *   npm run bench:guard [-- --calls N] [--rounds N]
 *
 * (tsx's ESM hooks only, as scripts/demo-bench/processes.ts explains: its CommonJS hook would give
 * @nestjs/throttler a second @nestjs/core, and Nest could not inject the throttler's Reflector.)
 *
 * Defaults: 7 rounds of 100,000 calls per configuration. In one process, on one throwaway
 * PostgreSQL database (TEST_DATABASE_URL's server; dropped at the end), the compiled demo
 * (sample/dist on dist/, as `npm start` runs it) is built once per configuration:
 *   demo         the demo's own options (metadata with lastSeen, resolveContext, resolvePermissions)
 *   no-lastseen  the same with metadata but no lastSeen
 *   no-metadata  metadata: false
 *   no-context   no resolveContext, no resolvePermissions
 *   bare         neither metadata nor the resolvers
 * Each logs one user in 32 times through its HTTP API (32 sessions, as the HTTP benchmarks have
 * connections), then calls the app's own SessionGuard's
 * canActivate on GET /me's handler (AccountController.me) with a new request object per call, as
 * a request arrives, each with the next session's token, and its response. The calls are interleaved: each round runs every
 * configuration once, in a new order. `shell` is the same loop with a guard that attaches a
 * constant user and sets Cache-Control (the bench's `bt`): what any guard costs here. Reported
 * is the median CPU (user + system) per call over rounds, and each configuration's excess over
 * the shell. Nothing here is a target: the HTTP benchmarks are; this says which feature costs
 * what when the CPU's caches hold only the guard's code.
 */
import 'reflect-metadata';
import { ExecutionContextHost } from '@nestjs/core/helpers/execution-context-host.js';
import { type INestApplication } from '@nestjs/common';
import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import { SessionGuard } from 'nestjs-sessions';
import { dropLogged, runScript } from '../../bench/support.js';
import { median, table } from '../../bench/report.js';
import { createTestDatabase, type TestDatabase } from '../../test/support/database.js';

const SAMPLE_DIST = new URL('../../sample/dist/', import.meta.url);
const { createDemoApp } = (await import(new URL('app.js', SAMPLE_DIST).href)) as typeof import('../../sample/app.js');
const { readDemoConfig } = (await import(new URL('config.js', SAMPLE_DIST).href)) as typeof import('../../sample/config.js');
const { AccountController } = (await import(new URL('auth.controller.js', SAMPLE_DIST).href)) as typeof import('../../sample/auth.controller.js');

const log = (message: string) => console.error(`[guard-cost] ${message}`);
const AGENT = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';
// As many sessions as the HTTP benchmarks' connections: consecutive requests carry other tokens.
const TOKENS = 32;
const NO_RESOLVERS = { resolveContext: undefined, resolvePermissions: undefined };
const CONFIGURATIONS: Record<string, object> = {
  demo: {},
  'no-lastseen': { metadata: { userAgent: true, device: true, ip: 'full', lastSeen: false } },
  'no-metadata': { metadata: false },
  'no-context': NO_RESOLVERS,
  bare: { metadata: false, ...NO_RESOLVERS },
};

function parseArgs(argv: string[]): { calls: number; rounds: number } {
  const value = (name: string, fallback: number) => {
    const at = argv.indexOf(name);
    if (at < 0) return fallback;
    const n = Number(argv[at + 1]);
    if (!Number.isInteger(n) || n < 1) throw new Error(`${name}: expected a whole number of at least 1, got ${argv[at + 1]}`);
    return n;
  };
  for (const arg of argv) if (arg.startsWith('--') && arg !== '--calls' && arg !== '--rounds') throw new Error(`unknown option ${arg}; known: --calls --rounds`);
  return { calls: value('--calls', 100_000), rounds: value('--rounds', 7) };
}

interface Guarded {
  name: string;
  app: INestApplication;
  canActivate: (context: ExecutionContextHost) => unknown;
  tokens: string[];
}

async function startDemo(databaseUrl: string, name: string, overrides: object): Promise<Guarded> {
  const config = readDemoConfig({ DATABASE_URL: databaseUrl, LOGIN_IP_LIMIT: 'off', SESSION_CLEANUP_SCHEDULE: 'off' });
  const app = await createDemoApp(
    { databaseUrl, poolSize: 2, freshAge: config.freshAge, loginThrottle: config.loginThrottle, session: { ...config.session, ...overrides } },
    'express',
  );
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as { port: number };
  const post = (path: string, body: object) =>
    fetch(`http://127.0.0.1:${port}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', 'user-agent': AGENT }, body: JSON.stringify(body) });
  const account = { email: `guard-cost-${name}@example.com`, password: 'guard-cost password, not a real one' };
  if ((await post('/auth/register', account)).status !== 201) throw new Error(`${name}: register failed`);
  const guard = app.get(SessionGuard);
  const canActivate = (context: ExecutionContextHost) => guard.canActivate(context);
  const tokens: string[] = [];
  for (let i = 0; i < TOKENS; i++) {
    const login = await post('/auth/login', account);
    if (login.status !== 200) throw new Error(`${name}: login answered ${login.status}`);
    const { token } = (await login.json()) as { token: string };
    // The first check is a miss (a login does not fill the cache): awaited here, not measured.
    if ((await canActivate(contextOf(token, new ServerResponse(new IncomingMessage(new Socket()))))) !== true) throw new Error(`${name}: the guard refused a new session`);
    tokens.push(token);
  }
  return { name, app, canActivate, tokens };
}

/** A context as Nest makes one for GET /me: a new request object carrying `token`, and `response`. */
function contextOf(token: string, response: ServerResponse): ExecutionContextHost {
  const request = { headers: { authorization: `Bearer ${token}`, 'user-agent': AGENT, accept: '*/*', host: '127.0.0.1' }, ip: '127.0.0.1', method: 'GET', url: '/me' };
  return new ExecutionContextHost([request, response, undefined], AccountController, AccountController.prototype.me);
}

// The bench's `bt`: what a guard that checks nothing does to a request.
function shellGuard(context: ExecutionContextHost): boolean {
  const http = context.switchToHttp();
  http.getRequest<{ user?: object }>().user = SHELL_USER;
  http.getResponse<ServerResponse>().setHeader('cache-control', 'no-store');
  return true;
}
const SHELL_USER = { id: '00000000-0000-4000-8000-000000000000', email: 'shell@example.com' };

/** CPU µs per call of `canActivate` over `calls` new requests, each with the next of `tokens`. */
function measure(canActivate: Guarded['canActivate'], tokens: string[], calls: number): number {
  const response = new ServerResponse(new IncomingMessage(new Socket()));
  const start = process.cpuUsage();
  for (let i = 0; i < calls; i++) {
    // Synchronous true is a cache hit; a promise would be a miss, which this does not measure.
    if (canActivate(contextOf(tokens[i % tokens.length], response)) !== true) throw new Error('the guard did not answer from its cache');
  }
  const used = process.cpuUsage(start);
  return (used.user + used.system) / calls;
}

let db: TestDatabase | undefined;
const apps: INestApplication[] = [];

async function main(): Promise<void> {
  const { calls, rounds } = parseArgs(process.argv.slice(2));
  db = await createTestDatabase('nss_guardcost');
  const guarded: Guarded[] = [];
  for (const [name, overrides] of Object.entries(CONFIGURATIONS)) {
    const started = await startDemo(db.url, name, overrides);
    apps.push(started.app);
    guarded.push(started);
  }
  const runs = [{ name: 'shell', canActivate: shellGuard, tokens: guarded[0].tokens }, ...guarded];
  const results = new Map<string, number[]>(runs.map((r) => [r.name, []]));
  for (const run of runs) measure(run.canActivate, run.tokens, calls); // warm-up
  for (let round = 0; round < rounds; round++) {
    const order = runs.map((run, i) => ({ run, key: (i * 7 + round * 3) % runs.length })).sort((x, y) => x.key - y.key);
    for (const { run } of order) results.get(run.name)!.push(measure(run.canActivate, run.tokens, calls));
    log(`round ${round + 1}/${rounds} done`);
  }
  const shell = median(results.get('shell')!);
  const rows = runs.map((run) => {
    const perRound = results.get(run.name)!;
    const cost = median(perRound);
    return [run.name, cost.toFixed(2), run.name === 'shell' ? '' : `+${(cost - shell).toFixed(2)}`, perRound.map((v) => v.toFixed(2)).join(' ')];
  });
  console.log(`\nSessionGuard.canActivate on the demo's GET /me, a cache hit, no HTTP: npm run bench:guard -- ${process.argv.slice(2).join(' ')}`);
  console.log(`Node ${process.version}, ${rounds} rounds x ${calls.toLocaleString('en-US')} calls per configuration, interleaved; medians over rounds\n`);
  console.log(table(['configuration', 'CPU µs/call', 'over shell', 'per round'], rows));
}

// The database first: its drop WITH (FORCE) ends the apps' connections, so closing them is quick.
await runScript(log, main, async () => {
  await dropLogged(db, log);
  await Promise.all(apps.map((app) => app.close().catch(() => undefined)));
});
