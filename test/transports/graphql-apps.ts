import { randomBytes } from 'node:crypto';
import { Inject, type INestApplication, type LoggerService, type Provider, UseGuards } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { ApolloDriver, type ApolloDriverConfig } from '@nestjs/apollo';
import { Context, Field, GraphQLModule, Mutation, ObjectType, Query, ResolveField, Resolver } from '@nestjs/graphql';
import { MercuriusDriver, type MercuriusDriverConfig } from '@nestjs/mercurius';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import {
  CurrentSession,
  CurrentUser,
  type HttpRequestLike,
  Public,
  RequireSession,
  type Session,
  SessionGuard,
  SessionModule,
  SessionService,
  SessionTransport,
} from '../../src/index.js';
import { TestClock } from '../support/clock.js';
import { listen } from '../support/http.js';
import { startProxy, type TcpProxy } from '../support/tcp-proxy.js';

export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
export const STORE_TIMEOUT_MS = 1_000;
export const MAX_AGE_MS = 60 * 60_000;
export const UPDATE_AGE_MS = 10 * 60_000;
/** `freshWithin` of the freshReport query. */
export const FRESH_WITHIN = '5m';

export type Driver = 'apollo' | 'mercurius';
/** Code-first apps use SessionGuard as an APP_GUARD, schema-first ones @UseGuards on each resolver. */
export type SchemaStyle = 'code-first' | 'schema-first';

export interface User {
  id: string;
  email: string;
  admin: boolean;
}

export const USERS: ReadonlyMap<string, User> = new Map(
  [
    { id: 'alice', email: 'alice@example.test', admin: false },
    { id: 'root', email: 'root@example.test', admin: true },
  ].map((u) => [u.id, u]),
);

/** Every line Nest logs, with its level, so a test can tell a refusal from an internal error. */
export class CapturingLogger implements LoggerService {
  readonly lines: { level: string; message: unknown; context: unknown }[] = [];
  private push(level: string, message: unknown, params: unknown[]): void {
    this.lines.push({ level, message, context: params.at(-1) });
  }
  log(message: unknown, ...params: unknown[]) { this.push('log', message, params); }
  error(message: unknown, ...params: unknown[]) { this.push('error', message, params); }
  warn(message: unknown, ...params: unknown[]) { this.push('warn', message, params); }
  debug(message: unknown, ...params: unknown[]) { this.push('debug', message, params); }
  verbose(message: unknown, ...params: unknown[]) { this.push('verbose', message, params); }
  fatal(message: unknown, ...params: unknown[]) { this.push('fatal', message, params); }
  at(...levels: string[]) {
    return this.lines.filter((line) => levels.includes(line.level));
  }
}

interface GraphqlContext {
  req?: HttpRequestLike & { res?: object };
  request?: HttpRequestLike;
  res?: object;
  reply?: object & { request?: HttpRequestLike };
}

/**
 * What the demo's logout does: revoke the presented token and clear the cookie, with the
 * request and response taken from the GraphQL context the way the guard takes them.
 */
async function logout(ctx: GraphqlContext, sessions: SessionService, transport: SessionTransport): Promise<boolean> {
  const request = ctx.req ?? ctx.request ?? ctx.reply?.request;
  const response = ctx.res ?? ctx.reply ?? ctx.req?.res;
  if (!request || !response) throw new Error('the GraphQL context has no request or response');
  await sessions.revokeSession(transport.readToken(request)?.token);
  transport.clear(response);
  return true;
}

@ObjectType('Me')
class Me {
  @Field(() => String) id!: string;
  @Field(() => String) email!: string;
}

@Resolver()
class CodeFirstResolver {
  constructor(
    @Inject(SessionService) private readonly sessions: SessionService,
    @Inject(SessionTransport) private readonly transport: SessionTransport,
  ) {}

  @Query(() => Me) me(@CurrentUser() user: User): Me { return user; }
  @Query(() => String) sessionId(@CurrentSession() session: Session): string { return session.id; }
  @Public() @Query(() => String) hello(): string { return 'hello, anyone'; }
  @RequireSession({ permissions: ['admin'] }) @Query(() => String) adminReport(@CurrentUser() user: User): string { return `report for ${user.id}`; }
  @RequireSession({ freshWithin: FRESH_WITHIN }) @Query(() => String) freshReport(@CurrentUser() user: User): string { return `fresh for ${user.id}`; }
  @Mutation(() => Boolean) logout(@Context() ctx: GraphqlContext): Promise<boolean> { return logout(ctx, this.sessions, this.transport); }
}

const TYPE_DEFS = /* GraphQL */ `
  type Me { id: String! email: String! }
  type Query { me: Me! sessionId: String! hello: String! adminReport: String! freshReport: String! }
  type Mutation { logout: Boolean! }
`;

@UseGuards(SessionGuard)
@Resolver('Query')
class SchemaFirstQueries {
  @ResolveField('me') me(@CurrentUser() user: User): Me { return user; }
  @ResolveField('sessionId') sessionId(@CurrentSession() session: Session): string { return session.id; }
  @Public() @ResolveField('hello') hello(): string { return 'hello, anyone'; }
  @RequireSession({ permissions: ['admin'] }) @ResolveField('adminReport') adminReport(@CurrentUser() user: User): string { return `report for ${user.id}`; }
  @RequireSession({ freshWithin: FRESH_WITHIN }) @ResolveField('freshReport') freshReport(@CurrentUser() user: User): string { return `fresh for ${user.id}`; }
}

@UseGuards(SessionGuard)
@Resolver()
class SchemaFirstMutations {
  constructor(
    @Inject(SessionService) private readonly sessions: SessionService,
    @Inject(SessionTransport) private readonly transport: SessionTransport,
  ) {}

  @Mutation('logout') logout(@Context() ctx: GraphqlContext): Promise<boolean> { return logout(ctx, this.sessions, this.transport); }
}

export interface GraphqlApp {
  app: INestApplication;
  base: string;
  sessions: SessionService;
  clock: TestClock;
  /** Between the app and Redis, for the outage tests. */
  proxy: TcpProxy;
  logger: CapturingLogger;
  close(): Promise<void>;
}

/** A listening app on `driver` (Apollo on Express, or Mercurius on Fastify) whose session store is Redis behind a proxy. */
export async function startGraphqlApp(driver: Driver, style: SchemaStyle): Promise<GraphqlApp> {
  const target = new URL(REDIS_URL);
  const proxy = await startProxy(target.hostname, Number(target.port || 6379));
  // Now, not a fixed date: Redis expires the keys at the sessions' expiry on its own clock.
  const clock = new TestClock(Date.now());
  const logger = new CapturingLogger();
  const schema = style === 'code-first' ? { autoSchemaFile: true } : { typeDefs: TYPE_DEFS };
  const graphql =
    driver === 'apollo'
      ? GraphQLModule.forRoot<ApolloDriverConfig>({ driver: ApolloDriver, ...schema })
      : GraphQLModule.forRoot<MercuriusDriverConfig>({ driver: MercuriusDriver, ...schema });
  const providers: Provider[] =
    style === 'code-first' ? [CodeFirstResolver, { provide: APP_GUARD, useClass: SessionGuard }] : [SchemaFirstQueries, SchemaFirstMutations];
  const moduleRef = await Test.createTestingModule({
    imports: [
      SessionModule.forRoot({
        storage: { type: 'redis', url: proxy.url(REDIS_URL), keyPrefix: `gql${randomBytes(4).toString('hex')}:` },
        resolveUser: (id) => USERS.get(id) ?? null,
        resolvePermissions: (user) => ((user as User).admin ? ['admin'] : []),
        // One instance: no bus whose reconnection after an outage would log on its own schedule.
        broadcast: false,
        cleanup: false,
        storeTimeout: STORE_TIMEOUT_MS,
        maxAge: MAX_AGE_MS,
        updateAge: UPDATE_AGE_MS,
        clock: clock.now,
      }),
      graphql,
    ],
    providers,
  }).compile();
  const app =
    driver === 'apollo'
      ? moduleRef.createNestApplication({ logger })
      : moduleRef.createNestApplication<NestFastifyApplication>(new FastifyAdapter(), { logger });
  try {
    const base = await listen(app);
    return {
      app,
      base,
      sessions: app.get(SessionService),
      clock,
      proxy,
      logger,
      close: async () => {
        proxy.restore();
        await app.close();
        await proxy.close();
      },
    };
  } catch (error) {
    await app.close().catch(() => undefined);
    await proxy.close();
    throw error;
  }
}
