/**
 * The floor child of scripts/demo-bench.ts: a bare Express app (no Nest) with a pg Pool of
 * POOL_SIZE (10, as the demo's), whose `GET /me` hashes the bearer token (sha256, the one-shot
 * crypto.hash the library uses) and runs the one indexed SELECT of the session by that hash
 * joined to its user (bench/common.ts FLOOR_SQL) on the demo's own tables, answering {id, email};
 * `GET /me/prepared` the same with the statement prepared (informational: the library prepares its own).
 * Nothing else: no validation of the token's form, no expiry slide, no context, no metrics.
 */
import { hash } from 'node:crypto';
import type { Server } from 'node:http';
import express, { type NextFunction, type Request, type Response } from 'express';
import pg from 'pg';
import { type BenchUser, failChild, FLOOR_SQL, POOL_SIZE, requireEnv, serveChild } from '../../bench/common.js';
import { countStatementsOnRequest } from './protocol.js';

const BEARER = /^Bearer +(\S+) *$/i;

async function main(): Promise<void> {
  const pool = new pg.Pool({ connectionString: requireEnv('DATABASE_URL'), max: POOL_SIZE });
  pool.on('error', () => undefined);
  const app = express();
  app.disable('x-powered-by');
  const refuse = (res: Response) => res.status(401).json({ statusCode: 401, message: 'Unauthorized' });

  // `named`: the statement prepared once per connection (pg's named statements), as the library's store now does it.
  const route = (named: boolean) => async (req: Request, res: Response, next: NextFunction) => {
    const match = BEARER.exec(req.headers.authorization ?? '');
    if (!match) return void refuse(res);
    try {
      const values = [hash('sha256', match[1], 'buffer')];
      const { rows } = await (named ? pool.query<BenchUser>({ name: 'demo-bench-floor', text: FLOOR_SQL, values }) : pool.query<BenchUser>(FLOOR_SQL, values));
      if (!rows[0]) return void refuse(res);
      res.json({ id: rows[0].id, email: rows[0].email });
    } catch (error) {
      next(error);
    }
  };
  app.get('/me', route(false));
  app.get('/me/prepared', route(true));

  const server = await new Promise<Server>((resolve) => {
    const listening = app.listen(0, '127.0.0.1', () => resolve(listening));
  });
  countStatementsOnRequest();
  serveChild(server, () => pool.end());
}

main().catch(failChild);
