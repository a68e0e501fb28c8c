/**
 * The express-session variants of the HTTP benchmark, one per process, as most Node teams run
 * them: a plain Express app, express-session with the options its README tells you to set
 * (resave: false, saveUninitialized: false; everything else default: the connect.sid cookie,
 * no maxAge, rolling: false), and
 *   d   connect-pg-simple 10 with its defaults (table "session", prune every 15 minutes), on a
 *       pg Pool of POOL_SIZE that the user lookup shares;
 *   f   connect-redis 9 on node-redis 5 (prefix BENCH_REDIS_PREFIX + 'sess:', ttl 1 day default).
 * GET /me loads the user as a real app would, and as the SessionGuard variants do: USER_SQL on
 * PostgreSQL by the id kept in the session. Per request that is the store's get, the user
 * SELECT, and the store's touch (resave: false makes express-session touch an unchanged session
 * on every response: an UPDATE for connect-pg-simple, an EXPIRE for connect-redis).
 * POST /login {"userId"} regenerates the session and stores the user id (the setup route).
 */
import type { Server } from 'node:http';
import connectPgSimple from 'connect-pg-simple';
import { RedisStore } from 'connect-redis';
import express, { type NextFunction, type Request, type Response } from 'express';
import session from 'express-session';
import pg from 'pg';
import { createClient } from 'redis';
import { type BenchUser, failChild, POOL_SIZE, requireEnv, serveChild, USER_SQL } from './common.js';

declare module 'express-session' {
  interface SessionData {
    userId?: string;
  }
}

const variant = requireEnv('BENCH_VARIANT');

async function main(): Promise<void> {
  const pool = new pg.Pool({ connectionString: requireEnv('DATABASE_URL'), max: POOL_SIZE });
  pool.on('error', () => undefined);
  const closers: (() => Promise<unknown>)[] = [() => pool.end()];

  let store: session.Store;
  if (variant === 'd') {
    const PgStore = connectPgSimple(session);
    const pgStore = new PgStore({ pool });
    closers.unshift(async () => pgStore.close());
    store = pgStore;
  } else if (variant === 'f') {
    const client = createClient({ url: requireEnv('REDIS_URL') });
    client.on('error', () => undefined);
    await client.connect();
    closers.unshift(() => client.quit());
    store = new RedisStore({ client, prefix: `${requireEnv('BENCH_REDIS_PREFIX')}sess:` });
  } else {
    throw new Error(`server-express-session: unknown variant ${variant}`);
  }

  const app = express();
  app.use(session({ store, secret: 'benchmark secret, not a real one', resave: false, saveUninitialized: false }));

  app.post('/login', express.json(), (req: Request, res: Response, next: NextFunction) => {
    req.session.regenerate((error) => {
      if (error) return next(error);
      req.session.userId = String(req.body.userId);
      req.session.save((saveError) => (saveError ? next(saveError) : res.json({ ok: true })));
    });
  });

  app.get('/me', async (req: Request, res: Response, next: NextFunction) => {
    const userId = req.session.userId;
    if (!userId) {
      res.status(401).json({ statusCode: 401, message: 'Unauthorized' });
      return;
    }
    try {
      const { rows } = await pool.query<BenchUser>(USER_SQL, [userId]);
      const user = rows[0];
      if (!user) {
        res.status(401).json({ statusCode: 401, message: 'Unauthorized' });
        return;
      }
      res.json({ id: user.id, email: user.email });
    } catch (error) {
      next(error);
    }
  });

  const server = await new Promise<Server>((resolve) => {
    const listening = app.listen(0, '127.0.0.1', () => resolve(listening));
  });
  serveChild(server, async () => {
    for (const close of closers) await close().catch(() => undefined);
  });
}

main().catch(failChild);
