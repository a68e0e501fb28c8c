import type { MigrationInterface, QueryRunner } from 'typeorm';
import { SESSION_DETAILS_TABLE } from './session-details.entity.js';
import { SESSIONS_TABLE } from './session.entity.js';

/**
 * Timestamp of the exported `CreateSessionDetails1765000000000`: after that of
 * `CreateSessionsTable1763856000000`, so listed together they run in the right order. A
 * sessions migration of your own (stamped when you made it) needs a details migration stamped
 * later: make it with `npx nestjs-sessions migration:create --details`.
 */
export const SESSION_DETAILS_MIGRATION_TIMESTAMP = 1765000000000;

/**
 * Builds the migration that creates `session_details`, the companion table of `sessions` that
 * the options `metadata`, `reauthentication`, `data` and `deviceBound` need. It must run after the sessions
 * migration: it references `sessions(id)` (ON DELETE CASCADE, so a session's details go with
 * it). The class name carries TypeORM's timestamp.
 *
 * `npx nestjs-sessions migration:create --details` writes such a class with the current timestamp.
 *
 * @example
 * export class CreateSessionDetails1767225600000 extends createSessionDetailsMigration() {}
 */
export function createSessionDetailsMigration(): new () => MigrationInterface {
  return class CreateSessionDetails1765000000000 implements MigrationInterface {
    async up(queryRunner: QueryRunner): Promise<void> {
      const [{ missing }] = (await queryRunner.query(`SELECT to_regclass($1) IS NULL AS missing`, [`"${SESSIONS_TABLE}"`])) as { missing: boolean }[];
      if (missing) {
        throw new Error(
          `Session details migration: table "${SESSIONS_TABLE}" does not exist. The details migration must run after the sessions migration: give it a later timestamp (npx nestjs-sessions migration:create --details stamps it now).`,
        );
      }
      // The CHECK keeps data an object, which the store's merge (data || patch) relies on.
      await queryRunner.query(`CREATE TABLE "${SESSION_DETAILS_TABLE}" (
  "session_id" bigint NOT NULL,
  "user_agent" varchar(512) NULL,
  "device" varchar(100) NULL,
  "ip" varchar(45) NULL,
  "last_seen_at" timestamptz NULL,
  "reauthenticated_at" timestamptz NULL,
  "data" jsonb NOT NULL DEFAULT '{}',
  "device_key" text NULL,
  "device_proof_at" timestamptz NULL,
  CONSTRAINT "PK_session_details" PRIMARY KEY ("session_id"),
  CONSTRAINT "FK_session_details_session_id" FOREIGN KEY ("session_id") REFERENCES "${SESSIONS_TABLE}" ("id") ON DELETE CASCADE,
  CONSTRAINT "CHK_session_details_data_object" CHECK (jsonb_typeof("data") = 'object')
)`);
    }

    async down(queryRunner: QueryRunner): Promise<void> {
      await queryRunner.query(`DROP TABLE "${SESSION_DETAILS_TABLE}"`);
    }
  };
}

/**
 * The details migration under a fixed timestamp, for `migrations: [CreateSessionsTable1763856000000,
 * CreateSessionDetails1765000000000]`. After a sessions migration stamped later than it, use
 * `migration:create --details` instead.
 */
export class CreateSessionDetails1765000000000 extends createSessionDetailsMigration() {}

/**
 * Timestamp of the exported `AddSessionDeviceBinding1766000000000`: after that of
 * `CreateSessionDetails1765000000000`. A details migration of your own needs a device-bound
 * one stamped later: make it with `npx nestjs-sessions migration:create --device-bound`.
 */
export const SESSION_DEVICE_BOUND_MIGRATION_TIMESTAMP = 1766000000000;

/**
 * Builds the migration that adds the columns of the option `deviceBound` (`device_key`, the
 * public key a browser registered; `device_proof_at`, the time of its last accepted proof) to a
 * `session_details` table made before they were part of it. A table made by the details
 * migration of this release has them already, which this one then leaves as they are. It must
 * run after the details migration.
 *
 * `npx nestjs-sessions migration:create --device-bound` writes such a class with the current timestamp.
 *
 * @example
 * export class AddSessionDeviceBinding1767225600000 extends createSessionDeviceBoundMigration() {}
 */
export function createSessionDeviceBoundMigration(): new () => MigrationInterface {
  return class AddSessionDeviceBinding1766000000000 implements MigrationInterface {
    async up(queryRunner: QueryRunner): Promise<void> {
      const [{ missing }] = (await queryRunner.query(`SELECT to_regclass($1) IS NULL AS missing`, [`"${SESSION_DETAILS_TABLE}"`])) as { missing: boolean }[];
      if (missing) {
        throw new Error(
          `Session device-bound migration: table "${SESSION_DETAILS_TABLE}" does not exist. It must run after the details migration: give it a later timestamp (npx nestjs-sessions migration:create --device-bound stamps it now).`,
        );
      }
      await queryRunner.query(`ALTER TABLE "${SESSION_DETAILS_TABLE}" ADD COLUMN IF NOT EXISTS "device_key" text NULL, ADD COLUMN IF NOT EXISTS "device_proof_at" timestamptz NULL`);
    }

    async down(queryRunner: QueryRunner): Promise<void> {
      await queryRunner.query(`ALTER TABLE "${SESSION_DETAILS_TABLE}" DROP COLUMN IF EXISTS "device_proof_at", DROP COLUMN IF EXISTS "device_key"`);
    }
  };
}

/**
 * The device-bound migration under a fixed timestamp, listed after `CreateSessionDetails1765000000000`.
 * After a details migration stamped later than it, use `migration:create --device-bound` instead.
 */
export class AddSessionDeviceBinding1766000000000 extends createSessionDeviceBoundMigration() {}
