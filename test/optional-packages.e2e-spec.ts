import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { buildDemo } from './support/demo-process.js';

// Each case starts an app on the built package in a child process where one optional package
// cannot be resolved, as on a machine that never installed it, and expects the startup to stop
// naming the option and the install command (not a first login that fails after a write).
const run = promisify(execFile);
const SECRET = 'an-optional-packages-test-secret-of-48-bytes-0123456789';

function app(options: string, orm: boolean): string {
  return `
    import 'reflect-metadata';
    import { Test } from '@nestjs/testing';
    import { TypeOrmModule } from '@nestjs/typeorm';
    import { SessionModule } from './dist/index.js';
    const imports = [SessionModule.forRoot({ resolveUser: (id) => ({ id }), cleanup: false, broadcast: false, ...${options} })];
    if (${orm}) imports.unshift(TypeOrmModule.forRoot({ type: 'postgres', url: process.env.DATABASE_URL, autoLoadEntities: true, retryAttempts: 1 }));
    const moduleRef = await Test.createTestingModule({ imports }).compile();
    const context = await moduleRef.init();
    await context.close();
    console.log('started');`;
}

async function start(hide: string, script: string, env: Record<string, string> = {}): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', './test/support/hide-packages.mjs', '--input-type=module', '-e', script], {
      env: { ...process.env, ...env, HIDE_PACKAGES: hide },
      timeout: 30_000,
    });
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, output: failed.stdout + failed.stderr };
  }
}

let db: TestDatabase;

beforeAll(async () => {
  await buildDemo();
  db = await createTestDatabase('nss_optional');
}, 180_000);

afterAll(async () => {
  await db?.drop();
});

describe('a missing optional package stops the app at startup, naming it', () => {
  const jwt = `{ storage: { type: 'redis', url: 'redis://127.0.0.1:6379', keyPrefix: 'nss-optional:' }, tokenType: 'jwt', jwt: { keys: [{ kid: 'k1', secret: '${SECRET}' }] } }`;

  it.each([
    ['jose', 'tokenType', jwt, false, /SessionModule option "tokenType": 'jwt' needs the jose package.*npm install jose/],
    ['ioredis', 'storage.type', `{ storage: { type: 'redis', url: 'redis://127.0.0.1:6379' } }`, false, /SessionModule option "storage.type".*npm install ioredis/],
    ['memjs', 'storage.type', `{ storage: { type: 'memcached', servers: '127.0.0.1:11211', secret: '${SECRET}' } }`, true, /SessionModule option "storage.type".*npm install memjs/],
  ])('without %s (%s)', async (hide, _option, options, orm, message) => {
    const script = app(options, orm);
    // The same app starts when nothing is hidden, so the refusal is the package's absence.
    await expect(start('', script, { DATABASE_URL: db.url })).resolves.toMatchObject({ code: 0, output: expect.stringContaining('started') });
    const refused = await start(hide, script, { DATABASE_URL: db.url });
    expect(refused.code).not.toBe(0);
    expect(refused.output).toMatch(message);
    expect(refused.output).not.toContain('started');
  }, 60_000);
});

describe('an HTTP-only app', () => {
  // GraphQL and the WebSocket packages are only reached by an app that uses them: a guarded
  // route answers with all of them unresolvable.
  const transports = ['graphql', '@nestjs/graphql', '@nestjs/apollo', '@nestjs/mercurius', '@nestjs/websockets', '@nestjs/platform-socket.io', '@nestjs/platform-ws', 'socket.io', 'ws'];
  const script = `
    import 'reflect-metadata';
    import { Controller, Get, Module, UseGuards } from '@nestjs/common';
    import { NestFactory } from '@nestjs/core';
    import { CurrentUser, SessionGuard, SessionModule, SessionService } from './dist/index.js';
    class MeController { me(user) { return user; } }
    Get()(MeController.prototype, 'me', Object.getOwnPropertyDescriptor(MeController.prototype, 'me'));
    CurrentUser()(MeController.prototype, 'me', 0);
    Controller('me')(MeController);
    UseGuards(SessionGuard)(MeController);
    class AppModule {}
    Module({ imports: [SessionModule.forRoot({ storage: { type: 'redis', url: 'redis://127.0.0.1:6379', keyPrefix: 'nss-http-only:' }, resolveUser: (id) => ({ id }), cleanup: false })], controllers: [MeController] })(AppModule);
    const app = await NestFactory.create(AppModule, { logger: false });
    await app.listen(0, '127.0.0.1');
    const url = await app.getUrl();
    const { token } = await app.get(SessionService).createSession({ userId: 'u1' });
    const anonymous = await fetch(url + '/me');
    const signedIn = await fetch(url + '/me', { headers: { authorization: 'Bearer ' + token } });
    console.log(JSON.stringify({ anonymous: anonymous.status, signedIn: signedIn.status, body: await signedIn.json() }));
    await app.close();`;

  it('serves its guarded route with none of the GraphQL and WebSocket packages installed', async () => {
    const { code, output } = await start(transports.join(','), script);
    expect(code).toBe(0);
    expect(output).toContain(JSON.stringify({ anonymous: 401, signedIn: 200, body: { id: 'u1' } }));
  }, 60_000);
});
