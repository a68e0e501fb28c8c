import { randomBytes } from 'node:crypto';
import type net from 'node:net';
import { Controller, Get, type INestApplicationContext, Module } from '@nestjs/common';
import { APP_GUARD, NestFactory } from '@nestjs/core';
import { type ClientProxy, ClientProxyFactory, MessagePattern, type MicroserviceOptions, Payload, Transport } from '@nestjs/microservices';
import request from 'supertest';
import { firstValueFrom } from 'rxjs';
import { CurrentUser, Public, SessionGuard, SessionModule, SessionService, UnsupportedContextError } from '../../src/index.js';
import { listen } from '../support/http.js';
import { CapturingLogger, REDIS_URL } from './graphql-apps.js';

// SessionGuard as an APP_GUARD in front of microservice message handlers (TCP): there is no
// token to read in an 'rpc' context, so a guarded handler is refused by name, never run, and
// never crashes on a missing request; @Public() handlers answer. In a hybrid app the same guard
// keeps serving HTTP.

const RPC_REFUSAL = /^SessionGuard cannot read a session in a 'rpc' context/;

/** How many times each guarded handler ran: a refusal must come before the handler. */
const ran = { whoami: 0 };

@Controller()
class RpcController {
  @MessagePattern('whoami')
  whoami(@CurrentUser() user: unknown) {
    ran.whoami++;
    return user ?? 'nobody';
  }

  @Public()
  @MessagePattern('echo')
  echo(@Payload() data: { text: string }) {
    return { echoed: data.text };
  }

  @Get('me')
  me(@CurrentUser() user: { id: string }) {
    return user;
  }
}

@Module({
  imports: [
    SessionModule.forRoot({
      storage: { type: 'redis', url: REDIS_URL, keyPrefix: `rpc${randomBytes(4).toString('hex')}:` },
      resolveUser: (id) => ({ id }),
      broadcast: false,
      cleanup: false,
    }),
  ],
  controllers: [RpcController],
  providers: [{ provide: APP_GUARD, useClass: SessionGuard }],
})
class RpcModule {}

interface Started {
  app: INestApplicationContext;
  port: number;
  /** The HTTP base URL of a hybrid app. */
  base?: string;
}

const tcpOptions: MicroserviceOptions = { transport: Transport.TCP, options: { host: '127.0.0.1', port: 0 } };
const portOf = (server: net.Server) => (server.address() as net.AddressInfo).port;

async function start(kind: 'microservice' | 'hybrid', logger: CapturingLogger): Promise<Started> {
  if (kind === 'microservice') {
    const app = await NestFactory.createMicroservice<MicroserviceOptions>(RpcModule, { ...tcpOptions, logger });
    await app.listen();
    return { app, port: portOf(app.unwrap<net.Server>()) };
  }
  const app = await NestFactory.create(RpcModule, { logger });
  // Without inheritAppConfig Nest gives the microservice an ApplicationConfig of its own, and
  // the APP_GUARD (registered on the app's) would not run for message handlers at all.
  const microservice = app.connectMicroservice<MicroserviceOptions>(tcpOptions, { inheritAppConfig: true });
  await app.startAllMicroservices();
  const base = await listen(app);
  return { app, port: portOf(microservice.unwrap<net.Server>()), base };
}

describe.each(['microservice', 'hybrid'] as const)('SessionGuard on a TCP %s', (kind) => {
  let logger: CapturingLogger;
  let started: Started;
  let client: ClientProxy;

  beforeAll(async () => {
    logger = new CapturingLogger();
    started = await start(kind, logger);
    client = ClientProxyFactory.create({ transport: Transport.TCP, options: { host: '127.0.0.1', port: started.port } });
    await client.connect();
  });
  afterAll(async () => {
    await client?.close();
    await started?.app.close();
  });

  const send = <T>(pattern: string, data: unknown) => firstValueFrom(client.send<T>(pattern, data));

  it('refuses a guarded message handler by naming the rpc context, without running it', async () => {
    logger.lines.length = 0;
    const before = ran.whoami;
    await expect(send('whoami', { token: 'anything' })).rejects.toEqual({ status: 'error', message: 'Internal server error' });
    expect(ran.whoami).toBe(before);

    // What the developer reads in the log: our error and its advice, not a TypeError from
    // reading headers off a message.
    const errors = logger.at('error', 'fatal').map((line) => line.message);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(UnsupportedContextError);
    const error = errors[0] as Error;
    expect(error.name).toBe('UnsupportedContextError');
    expect(error.message).toMatch(RPC_REFUSAL);
    expect(error.message).toContain('@Public()');
  });

  it('answers a @Public() message handler, every time', async () => {
    logger.lines.length = 0;
    const texts = ['one', 'two', randomBytes(6).toString('hex')];
    const answers = await Promise.all(texts.map((text) => send('echo', { text })));
    expect(answers).toEqual(texts.map((text) => ({ echoed: text })));
    expect(logger.at('error', 'fatal')).toEqual([]);
  });

  if (kind === 'hybrid') {
    it('keeps guarding HTTP in the same app: a session passes, none is a 401', async () => {
      const { token } = await started.app.get(SessionService).createSession({ userId: 'u-hybrid' });
      await request(started.base!).get('/me').set('Authorization', `Bearer ${token}`).expect(200, { id: 'u-hybrid' });
      await request(started.base!).get('/me').expect(401);
      // And RPC is still refused afterwards: the guard's per-route cache does not mix them up.
      await expect(send('whoami', {})).rejects.toEqual({ status: 'error', message: 'Internal server error' });
    });
  }
});
