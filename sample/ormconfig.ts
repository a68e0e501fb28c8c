// The DataSource the TypeORM CLI uses (npm run migration:run | migration:revert | …).
// Runs under tsx, so it reads the TypeScript sources directly; no build step needed.
import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { User } from './user.entity.js';
import { SessionEntity } from 'nestjs-sessions';

const url = process.env.DATABASE_URL;
if (!url) {
  throw new Error('DATABASE_URL is not set: point it at the database to migrate, e.g. DATABASE_URL=postgres://postgres@127.0.0.1:5432/app npm run migration:run');
}

export default new DataSource({
  type: 'postgres',
  url,
  entities: [SessionEntity, User],
  migrations: ['sample/migrations/*.ts'],
});
