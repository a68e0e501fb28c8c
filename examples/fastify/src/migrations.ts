import type { MigrationInterface, QueryRunner } from 'typeorm';
import { createSessionsMigration } from 'nestjs-sessions';

export class CreateUsers1763855000000 implements MigrationInterface {
  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`CREATE TABLE "users" ("id" uuid PRIMARY KEY DEFAULT gen_random_uuid(), "name" text NOT NULL UNIQUE)`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "users"`);
  }
}

// The library's sessions table, run after users: user_id takes the type of users.id (uuid)
// and a foreign key ON DELETE CASCADE. TypeORM orders migrations by the timestamp in the name.
export class CreateSessionsTable1763856000000 extends createSessionsMigration({ usersTable: 'users' }) {}
