/**
 * Fan-out benchmark: how long a logout on one instance takes to be refused on every other one,
 * and how many PostgreSQL connections each instance holds for it (issue 20, item 7).
 *
 *   node --import tsx scripts/fanout-bench.ts [--instances N] [--rounds R] [--quick]
 *
 * N instances (default 8; each its own process, its own pg pool and LISTEN connection, as
 * separate servers would be) share one throwaway database (on TEST_DATABASE_URL, dropped at the
 * end), with the module's defaults (cache on, the PostgreSQL bus). Each round: instance 0 logs a
 * user in, every instance validates the token (so it is in every cache), then instance 0 logs it
 * out; every other instance polls its cache every millisecond until the token is refused. Times
 * are on one clock (performance.timeOrigin + now(), the same machine), from the start of the
 * logout call and from its answer. Printed: p50, p99 and max over rounds and instances, and each
 * instance's connections as pg_stat_activity counts them (by application_name).
 */
import 'reflect-metadata';
import { fork, type ChildProcess } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { NestFactory } from '@nestjs/core';
import { TypeOrmModule } from '@nestjs/typeorm';
import pg from 'pg';
import { CreateSessionsTable1763856000000, SessionModule, SessionService } from '../src/index.js';
import { createTestDatabase } from '../test/support/database.js';

const now = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

type Command = { id: number; cmd: 'login' | 'warm' | 'watch' | 'logout'; token?: string; userId?: string };
type Reply = { id: number; token?: string; at?: number; started?: number; answered?: number };

// ---- an instance (a child process) --------------------------------------------------------------

async function instance(url: string, index: number): Promise<void> {
  const app = await NestFactory.createApplicationContext(
    {
      module: class FanoutInstanceModule {},
      imports: [
        TypeOrmModule.forRoot({ type: 'postgres', url, applicationName: `nss-fanout-${index}`, migrations: [CreateSessionsTable1763856000000], migrationsRun: index === 0 }),
        SessionModule.forRoot({ resolveUser: (id: string) => ({ id }), cleanup: false }),
      ],
    },
    { logger: ['error', 'warn'] },
  );
  const sessions = app.get(SessionService);
  process.on('message', async (message: Command) => {
    const reply = (payload: Omit<Reply, 'id'>) => process.send!({ id: message.id, ...payload });
    if (message.cmd === 'login') reply({ token: (await sessions.createSession({ userId: message.userId! })).token });
    if (message.cmd === 'warm') reply({ at: (await sessions.validateSession(message.token)) ? now() : -1 });
    if (message.cmd === 'logout') {
      const started = now();
      await sessions.revokeSession(message.token);
      reply({ started, answered: now() });
    }
    if (message.cmd === 'watch') {
      reply({});
      // Each validation of a cached token is a map lookup; the token refused means the eviction came.
      while (await sessions.validateSession(message.token)) await sleep(1);
      process.send!({ id: -message.id, at: now() });
    }
  });
  process.send!({ id: 0 });
}

// ---- the parent ----------------------------------------------------------------------------------

class Instance {
  private next = 1;
  private readonly waiting = new Map<number, (reply: Reply) => void>();
  constructor(readonly child: ChildProcess) {
    child.on('message', (reply: Reply) => this.waiting.get(reply.id)?.(reply));
  }
  /** Sends `command`; resolves with its reply, and `done` (for watch) with the second one. */
  send(command: Omit<Command, 'id'>): { reply: Promise<Reply>; done: Promise<Reply> } {
    const id = this.next++;
    const reply = new Promise<Reply>((resolve) => this.waiting.set(id, resolve));
    const done = new Promise<Reply>((resolve) => this.waiting.set(-id, resolve));
    this.child.send({ id, ...command });
    return { reply, done };
  }
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
const describe = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return `p50 ${percentile(sorted, 50).toFixed(1)} ms, p99 ${percentile(sorted, 99).toFixed(1)} ms, max ${sorted[sorted.length - 1].toFixed(1)} ms`;
};

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const arg = (name: string, fallback: number) => (argv.includes(name) ? Number(argv[argv.indexOf(name) + 1]) : fallback);
  const quick = argv.includes('--quick');
  const count = arg('--instances', 8);
  const rounds = arg('--rounds', quick ? 20 : 200);
  const db = await createTestDatabase('nss_fanout');
  const children: Instance[] = [];
  try {
    const self = fileURLToPath(import.meta.url);
    for (let i = 0; i < count; i++) {
      // One at a time: the first runs the migration the others need.
      const child = fork(self, ['--instance', String(i), db.url], { execArgv: process.execArgv });
      await new Promise<void>((resolve, reject) => {
        child.once('message', () => resolve());
        child.once('exit', (code) => reject(new Error(`instance ${i} exited with ${code}`)));
      });
      children.push(new Instance(child));
    }
    const fromStart: number[] = [];
    const fromAnswer: number[] = [];
    const [first, ...others] = children;
    for (let round = 0; round < rounds; round++) {
      const { token } = await first.send({ cmd: 'login', userId: `user-${round}` }).reply;
      for (const other of children) await other.send({ cmd: 'warm', token }).reply;
      const watches = others.map((other) => other.send({ cmd: 'watch', token }));
      await Promise.all(watches.map((w) => w.reply));
      const { started, answered } = await first.send({ cmd: 'logout', token }).reply;
      for (const { at } of await Promise.all(watches.map((w) => w.done))) {
        fromStart.push(at! - started!);
        fromAnswer.push(at! - answered!);
      }
    }
    const admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
    const { rows } = await admin.query<{ app: string; n: number }>(
      `SELECT application_name AS app, count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE 'nss-fanout-%' GROUP BY 1 ORDER BY 1`,
    );
    await admin.end();
    console.log(`fan-out: ${count} instances on one PostgreSQL, ${rounds} logouts on instance 0, each watched on the ${count - 1} others (${fromStart.length} refusals)`);
    console.log(`  refused elsewhere after the logout started:  ${describe(fromStart)}`);
    console.log(`  refused elsewhere after the logout answered: ${describe(fromAnswer)} (negative: before the answer)`);
    console.log(`  connections per instance (pg_stat_activity): ${rows.map((r) => `${r.app.replace('nss-fanout-', '#')} ${r.n}`).join(', ')}`);
  } finally {
    for (const { child } of children) child.kill();
    await sleep(200);
    await db.drop();
  }
}

if (process.argv[2] === '--instance') {
  instance(process.argv[4], Number(process.argv[3])).catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
} else {
  main().then(
    () => process.exit(0),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}
