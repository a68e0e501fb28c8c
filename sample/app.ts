import type { INestApplication } from '@nestjs/common';
import { ValidationPipe } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ExpressAdapter } from '@nestjs/platform-express';
import { SessionIoAdapter } from 'nestjs-sessions/socket.io';
import { AppModule, type DemoAppOptions } from './app.module.js';

export type HttpAdapterName = 'express' | 'fastify';

/**
 * Builds the demo application on Express (what `npm start` runs) or Fastify (the tests cover
 * both), not yet listening.
 */
export async function createDemoApp(options: DemoAppOptions, adapter: HttpAdapterName = 'express'): Promise<INestApplication> {
  const httpAdapter =
    adapter === 'express'
      ? new ExpressAdapter()
      : // Loaded only when asked for: Fastify is a dev dependency of this package.
        new (await import('@nestjs/platform-fastify')).FastifyAdapter();
  // abortOnError false: a bad option reaches main(), which names the environment variable.
  const app = await NestFactory.create(AppModule.forRoot({ ...options, http: adapter }), httpAdapter, { logger: ['error', 'warn', 'log'], abortOnError: false });
  app.useWebSocketAdapter(new SessionIoAdapter(app));
  app.useGlobalPipes(new ValidationPipe({ whitelist: true, forbidNonWhitelisted: true }));
  if (adapter === 'express') (app.getHttpAdapter().getInstance() as { disable(name: string): void }).disable('x-powered-by');
  return app;
}
