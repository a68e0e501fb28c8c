/**
 * A server child of scripts/demo-bench.ts: the demo app as `createDemoApp` (sample/app.ts) builds
 * it on Express, from the compiled demo (sample/dist, `npm run build`) on the built library
 * (dist/, which 'nestjs-sessions' resolves to), with the options `npm start` would give it
 * (readDemoConfig, as sample/main.ts does) and METRICS_TOKEN set, so `/metrics` is on too.
 *
 *   DEMO_BENCH_SERVER=demo-hit   the demo's defaults (cache on), plus one open route:
 *                                `@Public() GET /bench/open`, `GET /me`'s shape and two parameters, from constants
 *   DEMO_BENCH_SERVER=demo-miss  the same with SESSION_CACHE_SIZE=0 (`cache: false`)
 *
 * The open route is one of the app's own controllers (DemoAppOptions.controllers). APP_GUARD is
 * app-wide, so SessionGuard runs on that route as on every other, and lets it through for `@Public()`.
 * The login throttling's per-address limit is off (LOGIN_IP_LIMIT=off): every login of the
 * benchmark comes from 127.0.0.1.
 */
import 'reflect-metadata';
import type { Server } from 'node:http';
import { Controller, createParamDecorator, Get } from '@nestjs/common';
import { Public } from 'nestjs-sessions';
import { failChild, requireEnv, serveChild } from '../../bench/common.js';
import type { AccountContext } from '../../sample/account-context.js';
import type { DemoAppOptions } from '../../sample/app.module.js';
import { countStatementsOnRequest } from './protocol.js';

const server = requireEnv('DEMO_BENCH_SERVER');
if (server !== 'demo-hit' && server !== 'demo-miss') failChild(new Error(`server-demo: unknown server ${server}`));

// The compiled demo, as `npm start` runs it: tsc emits the decorator metadata its constructors need.
const SAMPLE_DIST = new URL('../../sample/dist/', import.meta.url);
const { createDemoApp } = (await import(new URL('app.js', SAMPLE_DIST).href)) as typeof import('../../sample/app.js');
const { readDemoConfig } = (await import(new URL('config.js', SAMPLE_DIST).href)) as typeof import('../../sample/config.js');

/** What the open route answers: `GET /me`'s shape ({ id, email, context }), from constants. */
const OPEN_USER = { id: '00000000-0000-4000-8000-000000000000', email: 'open@example.com' };
const OPEN_SESSION: { context: AccountContext } = { context: { admin: false, permissions: [], sessions: { max: null }, memberSince: '2026-01-01T00:00:00.000Z' } };

// Two parameters, as `GET /me` has (@CurrentUser() and @CurrentSession()), from constants: Nest
// runs each custom parameter through the global ValidationPipe, and that cost is Nest's, not
// the session check's, so the open route pays it too.
const OpenUser = createParamDecorator(() => OPEN_USER);
const OpenSession = createParamDecorator(() => OPEN_SESSION);

@Controller('bench')
class BenchOpenController {
  @Public()
  @Get('open')
  open(@OpenUser() user: typeof OPEN_USER, @OpenSession() session: typeof OPEN_SESSION): { id: string; email: string; context: AccountContext } {
    return { id: user.id, email: user.email, context: session.context };
  }
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
    controllers: server === 'demo-hit' ? [BenchOpenController] : [],
  };
}

try {
  const app = await createDemoApp(demoOptions(), 'express');
  await app.listen(0, '127.0.0.1');
  countStatementsOnRequest();
  serveChild(app.getHttpServer() as Server, () => app.close());
} catch (error) {
  failChild(error);
}
