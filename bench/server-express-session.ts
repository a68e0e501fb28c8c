/**
 * d0, informational: variant d (express-session + connect-pg-simple, see bench/server-nest.ts)
 * on a bare Express app instead of Nest: what a team that dropped Nest altogether would run.
 * express-session with resave: false and saveUninitialized: false, connect-pg-simple 10 with
 * its defaults, on a pg Pool of POOL_SIZE that the user lookup (USER_SQL) shares.
 * POST /login {"userId"} regenerates the session and stores the user id (the setup route).
 */
import type { Server } from 'node:http';
import connectPgSimple from 'connect-pg-simple';
import express, { type NextFunction, type Request, type Response } from 'express';
import session from 'express-session';
import pg from 'pg';
import { type BenchUser, failChild, POOL_SIZE, requireEnv, serveChild, USER_SQL } from './common.js';

const variant = requireEnv('BENCH_VARIANT');

async function main(): Promise<void> {
  const pool = new pg.Pool({ connectionString: requireEnv('DATABASE_URL'), max: POOL_SIZE });
  pool.on('error', () => undefined);
  const closers: (() => Promise<unknown>)[] = [() => pool.end()];

  if (variant !== 'd0') throw new Error(`server-express-session: unknown variant ${variant}`);
  const PgStore = connectPgSimple(session);
  const store = new PgStore({ pool });
  closers.unshift(async () => store.close());

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
