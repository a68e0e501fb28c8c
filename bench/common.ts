/**
 * What the benchmark's processes share: the variants, the user lookup every variant runs, the
 * pool size, and the small protocol between the parent (bench/run.ts) and its children.
 *
 * A server child is forked with BENCH_VARIANT, DATABASE_URL, REDIS_URL and BENCH_REDIS_PREFIX
 * in its environment, listens on 127.0.0.1 (a free port), and sends `{ type: 'ready', port }`.
 * The parent logs users in through `POST /login {"userId"}` (a bearer token in the JSON answer
 * for the SessionGuard variants, a signed cookie for express-session), drives `GET /me` with
 * autocannon, and ends the child with `{ type: 'stop' }` (a clean exit, so --cpu-prof is written).
 * A child whose parent goes away (the IPC channel closes) exits too.
 */
import type { Server } from 'node:http';

/** The HTTP variants, in the order of the issue. The informational ones have no target. */
export const VARIANTS = {
  a: 'Nest route, no authentication (ceiling)',
  b: 'SessionGuard, cache on',
  c: 'SessionGuard, cache off (PostgreSQL per request)',
  d: 'express-session + connect-pg-simple',
  e: 'SessionGuard, Redis store (cache on)',
  f: 'express-session + connect-redis',
  g: 'floor: sha256 + one pg SELECT JOIN users',
  // Informational (full runs only): the Redis store without the cache, the cache off with
  // resolveUser instead of userEntity (the user in a second query), and the two baselines without Nest: express-session + connect-pg-simple on a bare Express app, the floor on node:http.
  e0: 'SessionGuard, Redis store, cache off',
  c2: 'SessionGuard, cache off, resolveUser (two queries)',
  d0: 'express-session + connect-pg-simple, bare Express',
  g0: 'floor on bare node:http',
  // Informational (full runs, or --only): b with tokenType 'jwt' (HS256), and with encryption (a JWE).
  bj: 'SessionGuard, cache on, JWT (HS256)',
  bx: 'SessionGuard, cache on, JWE (HS256 + A256GCM)',
  // Informational: b and c with every session detail on (metadata with lastSeen, reauthentication, data).
  bm: 'SessionGuard, cache on, details on',
  cm: 'SessionGuard, cache off, details on',
  // Informational: a guard that attaches a constant user, and @CurrentUser(): what Nest's guard and
  // parameter handling cost on their own, so b - bt is the session check alone.
  bt: 'trivial guard: a constant user, no session check',
  // Informational: g with its SELECT prepared once per connection, as the store prepares its own.
  gp: 'floor, prepared statement',
  // a, b, c and g on @nestjs/platform-fastify: the same app and route, only the adapter differs.
  af: 'Fastify: Nest route, no authentication (ceiling)',
  bf: 'Fastify: SessionGuard, cache on',
  cf: 'Fastify: SessionGuard, cache off',
  gf: 'Fastify: floor, sha256 + one pg SELECT JOIN users',
} as const;
export type Variant = keyof typeof VARIANTS;

/** Which child serves which variant. */
export const SERVER_FILE: Record<Variant, string> = {
  a: 'server-nest.ts',
  b: 'server-nest.ts',
  c: 'server-nest.ts',
  d: 'server-nest.ts',
  e: 'server-nest.ts',
  f: 'server-nest.ts',
  g: 'server-nest.ts',
  e0: 'server-nest.ts',
  c2: 'server-nest.ts',
  d0: 'server-express-session.ts',
  g0: 'server-floor.ts',
  bj: 'server-nest.ts',
  bx: 'server-nest.ts',
  bm: 'server-nest.ts',
  cm: 'server-nest.ts',
  gp: 'server-nest.ts',
  bt: 'server-nest.ts',
  af: 'server-nest.ts',
  bf: 'server-nest.ts',
  cf: 'server-nest.ts',
  gf: 'server-nest.ts',
};

/** The Fastify variants, each with the Express variant it mirrors (same app, same route). */
export const ON_FASTIFY: Partial<Record<Variant, Variant>> = { af: 'a', bf: 'b', cf: 'c', gf: 'g' };

/** What a variant does, whichever adapter it runs on: `bf` logs in and answers as `b` does. */
export const baseOf = (variant: Variant): Variant => ON_FASTIFY[variant] ?? variant;

/** Every pg pool in the benchmark (TypeORM's, connect-pg-simple's, the floor's): pg's default. */
export const POOL_SIZE = 10;

/** The user lookup of every authenticated variant: the same SQL, one indexed SELECT by id. */
export const USER_SQL = 'SELECT id, email FROM users WHERE id = $1';

/** The floor's one query: the session by token hash, joined to its user. */
export const FLOOR_SQL =
  'SELECT u.id, u.email FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token = $1 AND s.expires_at > now()';

// What the express-session variants keep in the session: the user's id only.
declare module 'express-session' {
  interface SessionData {
    userId?: string;
  }
}

export interface BenchUser {
  id: string;
  email: string;
}

export type ChildMessage =
  | { type: 'ready'; port: number }
  | { type: 'result'; result: unknown }
  | { type: 'error'; message: string }
  | { type: 'cpu'; micros: number }
  | { type: 'prepared' };

/**
 * `stop`: exit cleanly. `cpu`: answer with the CPU time (user + system, µs) used so far.
 * `go`: the service child, set up and `prepared`, may start measuring.
 */
export type ParentMessage = { type: 'stop' } | { type: 'cpu' } | { type: 'go' };

export function requireEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set (this file is started by bench/run.ts)`);
  return value;
}

export function send(message: ChildMessage): void {
  process.send?.(message);
}

/**
 * The child side of the protocol: report the port, and exit cleanly on `stop` or when the parent
 * disappears. `close` frees what the server holds (pools, clients) before the exit.
 */
export function serveChild(server: Server, close: () => Promise<unknown>): void {
  let closing = false;
  const stop = (code: number) => {
    if (closing) return;
    closing = true;
    server.closeAllConnections?.();
    const timer = setTimeout(() => process.exit(code), 3_000);
    timer.unref();
    Promise.allSettled([new Promise((resolve) => server.close(resolve)), close()]).finally(() => process.exit(code));
  };
  process.on('message', (message: ParentMessage) => {
    if (message?.type === 'stop') stop(0);
    if (message?.type === 'cpu') {
      const { user, system } = process.cpuUsage();
      send({ type: 'cpu', micros: user + system });
    }
  });
  process.on('disconnect', () => stop(0));
  process.on('SIGTERM', () => stop(0));
  process.on('SIGINT', () => stop(0));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('server is not listening on TCP');
  send({ type: 'ready', port: address.port });
}

/** Reports a failure to the parent and exits non-zero (once the message is out). */
export function failChild(error: unknown): void {
  const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
  process.stderr.write(`${message}\n`);
  setTimeout(() => process.exit(1), 1_000).unref();
  if (process.send) process.send({ type: 'error', message } satisfies ChildMessage, () => process.exit(1));
  else process.exit(1);
}

/**
 * Runs a measuring child's `main` and sends its result to the parent as `{ type: 'result' }`
 * (printed as JSON when the file runs alone), or reports its failure.
 */
export async function runChild<T>(main: () => Promise<T>): Promise<void> {
  try {
    const result = await main();
    if (process.send) process.send({ type: 'result', result } satisfies ChildMessage, () => process.exit(0));
    else process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  } catch (error) {
    failChild(error);
  }
}
