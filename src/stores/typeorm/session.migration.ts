import { Logger } from '@nestjs/common';
import type { MigrationInterface, QueryRunner } from 'typeorm';
import { SESSIONS_TABLE } from './session.entity.js';

/** How the sessions migration ties `user_id` to the application's users. */
export interface SessionsMigrationOptions {
  /**
   * The users table (`'users'`, `'auth.users'`). When named, `user_id` takes the type of its
   * key column and gets a foreign key with ON DELETE CASCADE. Default: no foreign key.
   */
  usersTable?: string;
  /** The users table's key column. Default `'id'`. */
  usersColumn?: string;
  /**
   * The type of `user_id` when no users table is named, or when it is missing and
   * `ifUsersTableMissing` is `'create-without-foreign-key'` (then the type of the key column of
   * a TypeORM entity mapped to `usersTable`, if the DataSource has one, comes first).
   * Default `'varchar(255)'`.
   */
  userIdType?: string;
  /**
   * What to do when `usersTable` does not exist when the migration runs. `'fail'` (the default)
   * stops the migration: a misspelt table should not pass. `'create-without-foreign-key'` is for
   * an app whose users table comes from `synchronize`, which TypeORM runs *after* migrations: the
   * table is created without the foreign key, a warning says so and gives the ALTER TABLE that
   * adds it later. A table that exists without `usersColumn` fails either way.
   */
  ifUsersTableMissing?: 'fail' | 'create-without-foreign-key';
}

/**
 * Timestamp of the exported `CreateSessionsTable1763856000000`; TypeORM orders migrations by it.
 * A migration tied to your users table should carry a timestamp after theirs: make it with
 * `npx nestjs-sessions migration:create --users-table users`.
 */
export const SESSIONS_MIGRATION_TIMESTAMP = 1763856000000;

const TYPE_NAME = /^[a-z][a-z0-9 ]*(\(\d+(,\s*\d+)?\))?$/i;
const MISSING_CHOICES = ['fail', 'create-without-foreign-key'];

async function usersTableMissing(queryRunner: QueryRunner, table: string): Promise<boolean> {
  const [{ missing }] = (await queryRunner.query(`SELECT to_regclass($1) IS NULL AS missing`, [table])) as { missing: boolean }[];
  return missing;
}

/** The type of `column` of the TypeORM entity mapped to `table`, when the DataSource has one. */
function entityKeyType(queryRunner: QueryRunner, table: string, column: string): string | undefined {
  const bare = table.replace(/"/g, '');
  const { entityMetadatas, driver } = queryRunner.connection;
  const key = entityMetadatas
    .find((m) => m.tablePath === bare || m.tableName === bare)
    ?.columns.find((c) => c.databaseName === column);
  if (!key) return undefined;
  const type = driver.normalizeType(key) + (key.length ? `(${key.length})` : '');
  return TYPE_NAME.test(type) ? type : undefined;
}

/**
 * Builds the migration that creates the `sessions` table, for an app whose users table is
 * named (foreign key, matching key type). The class name carries TypeORM's timestamp.
 *
 * `npx nestjs-sessions migration:create` writes such a class with the current timestamp.
 *
 * @example
 * export class CreateSessionsTable1767225600000 extends createSessionsMigration({ usersTable: 'users' }) {}
 */
export function createSessionsMigration(options: SessionsMigrationOptions = {}): new () => MigrationInterface {
  const { usersTable, usersColumn = 'id', userIdType, ifUsersTableMissing = 'fail' } = options;
  if (userIdType !== undefined && !TYPE_NAME.test(userIdType)) {
    throw new TypeError(`createSessionsMigration: userIdType ${JSON.stringify(userIdType)} is not a plain SQL type name such as 'uuid', 'bigint' or 'varchar(255)'.`);
  }
  if (!MISSING_CHOICES.includes(ifUsersTableMissing)) {
    throw new TypeError(`createSessionsMigration: ifUsersTableMissing ${JSON.stringify(ifUsersTableMissing)} is not one of ${MISSING_CHOICES.map((c) => `'${c}'`).join(', ')}.`);
  }

  return class CreateSessionsTable1763856000000 implements MigrationInterface {
    async up(queryRunner: QueryRunner): Promise<void> {
      let type = userIdType ?? 'varchar(255)';
      let foreignKey = '';
      const missing = usersTable !== undefined && (await usersTableMissing(queryRunner, usersTable));
      if (missing && ifUsersTableMissing === 'create-without-foreign-key') {
        type = userIdType ?? entityKeyType(queryRunner, usersTable, usersColumn) ?? type;
        new Logger('SessionsMigration').warn(
          `table ${usersTable} does not exist yet (made by synchronize, which runs after migrations?): created "${SESSIONS_TABLE}" with user_id ${type} and no foreign key. ` +
            `To add it once ${usersTable} exists, run in a later migration: ALTER TABLE "${SESSIONS_TABLE}" ADD CONSTRAINT "FK_sessions_user_id" FOREIGN KEY ("user_id") REFERENCES ${usersTable} ("${usersColumn}") ON DELETE CASCADE`,
        );
      } else if (usersTable !== undefined) {
        const [target] = (await queryRunner.query(
          `SELECT c.oid::regclass::text AS "table", quote_ident(a.attname) AS "column", format_type(a.atttypid, a.atttypmod) AS "type"
             FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
            WHERE c.oid = to_regclass($1) AND a.attname = $2 AND a.attnum > 0 AND NOT a.attisdropped`,
          [usersTable, usersColumn],
        )) as { table: string; column: string; type: string }[];
        if (!target) {
          const hint = missing
            ? `; if synchronize creates it (after migrations), give createSessionsMigration ifUsersTableMissing: 'create-without-foreign-key' (nestjs-sessions migration:create --if-users-table-missing create-without-foreign-key).`
            : '.';
          throw new Error(
            `Sessions migration: no column "${usersColumn}" in table "${usersTable}". Create the users table in an earlier migration (one with an earlier timestamp), or fix usersTable/usersColumn${hint}`,
          );
        }
        type = target.type;
        foreignKey = `,\n  CONSTRAINT "FK_sessions_user_id" FOREIGN KEY ("user_id") REFERENCES ${target.table} (${target.column}) ON DELETE CASCADE`;
      }
      await queryRunner.query(`CREATE TABLE "${SESSIONS_TABLE}" (
  "id" bigint GENERATED BY DEFAULT AS IDENTITY,
  "user_id" ${type} NOT NULL,
  "token" bytea NOT NULL,
  "expires_at" timestamptz NOT NULL,
  "created_at" timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT "PK_sessions" PRIMARY KEY ("id"),
  CONSTRAINT "CHK_sessions_token_sha256" CHECK (octet_length("token") = 32)${foreignKey}
)`);
      await queryRunner.query(`CREATE UNIQUE INDEX "UQ_sessions_token" ON "${SESSIONS_TABLE}" ("token")`);
      await queryRunner.query(`CREATE INDEX "IDX_sessions_user_id" ON "${SESSIONS_TABLE}" ("user_id")`);
      await queryRunner.query(`CREATE INDEX "IDX_sessions_expires_at" ON "${SESSIONS_TABLE}" ("expires_at")`);
    }

    async down(queryRunner: QueryRunner): Promise<void> {
      await queryRunner.query(`DROP TABLE "${SESSIONS_TABLE}"`);
    }
  };
}

/**
 * The sessions migration with no foreign key and `user_id varchar(255)`; list it in your
 * DataSource's `migrations`. Use `createSessionsMigration` to reference your users table.
 */
export class CreateSessionsTable1763856000000 extends createSessionsMigration() {}
