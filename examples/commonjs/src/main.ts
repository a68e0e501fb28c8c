import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { AppModule } from './app.module';

// Compiled to CommonJS, this file require()s '@nestjs/core' and, through the module,
// 'nestjs-sessions': both are ES modules, which require() loads on Node 22.12 and later.
async function main(): Promise<void> {
  if (!process.env.DATABASE_URL) throw new Error('Set DATABASE_URL, e.g. postgres://postgres@127.0.0.1:5432/app');
  const app = await NestFactory.create(AppModule);
  // On SIGTERM, close what the session module opened (its LISTEN connection) and TypeORM's pool.
  app.enableShutdownHooks();
  await app.listen(Number(process.env.PORT ?? 3000));
  console.log(`listening on ${await app.getUrl()}`);
}

// CommonJS has no top-level await.
main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
