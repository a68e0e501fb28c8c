import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runSessionsCli } from '../src/cli/index.js';

// `nestjs-sessions migration:create --device-bound`, run in-process in a folder of its own. The
// file it writes imports createSessionDeviceBoundMigration from the package; running that
// migration is the PostgreSQL suite's (device-bound-store-postgres.e2e-spec.ts).

let cwd: string;

async function cli(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let [stdout, stderr] = ['', ''];
  const code = await runSessionsCli(argv, { cwd, stdout: (t) => void (stdout += t), stderr: (t) => void (stderr += t) });
  return { code, stdout, stderr };
}

beforeAll(async () => {
  cwd = await mkdtemp(join(tmpdir(), 'nss-device-cli-'));
});
afterAll(() => rm(cwd, { recursive: true, force: true }));

describe('nestjs-sessions migration:create --device-bound', () => {
  it('writes the migration of the device columns, stamped now, and refuses a second one', async () => {
    const result = await cli('migration:create', '--device-bound');
    const [, stamp] = /^created src\/migrations\/(\d{13})-AddSessionDeviceBinding\.ts \(class AddSessionDeviceBinding\1\)\n$/.exec(result.stdout) ?? [];
    expect({ ...result, stdout: stamp ? 'created …' : result.stdout }).toEqual({ code: 0, stdout: 'created …', stderr: '' });
    const text = await readFile(join(cwd, `src/migrations/${stamp}-AddSessionDeviceBinding.ts`), 'utf8');
    expect(text).toContain('--device-bound');
    expect(text).toContain(`import { createSessionDeviceBoundMigration } from 'nestjs-sessions';`);
    expect(text).toContain(`export class AddSessionDeviceBinding${stamp} extends createSessionDeviceBoundMigration() {}`);
    expect(await cli('migration:create', '--device-bound')).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('-AddSessionDeviceBinding.ts already exists: the device columns of session_details have a migration there'),
    });
  });

  it('writes CommonJS where the package is, under another --name', async () => {
    await writeFile(join(cwd, 'package.json'), JSON.stringify({ name: 'cjs-app' }));
    const result = await cli('migration:create', '--device-bound', '--js', '--dir', 'db', '--name', 'DeviceKeys');
    const [, file, className] = /^created (db\/\d{13}-DeviceKeys\.js) \(class (DeviceKeys\d{13}), commonjs\)\n$/.exec(result.stdout) ?? [];
    const text = await readFile(join(cwd, file), 'utf8');
    expect(text).toContain(`const { createSessionDeviceBoundMigration } = require('nestjs-sessions');`);
    expect(text).toContain(`class ${className} extends createSessionDeviceBoundMigration() {}\nexports.${className} = ${className};`);
  });

  it.each([
    [['--details', '--device-bound'], 'give --details or --device-bound, not both'],
    [['--device-bound', '--users-table', 'users'], '--users-table applies to the sessions migration; --device-bound writes the session_details one'],
    [['--device-bound', '--user-id-type', 'uuid'], '--user-id-type applies to the sessions migration; --device-bound writes the session_details one'],
  ])('answers %p with exit code 2 and what to do', async (args, message) => {
    const result = await cli('migration:create', ...args);
    expect(result).toMatchObject({ code: 2, stdout: '' });
    expect(result.stderr).toContain(message);
  });

  it('--help names it', async () => {
    expect((await cli('--help')).stdout).toContain('with --device-bound, the columns deviceBound adds');
    expect((await cli('migration:create', '--help')).stdout).toContain('--device-bound            the migration that adds the columns of the option deviceBound');
  });
});
