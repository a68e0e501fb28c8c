/**
 * bench/run.ts's children and their load: the throwaway database's tables and users, each
 * variant's server forked under tsx and its users logged in, and autocannon driving one with the
 * server's own CPU time read over IPC.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import pg from 'pg';
import { DataSource, type MigrationInterface, type QueryRunner } from 'typeorm';
import { createSessionDetailsMigration, createSessionsMigration } from '../src/index.js';
import { generateToken } from '../src/tokens/opaque-token.js';
import { baseOf, type ChildMessage, SERVER_FILE, type Variant } from './common.js';
import { answer, type Sample, sampleOf } from './support.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const USERS = 1_000;
const require = createRequire(import.meta.url);

export const log = (message: string) => process.stderr.write(`[bench] ${message}\n`);
/** Every child still running: stopped at the end, killed if we exit first. */
export const children = new Set<ChildProcess>();

/** A child's `result` message's result. */
export const resultOf = <T>(child: ChildProcess, what: string, timeoutMs: number) => answer<{ result: T }>(child, 'result', what, timeoutMs).then((m) => m.result);

/**
 * Forks a TypeScript child under tsx; it is killed if we exit first. `execPath` runs it under a
 * wrapper (valgrind), whose arguments then end `execArgv` with Node's own path.
 */
export function spawn(file: string, env: Record<string, string>, execArgv: string[] = [], execPath = process.execPath): ChildProcess {
  const child = fork(join(HERE, file), [], {
    execPath,
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

export interface BenchUser {
  id: string;
  email: string;
}

export async function setUpDatabase(url: string): Promise<{ users: BenchUser[]; pgVersion: string }> {
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

export interface Server {
  variant: Variant;
  port: number;
  child: ChildProcess;
  /** Per connection: the headers that authenticate it, and the user it should get. */
  credentials: { headers: Record<string, string>; user: BenchUser }[];
}

export async function startServer(variant: Variant, env: Record<string, string>, profile: boolean): Promise<Server> {
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
export async function logIn(server: Server, users: BenchUser[], connections: number, databaseUrl: string): Promise<void> {
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

/** The CPU time the server's process has used so far, µs. */
function cpuOf(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    if (!server.child.connected) {
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

export async function load(server: Server, connections: number, durationMs: number): Promise<Sample> {
  let next = 0;
  const cpuBefore = await cpuOf(server);
  const result = await autocannon({
    url: `http://127.0.0.1:${server.port}/me`,
    connections,
    duration: durationMs / 1000,
    // Each connection its own user's session.
    setupClient: (client) => client.setHeaders(server.credentials[next++ % server.credentials.length].headers),
  });
  return sampleOf(result, (await cpuOf(server)) - cpuBefore);
}
