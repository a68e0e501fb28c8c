import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createSessionTestApp, type SessionTestApp } from './support/app.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { buildDemo } from './support/demo-process.js';

const exec = promisify(execFile);

let db: TestDatabase;
let t: SessionTestApp;

beforeAll(async () => {
  db = await createTestDatabase('nss_cli');
  await buildDemo();
  // A running instance with its cache on: revocations from the command must reach it.
  t = await createSessionTestApp(db.url, { cleanup: false });
}, 120_000);

afterAll(async () => {
  await t?.close();
  await db?.drop();
});

function sessions(...args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  const env: NodeJS.ProcessEnv = { ...process.env, DATABASE_URL: db.url };
  return exec(process.execPath, ['sample/dist/cli.js', ...args], { env, timeout: 60_000 }).then(
    ({ stdout, stderr }) => ({ stdout, stderr, code: 0 }),
    (error: { stdout: string; stderr: string; code: number }) => ({ stdout: error.stdout, stderr: error.stderr, code: error.code }),
  );
}

describe('npm run sessions', () => {
  it('stats counts live and expired sessions, purge deletes the expired ones', async () => {
    const userId = await t.createUser();
    await Promise.all([1, 2, 3].map(() => t.sessions.createSession({ userId })));
    await t.dataSource.query(
      `INSERT INTO sessions (user_id, token, expires_at) SELECT $1, sha256(convert_to('cli-' || n, 'UTF8')), now() - interval '1 hour' FROM generate_series(1, 4) n`,
      [userId],
    );
    expect(await sessions('stats')).toEqual({ stdout: 'live: 3\nexpired: 4\n', stderr: '', code: 0 });
    expect((await sessions('purge')).stdout).toMatch(/^purged 4 expired session\(s\) in \d+ ms\n$/);
    expect((await sessions('stats')).stdout).toBe('live: 3\nexpired: 0\n');
  }, 60_000);

  it('revoke-user ends every session of that user, on a running instance too', async () => {
    const userId = await t.createUser();
    const other = await t.createUser();
    const mine = await Promise.all([1, 2].map(() => t.sessions.createSession({ userId })));
    const theirs = await t.sessions.createSession({ userId: other });
    for (const s of mine) expect(await t.sessions.validateSession(s.token)).not.toBeNull();

    expect(await sessions('revoke-user', userId)).toMatchObject({ stdout: `revoked 2 session(s) of user ${userId}\n`, code: 0 });
    const deadline = Date.now() + 2_000;
    while ((await Promise.all(mine.map((s) => t.sessions.validateSession(s.token)))).some((u) => u !== null)) {
      if (Date.now() > deadline) throw new Error('the running instance still accepts a revoked session');
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(await t.sessions.validateSession(theirs.token)).not.toBeNull();
  }, 60_000);

  it.each([
    [[], 'usage: npm run sessions -- <command>'],
    [['frob'], 'unknown command "frob"'],
    [['revoke-user'], 'revoke-user takes one user id'],
    [['purge', 'now'], 'purge takes no arguments'],
  ])('answers %p with usage and exit code 2', async (args, message) => {
    const result = await sessions(...args);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(message);
  });

  it('names DATABASE_URL when it is missing', async () => {
    const env = { ...process.env };
    delete env.DATABASE_URL;
    const result = await exec(process.execPath, ['sample/dist/cli.js', 'stats'], { env }).catch((e: { stderr: string; code: number }) => e);
    expect(result).toMatchObject({ code: 2, stderr: expect.stringContaining('DATABASE_URL is not set') });
  });
});
