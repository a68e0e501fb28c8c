// The `nestjs-sessions` bin as a user runs it: in a project of their own (a temporary folder whose
// node_modules links this repository as nestjs-sessions), with their entity, their DataSource
// file and their migrations, compiled by tsc and run by the TypeORM CLI.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import type { INestApplicationContext } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { SessionModule, type SessionModuleOptions, SessionService } from '../src/index.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { buildDemo } from './support/demo-process.js';

const exec = promisify(execFile);
const REPO = resolve('.');
const TSC = join(REPO, 'node_modules/typescript/bin/tsc');
const TYPEORM = join(REPO, 'node_modules/typeorm/cli.js');

let project: string;
let db: TestDatabase;
const usersMigrationAt = Date.now() - 60_000;

interface Run {
  stdout: string;
  stderr: string;
  code: number;
}

function run(file: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Run> {
  const env = { ...process.env, DATABASE_URL: db.url, NO_COLOR: '1', ...options.env };
  return exec(process.execPath, [file, ...args], { cwd: options.cwd ?? project, env, timeout: 60_000 }).then(
    ({ stdout, stderr }) => ({ stdout, stderr, code: 0 }),
    (error: Run) => ({ stdout: error.stdout, stderr: error.stderr, code: error.code }),
  );
}

const CACHE_SECRET = 'the-memcached-secret-of-the-cli-tests-0123456789';
/** `npx nestjs-sessions …` in the project: its .bin link leads to this file. */
const bin = (...args: string[]) => run('node_modules/nestjs-sessions/dist/cli/main.js', args);

const files: Record<string, string> = {
  'package.json': JSON.stringify({ name: 'user-app', private: true, type: 'module' }),
  'tsconfig.json': JSON.stringify({
    compilerOptions: {
      target: 'ES2023',
      module: 'nodenext',
      moduleResolution: 'nodenext',
      types: ['node'],
      strict: true,
      strictPropertyInitialization: false,
      experimentalDecorators: true,
      emitDecoratorMetadata: true,
      skipLibCheck: true,
      rootDir: 'src',
      outDir: 'dist',
    },
    include: ['src'],
  }),
  // No column type: TypeORM needs the decorator metadata that tsc emits (and tsx does not).
  'src/user.entity.ts': `import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';
@Entity('users')
export class User {
  @PrimaryGeneratedColumn('uuid') id: string;
  @Column() email: string;
}
`,
  'src/data-source.ts': `import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { User } from './user.entity.js';
export const AppDataSource = new DataSource({ type: 'postgres', url: process.env.DATABASE_URL, entities: [User], migrations: ['dist/migrations/*.js'] });
`,
  // A DataSource a job must not act on: the command turns synchronize and migrationsRun off.
  'src/sync-data-source.ts': `import 'reflect-metadata';
import { Column, DataSource, Entity, PrimaryGeneratedColumn } from 'typeorm';
@Entity('notes')
class Note {
  @PrimaryGeneratedColumn() id: number;
  @Column() text: string;
}
export default new DataSource({ type: 'postgres', url: process.env.DATABASE_URL, entities: [Note], migrations: ['dist/migrations/*.js'], synchronize: true, migrationsRun: true });
`,
  [`src/migrations/${usersMigrationAt}-CreateUsers.ts`]: `import type { MigrationInterface, QueryRunner } from 'typeorm';
export class CreateUsers${usersMigrationAt} implements MigrationInterface {
  async up(q: QueryRunner) { await q.query('CREATE TABLE users (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), email varchar NOT NULL)'); }
  async down(q: QueryRunner) { await q.query('DROP TABLE users'); }
}
`,
};

async function linkNodeModules(dir: string): Promise<void> {
  await mkdir(join(dir, 'node_modules'), { recursive: true });
  for (const entry of await readdir(join(REPO, 'node_modules'))) {
    if (entry !== '.bin' && entry !== '.package-lock.json') await symlink(join(REPO, 'node_modules', entry), join(dir, 'node_modules', entry));
  }
  await symlink(REPO, join(dir, 'node_modules/nestjs-sessions'));
}

beforeAll(async () => {
  [db] = await Promise.all([createTestDatabase('nss_bin'), buildDemo()]);
  project = await mkdtemp(join(tmpdir(), 'nss-user-app-'));
  await linkNodeModules(project);
  for (const [path, text] of Object.entries(files)) {
    await mkdir(join(project, path, '..'), { recursive: true });
    await writeFile(join(project, path), text);
  }
}, 180_000);

afterAll(async () => {
  await db?.drop();
  if (project) await rm(project, { recursive: true, force: true });
});

describe('nestjs-sessions migration:create, then the TypeORM CLI', () => {
  let timestamp: number;

  it('writes one migration with the current timestamp, extending createSessionsMigration', async () => {
    const before = Date.now();
    const result = await bin('migration:create', '--users-table', 'users', '--dir', 'src/migrations');
    const match = /^created src\/migrations\/(\d{13})-CreateSessionsTable\.ts \(class CreateSessionsTable(\d{13})\)\n$/.exec(result.stdout);
    expect({ ...result, stdout: match ? 'created …' : result.stdout }).toEqual({ stdout: 'created …', stderr: '', code: 0 });
    timestamp = Number(match![1]);
    expect(match![2]).toBe(match![1]);
    expect(timestamp).toBeGreaterThan(before - 1_000);
    expect(timestamp).toBeLessThanOrEqual(Date.now());

    const text = await readFile(join(project, `src/migrations/${timestamp}-CreateSessionsTable.ts`), 'utf8');
    expect(text).toContain(`import { createSessionsMigration } from 'nestjs-sessions';`);
    expect(text).toContain(`export class CreateSessionsTable${timestamp} extends createSessionsMigration({ usersTable: 'users' }) {}`);
  });

  it('refuses a second one in the same folder, and writes nothing', async () => {
    const result = await bin('migration:create', '--users-table', 'users', '--dir', 'src/migrations');
    expect(result).toMatchObject({ code: 2, stdout: '' });
    expect(result.stderr).toContain(`src/migrations/${timestamp}-CreateSessionsTable.ts already exists`);
    expect((await readdir(join(project, 'src/migrations'))).sort()).toEqual([`${usersMigrationAt}-CreateUsers.ts`, `${timestamp}-CreateSessionsTable.ts`]);
  });

  it('compiles with tsc and loads as the class TypeORM expects', async () => {
    expect(await run(TSC, ['-p', '.'])).toMatchObject({ code: 0, stdout: '' });
    const probe = await exec(process.execPath, ['--input-type=module', '-e', `const m = await import('./dist/migrations/${timestamp}-CreateSessionsTable.js'); console.log(Object.keys(m).join(), typeof new m.CreateSessionsTable${timestamp}().up)`], {
      cwd: project,
    });
    expect(probe.stdout).toBe(`CreateSessionsTable${timestamp} function\n`);
  });

  it('runs after the users migration: sessions gets user_id uuid and the foreign key to users', async () => {
    const result = await run(TYPEORM, ['migration:run', '-d', 'dist/data-source.js']);
    expect(result.code).toBe(0);
    const users = result.stdout.indexOf(`Migration CreateUsers${usersMigrationAt} has been executed successfully.`);
    const sessions = result.stdout.indexOf(`Migration CreateSessionsTable${timestamp} has been executed successfully.`);
    expect(users).toBeGreaterThan(-1);
    expect(sessions).toBeGreaterThan(users);

    const ds = await new DataSource({ type: 'postgres', url: db.url }).initialize();
    try {
      expect(await ds.query(`SELECT pg_get_constraintdef(oid) AS def FROM pg_constraint WHERE conrelid = 'sessions'::regclass AND contype = 'f'`)).toEqual([
        { def: 'FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE' },
      ]);
      const [{ type }] = await ds.query(`SELECT format_type(atttypid, atttypmod) AS type FROM pg_attribute WHERE attrelid = 'sessions'::regclass AND attname = 'user_id'`);
      expect(type).toBe('uuid');
    } finally {
      await ds.destroy();
    }
  }, 60_000);
});

describe('nestjs-sessions migration:create --details, then the TypeORM CLI', () => {
  it('writes the session_details migration, stamped after the sessions one, which the TypeORM CLI runs', async () => {
    const result = await bin('migration:create', '--details');
    const [, stamp] = /^created src\/migrations\/(\d{13})-CreateSessionDetails\.ts \(class CreateSessionDetails\1\)\n$/.exec(result.stdout) ?? [];
    expect({ ...result, stdout: stamp ? 'created …' : result.stdout }).toEqual({ stdout: 'created …', stderr: '', code: 0 });
    const text = await readFile(join(project, `src/migrations/${stamp}-CreateSessionDetails.ts`), 'utf8');
    expect(text).toContain(`import { createSessionDetailsMigration } from 'nestjs-sessions';`);
    expect(text).toContain(`export class CreateSessionDetails${stamp} extends createSessionDetailsMigration() {}`);
    expect(await bin('migration:create', '--details')).toMatchObject({ code: 2, stderr: expect.stringContaining('-CreateSessionDetails.ts already exists: the session_details table has a migration there') });

    expect(await run(TSC, ['-p', '.'])).toMatchObject({ code: 0, stdout: '' });
    const ran = await run(TYPEORM, ['migration:run', '-d', 'dist/data-source.js']);
    expect(ran.stdout).toContain(`Migration CreateSessionDetails${stamp} has been executed successfully.`);
    const ds = await new DataSource({ type: 'postgres', url: db.url }).initialize();
    try {
      expect(await ds.query(`SELECT pg_get_constraintdef(oid) AS def FROM pg_constraint WHERE conrelid = 'session_details'::regclass AND contype = 'f'`)).toEqual([
        { def: 'FOREIGN KEY (session_id) REFERENCES sessions(id) ON DELETE CASCADE' },
      ]);
    } finally {
      await ds.destroy();
    }
  }, 60_000);
});

describe('nestjs-sessions stats | purge | revoke-user --data-source', () => {
  let running: INestApplicationContext | undefined;
  let sessions: SessionService;
  let ds: DataSource;

  /** A running instance of the user's app with its cache on: revocations must reach it. */
  async function startInstance(options: Omit<SessionModuleOptions, 'resolveUser'> = {}): Promise<SessionService> {
    const moduleRef = await Test.createTestingModule({
      imports: [TypeOrmModule.forRoot({ type: 'postgres', url: db.url }), SessionModule.forRoot({ cleanup: false, ...options, resolveUser: (id) => ({ id }) })],
    }).compile();
    running = await moduleRef.init();
    return running.get(SessionService);
  }

  const createUser = async () => ((await ds.query(`INSERT INTO users (email) VALUES ($1) RETURNING id`, [`${randomBytes(4).toString('hex')}@example.test`])) as { id: string }[])[0].id;

  async function expectRevokedOnInstance(service: SessionService, tokens: string[]): Promise<void> {
    const deadline = Date.now() + 2_000;
    while ((await Promise.all(tokens.map((token) => service.validateSession(token)))).some((u) => u !== null)) {
      if (Date.now() > deadline) throw new Error('the running instance still accepts a revoked session');
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  beforeAll(async () => {
    ds = await new DataSource({ type: 'postgres', url: db.url }).initialize();
    sessions = await startInstance();
  });
  afterAll(async () => {
    await running?.close();
    await ds?.destroy();
  });

  it('stats counts live and expired sessions, purge deletes the expired ones', async () => {
    const userId = await createUser();
    await Promise.all([1, 2, 3].map(() => sessions.createSession({ userId })));
    await ds.query(`INSERT INTO sessions (user_id, token, expires_at) SELECT $1, sha256(convert_to('bin-' || n, 'UTF8')), now() - interval '1 hour' FROM generate_series(1, 4) n`, [userId]);

    expect(await bin('stats', '--data-source', 'dist/data-source.js')).toEqual({ stdout: 'live: 3\nexpired: 4\n', stderr: '', code: 0 });
    expect((await bin('purge', '-d', 'dist/data-source.js')).stdout).toMatch(/^purged 4 expired session\(s\) in \d+ ms\n$/);
    expect((await bin('stats', '-d', 'dist/data-source.js')).stdout).toBe('live: 3\nexpired: 0\n');
  }, 60_000);

  it('revoke-user ends every session of that user, on the running instance too', async () => {
    const userId = await createUser();
    const other = await createUser();
    const mine = await Promise.all([1, 2].map(() => sessions.createSession({ userId })));
    const theirs = await sessions.createSession({ userId: other });
    for (const s of mine) expect(await sessions.validateSession(s.token)).not.toBeNull();

    expect(await bin('revoke-user', userId, '--data-source', 'dist/data-source.js')).toEqual({ stdout: `revoked 2 session(s) of user ${userId}\n`, stderr: '', code: 0 });
    await expectRevokedOnInstance(sessions, mine.map((s) => s.token));
    expect(await sessions.validateSession(theirs.token)).not.toBeNull();
  }, 60_000);

  it('with --storage memcached, drops the sessions from Memcached too', async () => {
    const keyPrefix = `bin${randomBytes(3).toString('hex')}:`;
    const tiered = await Test.createTestingModule({
      imports: [
        TypeOrmModule.forRoot({ type: 'postgres', url: db.url }),
        SessionModule.forRoot({ cleanup: false, storage: { type: 'memcached', servers: '127.0.0.1:11211', keyPrefix, secret: CACHE_SECRET }, resolveUser: (id) => ({ id }) }),
      ],
    }).compile();
    const app = await tiered.init();
    try {
      const service = app.get(SessionService);
      const userId = await createUser();
      const mine = await Promise.all([1, 2].map(() => service.createSession({ userId })));
      for (const s of mine) expect(await service.validateSession(s.token)).not.toBeNull();
      const args = ['revoke-user', userId, '-d', 'dist/data-source.js', '--storage', 'memcached', '--memcached-servers', '127.0.0.1:11211', '--key-prefix', keyPrefix];
      expect(await bin(...args)).toMatchObject({ code: 2, stderr: expect.stringContaining('set SESSION_CACHE_SECRET') });
      const result = await run('node_modules/nestjs-sessions/dist/cli/main.js', args, { env: { SESSION_CACHE_SECRET: CACHE_SECRET } });
      expect(result).toEqual({ stdout: `revoked 2 session(s) of user ${userId}\n`, stderr: '', code: 0 });
      await expectRevokedOnInstance(service, mine.map((s) => s.token));
    } finally {
      await app.close();
    }
  }, 60_000);

  it('with --storage redis (REDIS_URL from the environment), needs no DataSource', async () => {
    const keyPrefix = `bin${randomBytes(3).toString('hex')}:`;
    const app = await (
      await Test.createTestingModule({
        imports: [SessionModule.forRoot({ cleanup: false, storage: { type: 'redis', url: 'redis://127.0.0.1:6379', keyPrefix }, resolveUser: (id) => ({ id }) })],
      }).compile()
    ).init();
    try {
      const service = app.get(SessionService);
      const mine = await Promise.all([1, 2].map(() => service.createSession({ userId: 'redis-user' })));
      for (const s of mine) expect(await service.validateSession(s.token)).not.toBeNull();
      const result = await run('node_modules/nestjs-sessions/dist/cli/main.js', ['revoke-user', 'redis-user', '--storage', 'redis', '--key-prefix', keyPrefix], {
        env: { REDIS_URL: 'redis://127.0.0.1:6379' },
      });
      expect(result).toEqual({ stdout: 'revoked 2 session(s) of user redis-user\n', stderr: '', code: 0 });
      await expectRevokedOnInstance(service, mine.map((s) => s.token));
      expect(await bin('stats', '--storage', 'redis')).toMatchObject({ code: 2, stderr: expect.stringContaining('Redis expires sessions itself. revoke-user works.') });
    } finally {
      await app.close();
    }
  }, 60_000);

  it("leaves the DataSource's synchronize and migrationsRun off", async () => {
    expect(await bin('stats', '-d', 'dist/sync-data-source.js')).toMatchObject({ code: 0, stdout: expect.stringMatching(/^live: \d+\nexpired: 0\n$/) });
    const [{ notes }] = await ds.query(`SELECT to_regclass('notes') IS NOT NULL AS notes`);
    expect(notes).toBe(false);
  }, 60_000);

  it.each([
    [['stats'], '--data-source is missing: storage database keeps sessions in PostgreSQL'],
    [['stats', '-d', 'dist/nope.js'], '--data-source dist/nope.js: no such file'],
    [['stats', '-d', 'dist/user.entity.js'], '--data-source dist/user.entity.js: it exports no DataSource. Export one'],
    [['stats', '-d', 'src/data-source.ts'], 'A .ts DataSource needs a loader that emits decorator metadata'],
    [['stats', '-d', 'dist/data-source.js', '--storage', 'mongo'], '--storage: got "mongo"; expected database, redis or memcached'],
    [['stats', '--frob'], 'stats: unknown option --frob'],
    [['revoke-user'], 'revoke-user takes one user id'],
    [['frob'], 'unknown command "frob"'],
    [[], 'usage: nestjs-sessions <command> [options]'],
    [['migration:create', '--users-column', 'uid'], '--users-column applies to the users table; give --users-table too'],
    [['migration:create', '--user-id-type', 'text; DROP TABLE users'], '--user-id-type "text; DROP TABLE users" is not a plain SQL type name'],
    [['migration:create', '--users-table', 'users', '--if-users-table-missing', 'skip'], "--if-users-table-missing \"skip\" is not one of 'fail', 'create-without-foreign-key'"],
    [['migration:create', '--details', '--users-table', 'users'], '--users-table applies to the sessions migration; --details writes the session_details one'],
  ])('answers %p with exit code 2 and what to do', async (args, message) => {
    const result = await bin(...args);
    expect(result).toMatchObject({ code: 2, stdout: '' });
    expect(result.stderr).toContain(message);
  });

  it('says when the database cannot be reached, with exit code 1', async () => {
    const result = await run('node_modules/nestjs-sessions/dist/cli/main.js', ['stats', '-d', 'dist/data-source.js'], { env: { DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none' } });
    expect(result).toMatchObject({ code: 1, stdout: '' });
    expect(result.stderr).toContain('could not connect with the DataSource of dist/data-source.js: connect ECONNREFUSED 127.0.0.1:1.');
  });
});

describe('nestjs-sessions migration:create --js, --help, and the package', () => {
  it.each([
    ['an ESM package', { type: 'module' }, 'esm', `import { createSessionsMigration } from 'nestjs-sessions';`],
    ['a CommonJS package', {}, 'commonjs', `const { createSessionsMigration } = require('nestjs-sessions');`],
  ])('in %s, writes JavaScript of that kind, which loads', async (_label, pkg, format, importLine) => {
    const dir = join(project, `js-${format}`);
    await mkdir(dir);
    await writeFile(join(dir, 'package.json'), JSON.stringify({ name: `js-${format}`, ...pkg }));
    const result = await run(join(project, 'node_modules/nestjs-sessions/dist/cli/main.js'), ['migration:create', '--js', '--dir', 'db', '--name', 'Sessions', '--user-id-type', 'bigint'], { cwd: dir });
    const [, file, className] = /^created (db\/\d{13}-Sessions\.js) \(class (Sessions\d{13}), (\w+)\)\n$/.exec(result.stdout) ?? [];
    expect([result.code, result.stderr, result.stdout.endsWith(`, ${format})\n`)]).toEqual([0, '', true]);
    const text = await readFile(join(dir, file), 'utf8');
    expect(text).toContain(importLine);
    expect(text).toContain(`class ${className} extends createSessionsMigration({ userIdType: 'bigint' }) {}`);
    const probe = await exec(process.execPath, ['--input-type=module', '-e', `const m = await import('./${file}'); console.log(typeof m.${className})`], { cwd: dir });
    expect(probe.stdout).toBe('function\n');
  });

  it('passes --if-users-table-missing on, for an app whose users table comes from synchronize', async () => {
    const dir = join(project, 'on-synchronize');
    await mkdir(dir);
    const result = await run(join(project, 'node_modules/nestjs-sessions/dist/cli/main.js'), ['migration:create', '--users-table', 'users', '--if-users-table-missing', 'create-without-foreign-key'], {
      cwd: dir,
    });
    const [, file, className] = /^created (src\/migrations\/\d{13}-CreateSessionsTable\.ts) \(class (CreateSessionsTable\d{13})\)\n$/.exec(result.stdout) ?? [];
    expect(await readFile(join(dir, file), 'utf8')).toContain(
      `export class ${className} extends createSessionsMigration({ usersTable: 'users', ifUsersTableMissing: 'create-without-foreign-key' }) {}`,
    );
  });

  it('--help describes each command and its options', async () => {
    expect((await bin('--help')).stdout).toContain('migration:create   write the migration that creates the sessions table');
    const migration = await bin('migration:create', '--help');
    expect(migration.stdout).toContain('--if-users-table-missing fail|create-without-foreign-key');
    expect(migration.stdout).toContain('--details                 the migration of session_details instead');
    const operator = await bin('stats', '--help');
    expect(operator).toMatchObject({ code: 0, stderr: '' });
    expect(operator.stdout).toContain('--data-source <file>');
    expect(operator.stdout).toContain("NODE_OPTIONS='--import @swc-node/register/esm-register'");
  });

  it('is the bin of the package: an executable script with its shebang', async () => {
    const pkg = JSON.parse(await readFile('package.json', 'utf8')) as { bin: Record<string, string>; files: string[] };
    expect(pkg.bin).toEqual({ 'nestjs-sessions': 'dist/cli/main.js' });
    expect((await readFile(pkg.bin['nestjs-sessions'], 'utf8')).startsWith('#!/usr/bin/env node\n')).toBe(true);
    expect((await bin('--version')).stdout).toBe(`${(JSON.parse(await readFile('package.json', 'utf8')) as { version: string }).version}\n`);
  });
});
