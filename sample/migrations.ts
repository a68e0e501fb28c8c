import type { MigrationInterface, QueryRunner } from 'typeorm';
import { createSessionDetailsMigration, createSessionDeviceBoundMigration, createSessionsMigration } from 'nestjs-sessions';

export class CreateUsers1763855000000 implements MigrationInterface {
  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`CREATE TABLE "users" (
  "id" uuid NOT NULL DEFAULT gen_random_uuid(),
  "email" text NOT NULL,
  "password_hash" text NOT NULL,
  "created_at" timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT "PK_users" PRIMARY KEY ("id"),
  CONSTRAINT "UQ_users_email" UNIQUE ("email")
)`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "users"`);
  }
}

/** The library's sessions table, with user_id a uuid referencing users (ON DELETE CASCADE). */
export class CreateSessionsTable1763856000000 extends createSessionsMigration({ usersTable: 'users' }) {}

/**
 * The library's session_details table (device metadata, re-authentication time, per-session
 * data), which the demo's details options need; stamped after the sessions table it references.
 */
export class CreateSessionDetails1763857000000 extends createSessionDetailsMigration() {}

/**
 * The device-bound columns (SESSION_DEVICE_BOUND) for a session_details table made before
 * them; on a new database the table already has them and this changes nothing.
 */
export class AddSessionDeviceBinding1763858000000 extends createSessionDeviceBoundMigration() {}

/** The demo's migrations in order; `migrations/` re-exports them for the TypeORM CLI. */
export const demoMigrations = [CreateUsers1763855000000, CreateSessionsTable1763856000000, CreateSessionDetails1763857000000, AddSessionDeviceBinding1763858000000];
