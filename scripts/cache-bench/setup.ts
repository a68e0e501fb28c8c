import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { TypeOrmModule } from '@nestjs/typeorm';
import type { INestApplicationContext } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import { CreateSessionsTable1763856000000, SESSIONS_TABLE, SessionModule, type SessionModuleOptions } from '../../src/index.js';
import { generateToken, hashToken } from '../../src/tokens/opaque-token.js';

/** A user as a pg row would bring it: strings of its own (not the caller's), new on every call. */
const flat = (text: string) => Buffer.from(text, 'latin1').toString('latin1');
const PROFILE = 'x'.repeat(2_000);

/**
 * `mixed`: every tenth user also carries a 2 KB profile (a bio, preferences), the kind of user
 * whose entry costs several times a small one's, so a bound by entries no longer bounds bytes.
 */
export function userResolver(mix: 'small' | 'mixed'): (id: string) => object {
  return (id) => {
    const big = mix === 'mixed' && id.endsWith('0');
    const user = { id: flat(id), email: flat(`${id}@example.com`) };
    return big ? { ...user, profile: flat(PROFILE) } : user;
  };
}

export async function startApp(url: string, cache: SessionModuleOptions['cache'], mix: 'small' | 'mixed', poolSize: number): Promise<INestApplicationContext> {
  return NestFactory.createApplicationContext(
    {
      module: class CacheBenchModule {},
      imports: [
        TypeOrmModule.forRoot({ type: 'postgres', url, autoLoadEntities: true, migrations: [CreateSessionsTable1763856000000], migrationsRun: true, poolSize }),
        SessionModule.forRoot({ resolveUser: userResolver(mix), cache, broadcast: false, cleanup: false } as SessionModuleOptions),
      ],
    },
    { logger: ['error', 'warn'], abortOnError: false },
  );
}

/** `n` live sessions of `n` users, inserted in bulk: their tokens and user ids, by index. */
export async function loadSessions(dataSource: DataSource, n: number): Promise<{ tokens: string[]; userIds: string[] }> {
  const tokens: string[] = [];
  const userIds: string[] = [];
  const CHUNK = 20_000;
  for (let from = 0; from < n; from += CHUNK) {
    const hashes: Buffer[] = [];
    const users: string[] = [];
    for (let i = from; i < Math.min(n, from + CHUNK); i++) {
      const token = generateToken();
      tokens.push(token);
      hashes.push(hashToken(token));
      // A uuid-sized id, as most apps have (and as bench/memory.ts measures).
      const userId = `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`;
      userIds.push(userId);
      users.push(userId);
    }
    await dataSource.query(
      `INSERT INTO "${SESSIONS_TABLE}" (user_id, token, expires_at, created_at)
       SELECT u, t, now() + interval '30 days', now() - interval '1 day' FROM unnest($1::text[], $2::bytea[]) AS x(u, t)`,
      [users, hashes],
    );
  }
  await dataSource.query(`VACUUM ANALYZE "${SESSIONS_TABLE}"`);
  return { tokens, userIds };
}
