/**
 * The HTTP variants that run "the same route": one Nest app per process, on the Express adapter,
 * TypeORM on DATABASE_URL (one pg pool of POOL_SIZE, which every query of the variant uses),
 * GET /me answering {id, email} of the caller. Only how the caller is authenticated differs:
 *   a   nothing (the ceiling: a constant user, no I/O)
 *   b   SessionGuard, cache on (the module's defaults)
 *   c   SessionGuard, cache: false (every request reads the session and its user from PostgreSQL)
 *   c2  c with resolveUser instead of userEntity: the user in a second query
 *   bj  b with tokenType 'jwt' (HS256): the client holds a JWT wrapping the token
 *   bx  bj with encryption: true (the JWT inside a JWE)
 *   e   SessionGuard, storage redis (ioredis), cache on
 *   e0  SessionGuard, storage redis, cache: false
 *   d   express-session + connect-pg-simple 10, both with their defaults but for the two options
 *       express-session's README says to set (resave: false, saveUninitialized: false), app.use'd
 *       on the Nest app; the store runs on the same pg pool
 *   f   express-session + connect-redis 9 on node-redis 5 (prefix BENCH_REDIS_PREFIX + 'sess:')
 *   g   the floor of a database check: the route hashes the bearer token (sha256) and runs one
 *       pg SELECT of the session joined to its user (FLOOR_SQL) on the pool, nothing else
 *   bt  a guard that attaches a constant user and sets Cache-Control, read by @CurrentUser(): b's
 *       route without the session check
 *   gp  g with that SELECT prepared (a named statement), as the store prepares its lookups
 * The SessionGuard variants are set up as the README recommends: `userEntity` (the bench's users
 * entity), so a cache miss reads the session and its user in one statement on PostgreSQL, and
 * the user by primary key after the session on Redis. c2 and the express-session variants load
 * the user with USER_SQL through TypeORM's DataSource, as an app's resolveUser or passport's
 * deserializeUser would (express-session keeps only the user id): per request for c2, d and f. express-session touches an unchanged
 * session on every response (resave: false): an UPDATE for connect-pg-simple, an EXPIRE for
 * connect-redis. The SessionGuard variants write the expiry at most once per updateAge (1 day).
 *
 * POST /login {"userId"} logs in (the setup route; not measured): createSession for the guard
 * variants (the token in the answer), regenerate + save for express-session (its cookie).
 * For g, bench/run.ts inserts the sessions itself.
 *
 * af, bf, cf and gf are a, b, c and g on @nestjs/platform-fastify (Fastify's defaults, no
 * plugins): the same modules, controllers and options, only the adapter differs.
 *
 * Started by bench/run.ts; tsx emits no decorator metadata, hence the explicit @Inject tokens.
 */
import 'reflect-metadata';
import { createHash } from 'node:crypto';
import type { Server } from 'node:http';
import {
  Body,
  type CanActivate,
  Controller,
  type ExecutionContext,
  Get,
  Headers,
  HttpCode,
  Inject,
  Injectable,
  Module,
  Post,
  Req,
  UnauthorizedException,
  UseGuards,
  type Type,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ExpressAdapter, type NestExpressApplication } from '@nestjs/platform-express';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { getDataSourceToken, TypeOrmModule } from '@nestjs/typeorm';
import connectPgSimple from 'connect-pg-simple';
import { RedisStore } from 'connect-redis';
import type { Request } from 'express';
import session from 'express-session';
import type pg from 'pg';
import { createClient } from 'redis';
import { Column, DataSource, Entity, PrimaryColumn } from 'typeorm';
import { CurrentUser, SessionGuard, SessionModule, type SessionModuleOptions, SessionService } from '../src/index.js';
import { type BenchUser, failChild, FLOOR_SQL, ON_FASTIFY, POOL_SIZE, requireEnv, serveChild, USER_SQL, type Variant } from './common.js';

const requested = requireEnv('BENCH_VARIANT') as Variant;
const fastify = requested in ON_FASTIFY;
// From here on a Fastify variant is the Express one it mirrors; only the adapter below differs.
const variant: string = ON_FASTIFY[requested] ?? requested;
const GUARDED = ['b', 'c', 'c2', 'e', 'e0', 'bj', 'bx', 'bm', 'cm'];
const BENCH_JWT_SECRET = 'benchmark jwt secret, 32 bytes or more, not a real one';
const EXPRESS_SESSION = ['d', 'f'];
if (![...GUARDED, ...EXPRESS_SESSION, 'a', 'bt', 'g', 'gp'].includes(variant)) failChild(new Error(`server-nest: unknown variant ${variant}`));

/** The bench's users table (bench/run.ts creates it), for `userEntity`. */
@Entity({ name: 'users' })
class UserEntity implements BenchUser {
  @PrimaryColumn({ type: 'uuid' })
  id: string;

  @Column({ type: 'text' })
  email: string;
}

const CEILING_USER: BenchUser = { id: '00000000-0000-4000-8000-000000000000', email: 'ceiling@example.com' };
const BEARER = /^Bearer +(\S+) *$/i;

async function findUser(dataSource: DataSource, id: string): Promise<BenchUser | null> {
  const [user] = (await dataSource.query(USER_SQL, [id])) as BenchUser[];
  return user ?? null;
}

// The pg Pool under TypeORM's DataSource: d's store and g's query share it with the user lookups.
const poolOf = (dataSource: DataSource) => (dataSource.driver as unknown as { master: pg.Pool }).master;

@Controller()
class OpenController {
  @Get('me')
  me(): BenchUser {
    return { id: CEILING_USER.id, email: CEILING_USER.email };
  }
}

// bt: what b's guard does to a request but the session check: a user attached, Cache-Control set.
@Injectable()
class ConstantUserGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const http = context.switchToHttp();
    http.getRequest<{ user?: BenchUser }>().user = CEILING_USER;
    http.getResponse<{ setHeader(name: string, value: string): void }>().setHeader('cache-control', 'no-store');
    return true;
  }
}

@Controller()
class TrivialGuardController {
  @UseGuards(ConstantUserGuard)
  @Get('me')
  me(@CurrentUser() user: BenchUser): BenchUser {
    return { id: user.id, email: user.email };
  }
}

@Controller()
class GuardedController {
  constructor(@Inject(SessionService) private readonly sessions: SessionService) {}

  @UseGuards(SessionGuard)
  @Get('me')
  me(@CurrentUser() user: BenchUser): BenchUser {
    return { id: user.id, email: user.email };
  }

  @Post('login')
  @HttpCode(200)
  // Express's req and Fastify's request both carry headers and ip.
  async login(@Req() req: Pick<Request, 'headers' | 'ip'>, @Body() body: { userId: string }): Promise<{ token: string }> {
    // The client as a login meets it: what the details variants record, ignored by the others.
    const { token } = await this.sessions.createSession({ userId: body.userId, userAgent: req.headers['user-agent'] ?? '', ip: req.ip });
    return { token };
  }
}

@Controller()
class ExpressSessionController {
  constructor(@Inject(DataSource) private readonly dataSource: DataSource) {}

  @Get('me')
  async me(@Req() req: Request): Promise<BenchUser> {
    const userId = req.session.userId;
    const user = userId === undefined ? null : await findUser(this.dataSource, userId);
    if (!user) throw new UnauthorizedException();
    return { id: user.id, email: user.email };
  }

  @Post('login')
  @HttpCode(200)
  async login(@Req() req: Request, @Body() body: { userId: string }): Promise<{ ok: true }> {
    await new Promise<void>((resolve, reject) => req.session.regenerate((error) => (error ? reject(error) : resolve())));
    req.session.userId = String(body.userId);
    await new Promise<void>((resolve, reject) => req.session.save((error) => (error ? reject(error) : resolve())));
    return { ok: true };
  }
}

@Controller()
class FloorController {
  private readonly pool: pg.Pool;

  constructor(@Inject(DataSource) dataSource: DataSource) {
    this.pool = poolOf(dataSource);
  }

  @Get('me')
  async me(@Headers('authorization') authorization: string | undefined): Promise<BenchUser> {
    const match = authorization === undefined ? null : BEARER.exec(authorization);
    if (!match) throw new UnauthorizedException();
    const tokenHash = createHash('sha256').update(match[1], 'ascii').digest();
    const { rows } = await this.pool.query<BenchUser>(variant === 'gp' ? { name: 'floor', text: FLOOR_SQL, values: [tokenHash] } : { text: FLOOR_SQL, values: [tokenHash] });
    if (!rows[0]) throw new UnauthorizedException();
    return { id: rows[0].id, email: rows[0].email };
  }
}

function sessionOptions(dataSource: DataSource): SessionModuleOptions<BenchUser> {
  const redis = variant === 'e' || variant === 'e0';
  return {
    ...(variant === 'c2' ? { resolveUser: (id: string) => findUser(dataSource, id) } : { userEntity: UserEntity }),
    cache: variant === 'c' || variant === 'c2' || variant === 'e0' || variant === 'cm' ? false : undefined,
    ...(variant === 'bm' || variant === 'cm'
      ? { metadata: { userAgent: true, device: true, ip: 'full' as const, lastSeen: true }, reauthentication: true, data: true }
      : {}),
    cookie: { secure: false },
    broadcast: false,
    cleanup: false,
    storage: redis ? { type: 'redis', url: requireEnv('REDIS_URL'), keyPrefix: requireEnv('BENCH_REDIS_PREFIX') } : undefined,
    ...(variant === 'bj' || variant === 'bx'
      ? { tokenType: 'jwt' as const, encryption: variant === 'bx', jwt: { keys: [{ kid: 'bench', secret: BENCH_JWT_SECRET }] } }
      : {}),
  };
}

function appModule(): Type<unknown> {
  const guarded = GUARDED.includes(variant);
  const controller = guarded ? GuardedController : variant === 'bt' ? TrivialGuardController : EXPRESS_SESSION.includes(variant) ? ExpressSessionController : variant === 'g' || variant === 'gp' ? FloorController : OpenController;
  @Module({
    imports: [
      TypeOrmModule.forRoot({ type: 'postgres', url: requireEnv('DATABASE_URL'), entities: [UserEntity], autoLoadEntities: true, poolSize: POOL_SIZE }),
      ...(guarded ? [SessionModule.forRootAsync({ inject: [getDataSourceToken()], useFactory: sessionOptions })] : []),
    ],
    controllers: [controller],
  })
  class BenchAppModule {}
  return BenchAppModule;
}

/** express-session on the app, with the store of variant d or f; returns what closes the store. */
async function useExpressSession(app: NestExpressApplication): Promise<() => Promise<unknown>> {
  let store: session.Store;
  let close: () => Promise<unknown>;
  if (variant === 'd') {
    const PgStore = connectPgSimple(session);
    const pgStore = new PgStore({ pool: poolOf(app.get(DataSource)) });
    store = pgStore;
    close = async () => pgStore.close();
  } else {
    const client = createClient({ url: requireEnv('REDIS_URL') });
    client.on('error', () => undefined);
    await client.connect();
    store = new RedisStore({ client, prefix: `${requireEnv('BENCH_REDIS_PREFIX')}sess:` });
    close = () => client.quit();
  }
  app.use(session({ store, secret: 'benchmark secret, not a real one', resave: false, saveUninitialized: false }));
  return close;
}

try {
  const options = { logger: ['error' as const, 'warn' as const] };
  const app = fastify
    ? await NestFactory.create<NestFastifyApplication>(appModule(), new FastifyAdapter(), options)
    : await NestFactory.create<NestExpressApplication>(appModule(), new ExpressAdapter(), options);
  const closeStore = EXPRESS_SESSION.includes(variant) ? await useExpressSession(app as NestExpressApplication) : async () => undefined;
  await app.listen(0, '127.0.0.1');
  serveChild(app.getHttpServer() as Server, async () => {
    await closeStore().catch(() => undefined);
    await app.close();
  });
} catch (error) {
  failChild(error);
}
