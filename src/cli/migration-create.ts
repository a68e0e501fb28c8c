import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { createSessionsMigration, type SessionsMigrationOptions } from '../stores/typeorm/session.migration.js';
import { SESSION_DETAILS_TABLE } from '../stores/typeorm/session-details.entity.js';
import { errorText, SessionsCliError } from './errors.js';

/** What `migration:create` writes, from its flags. */
export interface MigrationFileOptions {
  /**
   * The migration of `sessions`, of `session_details` (`--details`), or of the device columns
   * of `session_details` (`--device-bound`); `migration` is empty for the last two. Default sessions.
   */
  table?: MigrationTable;
  migration: SessionsMigrationOptions;
  /** The folder, relative to `cwd`. */
  dir: string;
  /** The class name before the timestamp. */
  name: string;
  language: 'ts' | 'js';
}

export type MigrationTable = 'sessions' | 'details' | 'deviceBound';

const FACTORIES: Record<MigrationTable, string> = {
  sessions: 'createSessionsMigration',
  details: 'createSessionDetailsMigration',
  deviceBound: 'createSessionDeviceBoundMigration',
};

export interface CreatedMigration {
  /** As given (`dir` joined with the file name), for the message. */
  path: string;
  className: string;
  format: 'typescript' | 'esm' | 'commonjs';
}

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*[A-Za-z_$]$|^[A-Za-z_$]$/;

function quote(text: string): string {
  return `'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/** `{ usersTable: 'users' }`, with only the options given, in the order the type declares them. */
function optionsLiteral(options: SessionsMigrationOptions): string {
  const entries = (['usersTable', 'usersColumn', 'userIdType', 'ifUsersTableMissing'] as const)
    .filter((key) => options[key] !== undefined)
    .map((key) => `${key}: ${quote(String(options[key]))}`);
  return entries.length ? `{ ${entries.join(', ')} }` : '';
}

/** "module" when the package.json nearest to `dir` (which may not exist yet) says so. */
async function isEsmPackage(dir: string): Promise<boolean> {
  for (let at = dir; ; at = dirname(at)) {
    const text = await readFile(join(at, 'package.json'), 'utf8').catch(() => undefined);
    if (text !== undefined) {
      try {
        return (JSON.parse(text) as { type?: unknown }).type === 'module';
      } catch {
        throw new SessionsCliError(`${join(at, 'package.json')} is not valid JSON; --js reads its "type" to choose between ESM and CommonJS. Fix it, or give --ts.`);
      }
    }
    if (dirname(at) === at) return false;
  }
}

function headerOf(table: MigrationTable, createdAt: Date): string {
  if (table === 'deviceBound') {
    return `// The device columns of ${SESSION_DETAILS_TABLE} (the option deviceBound), for a table made before them,
// written by \`nestjs-sessions migration:create --device-bound\` on ${createdAt.toISOString()}.
// Its SQL is the library's (createSessionDeviceBoundMigration); it alters ${SESSION_DETAILS_TABLE}, so
// TypeORM must run it after the details migration, which has to carry an earlier timestamp.
`;
  }
  if (table === 'details') {
    return `// The ${SESSION_DETAILS_TABLE} table of nestjs-sessions (the options metadata, reauthentication and data),
// written by \`nestjs-sessions migration:create --details\` on ${createdAt.toISOString()}.
// Its SQL is the library's (createSessionDetailsMigration); it references sessions(id), so TypeORM
// must run it after the sessions migration, which has to carry an earlier timestamp.
`;
  }
  return `// The sessions table of nestjs-sessions, written by \`nestjs-sessions migration:create\` on ${createdAt.toISOString()}.
// Its SQL is the library's (createSessionsMigration); TypeORM runs it after the migrations with an
// earlier timestamp, so the one that creates your users table must be among those.
`;
}

export function migrationSource(
  className: string,
  options: SessionsMigrationOptions,
  format: CreatedMigration['format'],
  createdAt: Date,
  table: MigrationTable = 'sessions',
): string {
  const header = headerOf(table, createdAt);
  const factory = FACTORIES[table];
  const base = `${factory}(${table === 'sessions' ? optionsLiteral(options) : ''})`;
  if (format === 'commonjs') {
    return `${header}const { ${factory} } = require('nestjs-sessions');

class ${className} extends ${base} {}
exports.${className} = ${className};
`;
  }
  return `${header}import { ${factory} } from 'nestjs-sessions';

export class ${className} extends ${base} {}
`;
}

/** Writes the migration file; never overwrites, and refuses a second `name` migration in `dir`. */
export async function createMigrationFile(options: MigrationFileOptions, cwd: string, now = Date.now()): Promise<CreatedMigration> {
  const { migration, dir, name, language, table = 'sessions' } = options;
  if (!IDENTIFIER.test(name)) {
    throw new SessionsCliError(`--name: got ${JSON.stringify(name)}; expected a class name such as CreateSessionsTable (letters, digits, _ or $, not ending in a digit: the timestamp follows it).`);
  }
  try {
    createSessionsMigration(migration);
  } catch (error) {
    throw new SessionsCliError(`${errorText(error).replace(/^createSessionsMigration: (\w+)/, (_, key: string) => `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`)}`);
  }

  const folder = resolve(cwd, dir);
  const existing = (await readdir(folder).catch(() => [] as string[])).find((file) => new RegExp(`^\\d{13}-${name}\\.[cm]?[jt]s$`).test(file));
  if (existing) {
    throw new SessionsCliError(
      `${join(dir, existing)} already exists: ${table === 'deviceBound' ? `the device columns of ${SESSION_DETAILS_TABLE} have` : `the ${table === 'details' ? SESSION_DETAILS_TABLE : 'sessions'} table has`} a migration there. Run it with your TypeORM CLI; to make a new one, delete that file first (if it never ran), or give another --name.`,
    );
  }

  const format = language === 'ts' ? 'typescript' : (await isEsmPackage(folder)) ? 'esm' : 'commonjs';
  const className = `${name}${now}`;
  const file = `${now}-${name}.${language}`;
  await mkdir(folder, { recursive: true });
  try {
    await writeFile(join(folder, file), migrationSource(className, migration, format, new Date(now), table), { flag: 'wx' });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new SessionsCliError(`${join(dir, file)} already exists; not overwritten. Run the command again for a new timestamp.`, 1);
    throw new SessionsCliError(`could not write ${join(dir, file)}: ${errorText(error)}`, 1);
  }
  const shown = relative(cwd, join(folder, file));
  return { path: shown.startsWith('..') ? join(folder, file) : shown, className, format };
}
