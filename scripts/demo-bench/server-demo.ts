/**
 * A server child of scripts/demo-bench.ts: the demo app as `createDemoApp` (sample/app.ts) builds
 * it on Express, from the compiled demo (sample/dist, `npm run build`) on the built library
 * (dist/, which 'nestjs-sessions' resolves to), with the options `npm start` would give it
 * (readDemoConfig, as sample/main.ts does) and METRICS_TOKEN set, so `/metrics` is on too.
 *
 *   DEMO_BENCH_SERVER=demo-hit   the demo's defaults (cache on), plus one open route:
 *                                `@Public() GET /bench/open`, the shape of `GET /me` from a constant
 *   DEMO_BENCH_SERVER=demo-miss  the same with SESSION_CACHE_SIZE=0 (`cache: false`)
 *
 * createDemoApp takes no extra controller, so the app is built here the same way around a module
 * that imports `AppModule.forRoot(options)` and declares the open route. APP_GUARD is app-wide,
 * so SessionGuard runs on that route as on every other, and lets it through for `@Public()`.
 * The login throttling's per-address limit is off (LOGIN_IP_LIMIT=off): every login of the
 * benchmark comes from 127.0.0.1.
 */
import 'reflect-metadata';
import type { Server } from 'node:http';
import { Controller, type DynamicModule, Get, Module, ValidationPipe } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ExpressAdapter } from '@nestjs/platform-express';
import { Public } from 'nestjs-sessions';
import { SessionIoAdapter } from 'nestjs-sessions/socket.io';
import { failChild, requireEnv, serveChild } from '../../bench/common.js';
import type { AccountContext } from '../../sample/account-context.js';
import type { DemoAppOptions } from '../../sample/app.module.js';
import { countStatementsOnRequest } from './protocol.js';

const server = requireEnv('DEMO_BENCH_SERVER');
if (server !== 'demo-hit' && server !== 'demo-miss') failChild(new Error(`server-demo: unknown server ${server}`));

// The compiled demo, as `npm start` runs it: tsc emits the decorator metadata its constructors need.
const SAMPLE_DIST = new URL('../../sample/dist/', import.meta.url);
const { AppModule } = (await import(new URL('app.module.js', SAMPLE_DIST).href)) as typeof import('../../sample/app.module.js');
const { readDemoConfig } = (await import(new URL('config.js', SAMPLE_DIST).href)) as typeof import('../../sample/config.js');

/** What the open route answers: `GET /me`'s shape ({ id, email, context }), from constants. */
const OPEN_USER = { id: '00000000-0000-4000-8000-000000000000', email: 'open@example.com' };
const OPEN_CONTEXT: AccountContext = { admin: false, permissions: [], sessions: { max: null }, memberSince: '2026-01-01T00:00:00.000Z' };

@Controller('bench')
class BenchOpenController {
  @Public()
  @Get('open')
  open(): { id: string; email: string; context: AccountContext } {
    // A new outer object per request, the context shared: what `GET /me` does with the cached one.
    return { id: OPEN_USER.id, email: OPEN_USER.email, context: OPEN_CONTEXT };
  }
}

@Module({})
class DemoBenchModule {}

function demoBenchModule(options: DemoAppOptions): DynamicModule {
  return { module: DemoBenchModule, imports: [AppModule.forRoot({ ...options, http: 'express' })], controllers: server === 'demo-hit' ? [BenchOpenController] : [] };
}

/** The demo's options as sample/main.ts makes them from the environment, on a real PostgreSQL. */
function demoOptions(): DemoAppOptions {
  const config = readDemoConfig({
    DATABASE_URL: requireEnv('DATABASE_URL'),
    METRICS_TOKEN: requireEnv('METRICS_TOKEN'),
    LOGIN_IP_LIMIT: 'off',
    ...(server === 'demo-miss' ? { SESSION_CACHE_SIZE: '0' } : {}),
  });
  return {
    databaseUrl: config.databaseUrl!,
    poolSize: 10,
    freshAge: config.freshAge,
    loginThrottle: config.loginThrottle,
    metricsToken: config.metricsToken,
    // main.ts: broadcast on, unless on the embedded database.
    session: { ...config.session, broadcast: true },
  };
}

try {
  const options = demoOptions();
  // The rest is createDemoApp's, line for line (Express).
  const app = await NestFactory.create(demoBenchModule(options), new ExpressAdapter(), { logger: ['error', 'warn', 'log'], abortOnError: false });
  app.useWebSocketAdapter(new SessionIoAdapter(app));
  app.useGlobalPipes(new ValidationPipe({ whitelist: true, forbidNonWhitelisted: true }));
  (app.getHttpAdapter().getInstance() as { disable(name: string): void }).disable('x-powered-by');
  await app.listen(0, '127.0.0.1');
  countStatementsOnRequest();
  serveChild(app.getHttpServer() as Server, () => app.close());
} catch (error) {
  failChild(error);
}
