import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { type DynamicModule, type INestApplication, Module, type ModuleMetadata, UseGuards } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ExpressAdapter } from '@nestjs/platform-express';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { IoAdapter } from '@nestjs/platform-socket.io';
import { type OnGatewayConnection, SubscribeMessage, WebSocketGateway } from '@nestjs/websockets';
import { io } from 'socket.io-client';
import WebSocket from 'ws';
import {
  CurrentSession,
  CurrentUser,
  RequireSession,
  type Session,
  SESSION_ENDED_CLOSE_CODE,
  SessionGuard,
  SessionModule,
  type SessionModuleOptions,
  SessionService,
} from '../../src/index.js';
import { SessionIoAdapter } from '../../src/transports/socket-io.adapter.js';
import { SessionWsAdapter } from '../../src/transports/ws.adapter.js';
import type { TestUser } from '../support/app.js';
import { listen } from '../support/http.js';
import type { MemoryUsers } from '../support/standalone-app.js';

export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
/** Per run, so concurrent runs never share sessions. */
export const redisPrefix = (name: string): string => `nss-${name}-${randomBytes(4).toString('hex')}:`;
export const isAdmin = (user: TestUser): boolean => user.email.startsWith('admin-');

/** A Redis-backed SessionModule whose users live in `users`; an `admin-…` email has the 'admin' permission. */
export function redisSessions(users: MemoryUsers, keyPrefix: string, options: Omit<SessionModuleOptions<TestUser>, 'resolveUser'> = {}): DynamicModule {
  return SessionModule.forRoot<TestUser>({
    cleanup: false,
    storage: { type: 'redis', url: REDIS_URL, keyPrefix },
    resolveUser: (id) => users.resolve(id),
    resolvePermissions: (user) => (isAdmin(user) ? ['admin'] : []),
    ...options,
  });
}

@WebSocketGateway()
export class SessionGateway implements OnGatewayConnection {
  /** The user each connection had attached when the gateway first saw it. */
  readonly connections: (TestUser | undefined)[] = [];

  handleConnection(client: { user?: TestUser }): void {
    this.connections.push(client.user);
  }

  // Unguarded: tells what the adapter (and nothing else) attached to the socket.
  @SubscribeMessage('whoami')
  whoami(@CurrentUser() user: TestUser | undefined) {
    return user ?? { anonymous: true };
  }

  @UseGuards(SessionGuard)
  @SubscribeMessage('me')
  me(@CurrentUser() user: TestUser, @CurrentSession() session: Session) {
    return { user, sessionId: session.id };
  }

  @UseGuards(SessionGuard)
  @RequireSession({ permissions: ['admin'] })
  @SubscribeMessage('admin')
  admin(@CurrentUser() user: TestUser) {
    return { admin: user.id };
  }
}

/** The same handlers in namespaces matched by a RegExp, which Nest allows (socket.io only). */
@WebSocketGateway({ namespace: /^\/room-\d+$/ })
export class RoomGateway extends SessionGateway {}

/** The same handlers in the '/open' namespace (socket.io only: ws has no namespaces). */
@WebSocketGateway({ namespace: 'open' })
export class OpenGateway extends SessionGateway {}

export interface SocketAppSpec {
  /** 'plain-io' is socket.io's own IoAdapter: nothing authenticates the handshake. */
  adapter: 'io' | 'ws' | 'plain-io';
  platform?: 'express' | 'fastify';
  imports: ModuleMetadata['imports'];
  gateways?: ModuleMetadata['providers'];
  publicNamespaces?: string[];
}

export interface SocketApp {
  app: INestApplication;
  /** What a client connects to: http:// for socket.io, ws:// for ws. */
  url: string;
  sessions: SessionService<TestUser>;
  gateway: SessionGateway;
}

export async function startSocketApp(spec: SocketAppSpec): Promise<SocketApp> {
  @Module({ imports: spec.imports, providers: spec.gateways ?? [SessionGateway] })
  class SocketAppModule {}
  const app = await NestFactory.create(SocketAppModule, spec.platform === 'fastify' ? new FastifyAdapter() : new ExpressAdapter(), { logger: false });
  app.useWebSocketAdapter(
    spec.adapter === 'ws' ? new SessionWsAdapter(app) : spec.adapter === 'io' ? new SessionIoAdapter(app, { publicNamespaces: spec.publicNamespaces }) : new IoAdapter(app),
  );
  const base = await listen(app);
  return {
    app,
    url: spec.adapter === 'ws' ? base.replace(/^http/, 'ws') : base,
    sessions: app.get<SessionService<TestUser>>(SessionService),
    gateway: app.get(SessionGateway),
  };
}

export type SocketTransport = 'io' | 'ws';

/** How a socket is told its session ended, per transport. */
export const ENDED_BY_SERVER: Record<SocketTransport, string> = { io: 'io server disconnect', ws: `${SESSION_ENDED_CLOSE_CODE} Unauthorized` };
/** What a refused handshake looks like on the client: socket.io's connect_error, or the HTTP status ws saw. */
export const REFUSED: Record<SocketTransport, Record<401 | 503, Refusal>> = {
  io: { 401: { message: 'Unauthorized', status: 401 }, 503: { message: 'Service Unavailable', status: 503 } },
  ws: { 401: { message: 'Unexpected server response: 401' }, 503: { message: 'Unexpected server response: 503' } },
};

export interface Refusal {
  message: string;
  status?: number;
}

/** `cookie`, `bearer` and `auth` (socket.io's `auth.token`) each carry the token their own way. */
export interface Credentials {
  cookie?: string;
  bearer?: string;
  auth?: string;
  namespace?: string;
}

export interface Ended {
  how: string;
  /** performance.now() and Date.now() when the client saw it. */
  at: number;
  wall: number;
}

export interface TestClient {
  /** The handler's answer to `event`, or the `exception` the server sent instead. */
  call(event: string, data?: unknown): Promise<{ reply?: unknown; exception?: { status: string; message: string } }>;
  readonly ended: Promise<Ended>;
  readonly open: boolean;
  close(): void;
}

// Long enough for a loaded machine; an answer that never comes fails the test with its name.
const CALL_TIMEOUT_MS = 3_000;
const clients = new Set<{ close(): void }>();

/** Every client connect() made, refused ones too; call in afterEach so no socket outlives its test. */
export function closeClients(): void {
  for (const client of clients) client.close();
  clients.clear();
}

const ended = (): Ended => ({ how: '', at: performance.now(), wall: Date.now() });

function connectIo(url: string, cred: Credentials): Promise<TestClient> {
  const extraHeaders: Record<string, string> = {};
  if (cred.cookie) extraHeaders.cookie = `session=${cred.cookie}`;
  if (cred.bearer) extraHeaders.authorization = `Bearer ${cred.bearer}`;
  // forceNew: one connection per client, as separate browsers would have.
  const socket = io(url + (cred.namespace ?? ''), {
    transports: ['websocket'],
    reconnection: false,
    forceNew: true,
    extraHeaders,
    ...(cred.auth ? { auth: { token: cred.auth } } : {}),
  });
  clients.add(socket);
  const client: TestClient = {
    call: (event, data = {}) =>
      new Promise((resolve, reject) => {
        const onException = (exception: { status: string; message: string }) => resolve({ exception });
        socket.once('exception', onException);
        socket.timeout(CALL_TIMEOUT_MS).emit(event, data, (error: Error | null, reply: unknown) => {
          socket.off('exception', onException);
          if (!error) resolve({ reply });
          else reject(new Error(`${event}: no answer (${error.message})`));
        });
      }),
    ended: new Promise((resolve) => socket.once('disconnect', (reason) => resolve({ ...ended(), how: reason }))),
    get open() {
      return socket.connected;
    },
    close: () => socket.close(),
  };
  return new Promise((resolve, reject) => {
    socket.once('connect', () => resolve(client));
    socket.once('connect_error', (error: Error & { data?: { status?: number } }) => reject(Object.assign(new Error(error.message), { status: error.data?.status })));
  });
}

function connectWs(url: string, cred: Credentials): Promise<TestClient> {
  const headers: Record<string, string> = {};
  if (cred.cookie) headers.cookie = `session=${cred.cookie}`;
  if (cred.bearer) headers.authorization = `Bearer ${cred.bearer}`;
  const ws = new WebSocket(url, { headers });
  clients.add(ws);
  const client: TestClient = {
    call: (event, data = {}) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          ws.off('message', onMessage);
          reject(new Error(`${event}: no answer`));
        }, CALL_TIMEOUT_MS);
        const onMessage = (raw: WebSocket.RawData) => {
          clearTimeout(timer);
          const message = JSON.parse(String(raw));
          resolve(message?.event === 'exception' ? { exception: message.data } : { reply: message });
        };
        ws.once('message', onMessage);
        ws.send(JSON.stringify({ event, data }));
      }),
    ended: new Promise((resolve) => ws.once('close', (code, reason) => resolve({ ...ended(), how: `${code} ${reason}` }))),
    get open() {
      return ws.readyState === WebSocket.OPEN;
    },
    close: () => ws.terminate(),
  };
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(client));
    ws.once('error', (error) => reject(new Error(error.message)));
  });
}

/** An open client; rejects with the refusal (message, and socket.io's status) when the handshake is refused. */
export function connect(transport: SocketTransport, url: string, cred: Credentials = {}): Promise<TestClient> {
  return transport === 'io' ? connectIo(url, cred) : connectWs(url, cred);
}

/** The refusal a handshake gets; fails the test when it is accepted. */
export async function refusal(transport: SocketTransport, url: string, cred: Credentials = {}): Promise<Refusal> {
  let client: TestClient;
  try {
    client = await connect(transport, url, cred);
  } catch (error) {
    const { message, status } = error as Refusal;
    return status === undefined ? { message } : { message, status };
  }
  client.close();
  throw new Error(`expected the handshake with ${Object.keys(cred).join(', ') || 'no credentials'} to be refused`);
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** `promise`, or a failure naming `what` once `ms` have passed: a socket that is never closed fails fast. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms)));
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}
export const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
