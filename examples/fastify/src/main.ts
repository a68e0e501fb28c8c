import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { AppModule } from './app.module.js';

if (!process.env.DATABASE_URL) throw new Error('Set DATABASE_URL, e.g. postgres://postgres@127.0.0.1:5432/app');

// The library needs no Fastify plugin: the guard reads the cookie header itself and
// SessionTransport writes Set-Cookie on a Fastify reply as on an Express response.
const app = await NestFactory.create<NestFastifyApplication>(AppModule, new FastifyAdapter());
// On SIGTERM, close what the session module opened (its LISTEN connection) and TypeORM's pool.
app.enableShutdownHooks();
// Fastify listens on 127.0.0.1 unless told; '0.0.0.0' is what a container needs.
await app.listen(Number(process.env.PORT ?? 3000), process.env.HOST ?? '127.0.0.1');
console.log(`listening on ${await app.getUrl()}`);
