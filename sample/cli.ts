// The operator command: `npm run sessions -- purge | stats | revoke-user <id>`, for the jobs done
// by hand at 3 a.m. It talks to DATABASE_URL (and SESSION_STORAGE/REDIS_URL/MEMCACHED_URL) like
// the demo, and broadcasts revocations, so running instances drop their cached sessions at once.
import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DemoConfigError, readDemoConfig } from './config.js';
import { SessionModule, SessionOptionsError, SessionService } from 'nestjs-sessions';

const USAGE = `usage: npm run sessions -- <command>

  purge              delete expired sessions now (in batches, under the cluster-wide purge lock)
  stats              count live and expired sessions
  revoke-user <id>   end every session of user <id>, on every instance

environment: DATABASE_URL (required), SESSION_STORAGE, REDIS_URL, MEMCACHED_URL`;

function fail(message: string, code: number): never {
  process.stderr.write(`${message}\n`);
  process.exit(code);
}

async function main(argv: string[]): Promise<void> {
  const [command, ...args] = argv;
  if (!command || command === '--help' || command === '-h') fail(USAGE, command ? 0 : 2);
  if (!['purge', 'stats', 'revoke-user'].includes(command)) fail(`unknown command "${command}"\n\n${USAGE}`, 2);
  if (command === 'revoke-user' && args.length !== 1) fail(`revoke-user takes one user id\n\n${USAGE}`, 2);
  if (command !== 'revoke-user' && args.length !== 0) fail(`${command} takes no arguments\n\n${USAGE}`, 2);

  const config = readDemoConfig();
  if (!config.databaseUrl) {
    // The embedded database belongs to the running demo; a second process on its files would corrupt them.
    fail('DATABASE_URL is not set: point it at the sessions database, e.g. DATABASE_URL=postgres://user@host:5432/app npm run sessions -- stats', 2);
  }

  @Module({
    imports: [
      TypeOrmModule.forRoot({ type: 'postgres', url: config.databaseUrl, autoLoadEntities: true, retryAttempts: 1 }),
      SessionModule.forRoot({ ...config.session, cache: false, cleanup: false, resolveUser: (id) => ({ id }) }),
    ],
  })
  class CliModule {}

  const app = await NestFactory.createApplicationContext(CliModule, { logger: ['error', 'warn'], abortOnError: false });
  try {
    const sessions = app.get(SessionService);
    switch (command) {
      case 'purge': {
        const started = performance.now();
        const count = await sessions.purgeExpiredSessions();
        process.stdout.write(`purged ${count} expired session(s) in ${Math.round(performance.now() - started)} ms\n`);
        break;
      }
      case 'stats': {
        const { live, expired } = await sessions.countSessions();
        process.stdout.write(`live: ${live}\nexpired: ${expired}\n`);
        break;
      }
      case 'revoke-user': {
        const count = await sessions.revokeAllUserSessions(args[0]);
        process.stdout.write(`revoked ${count} session(s) of user ${args[0]}\n`);
        break;
      }
    }
  } finally {
    await app.close();
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  if (error instanceof DemoConfigError || error instanceof SessionOptionsError) fail(error.message, 2);
  fail(`sessions: ${error instanceof Error ? error.message : String(error)}`, 1);
});
