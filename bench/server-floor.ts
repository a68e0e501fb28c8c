/**
 * g0, informational: the floor of a database check (bench/server-nest.ts, variant g) with no
 * framework at all, on bare node:http. The bearer token is hashed (sha256) and one pg SELECT
 * reads the session by its hash, joined to its user (FLOOR_SQL), on a pg Pool of POOL_SIZE.
 * Tokens are inserted by bench/run.ts (same sessions table).
 */
import { createHash } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import pg from 'pg';
import { type BenchUser, failChild, FLOOR_SQL, POOL_SIZE, requireEnv, serveChild } from './common.js';

const variant = requireEnv('BENCH_VARIANT');
const BEARER = /^Bearer +(\S+) *$/i;
const UNAUTHORIZED = JSON.stringify({ statusCode: 401, message: 'Unauthorized' });

async function main(): Promise<void> {
  const pool = new pg.Pool({ connectionString: requireEnv('DATABASE_URL'), max: POOL_SIZE });
  pool.on('error', () => undefined);

  // The check itself: the user, or null for no/unknown/expired token.
  const check = async (authorization: string | undefined): Promise<BenchUser | null> => {
    const match = authorization === undefined ? null : BEARER.exec(authorization);
    if (!match) return null;
    const tokenHash = createHash('sha256').update(match[1], 'ascii').digest();
    const { rows } = await pool.query<BenchUser>(FLOOR_SQL, [tokenHash]);
    return rows[0] ?? null;
  };

  if (variant !== 'g0') throw new Error(`server-floor: unknown variant ${variant}`);
  const reply = (res: ServerResponse, status: number, body: string) => {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  };
  const server = http.createServer((req: IncomingMessage, res: ServerResponse) => {
    if (req.method !== 'GET' || req.url !== '/me') return reply(res, 404, '{"statusCode":404}');
    check(req.headers.authorization).then(
      (user) => (user ? reply(res, 200, JSON.stringify({ id: user.id, email: user.email })) : reply(res, 401, UNAUTHORIZED)),
      () => reply(res, 500, '{"statusCode":500}'),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  serveChild(server, () => pool.end());
}

main().catch(failChild);
