/**
 * The Nest variants of the HTTP benchmark (a, b, c, e, e0), one per process: NestFactory on the
 * Express adapter, TypeORM on DATABASE_URL (pool of POOL_SIZE), SessionModule.forRoot with
 * resolveUser reading the users table through the app's TypeORM DataSource, cleanup and
 * broadcast off (one instance). GET /me answers {id, email}:
 *   a   no guard (the ceiling: a constant user, no I/O)
 *   b   SessionGuard, cache on (the module's default cache)
 *   c   SessionGuard, cache: false (every request reads the session and the user from PostgreSQL)
 *   e   SessionGuard, storage redis (ioredis), cache on
 *   e0  SessionGuard, storage redis, cache: false
 * POST /login {"userId"} creates a session (the setup route; not measured).
 *
 * Started by bench/run.ts; tsx emits no decorator metadata, hence the explicit @Inject tokens.
 */
import 'reflect-metadata';
import type { Server } from 'node:http';
import { Body, Controller, Get, HttpCode, Inject, Module, Post, UseGuards, type Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ExpressAdapter, type NestExpressApplication } from '@nestjs/platform-express';
import { getDataSourceToken, TypeOrmModule } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { CurrentUser, SessionGuard, SessionModule, type SessionModuleOptions, SessionService } from '../src/session/index.js';
import { type BenchUser, failChild, POOL_SIZE, requireEnv, serveChild, USER_SQL } from './common.js';

const variant = requireEnv('BENCH_VARIANT');
if (!['a', 'b', 'c', 'e', 'e0'].includes(variant)) failChild(new Error(`server-nest: unknown variant ${variant}`));

const CEILING_USER: BenchUser = { id: '00000000-0000-4000-8000-000000000000', email: 'ceiling@example.com' };

@Controller()
class GuardedController {
  @UseGuards(SessionGuard)
  @Get('me')
  me(@CurrentUser() user: BenchUser): BenchUser {
    return { id: user.id, email: user.email };
  }
}

@Controller()
class OpenController {
  @Get('me')
  me(): BenchUser {
    return { id: CEILING_USER.id, email: CEILING_USER.email };
  }
}

@Controller()
class LoginController {
  constructor(@Inject(SessionService) private readonly sessions: SessionService) {}

  @Post('login')
  @HttpCode(200)
  async login(@Body() body: { userId: string }): Promise<{ token: string }> {
    const { token } = await this.sessions.createSession({ userId: body.userId });
    return { token };
  }
}

function sessionOptions(dataSource: DataSource): SessionModuleOptions<BenchUser> {
  const redis = variant === 'e' || variant === 'e0';
  return {
    resolveUser: async (id) => {
      const [user] = (await dataSource.query(USER_SQL, [id])) as BenchUser[];
      return user ?? null;
    },
    cache: variant === 'c' || variant === 'e0' ? false : undefined,
    cookie: { secure: false },
    broadcast: false,
    cleanup: false,
    storage: redis ? { type: 'redis', url: requireEnv('REDIS_URL'), keyPrefix: requireEnv('BENCH_REDIS_PREFIX') } : undefined,
  };
}

function appModule(): Type<unknown> {
  @Module({
    imports: [
      TypeOrmModule.forRoot({ type: 'postgres', url: requireEnv('DATABASE_URL'), autoLoadEntities: true, poolSize: POOL_SIZE }),
      SessionModule.forRootAsync({ inject: [getDataSourceToken()], useFactory: sessionOptions }),
    ],
    controllers: [variant === 'a' ? OpenController : GuardedController, LoginController],
  })
  class BenchAppModule {}
  return BenchAppModule;
}

try {
  const app = await NestFactory.create<NestExpressApplication>(appModule(), new ExpressAdapter(), { logger: ['error', 'warn'] });
  await app.listen(0, '127.0.0.1');
  serveChild(app.getHttpServer() as Server, () => app.close());
} catch (error) {
  failChild(error);
}
