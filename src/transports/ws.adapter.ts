import type { IncomingMessage } from 'node:http';
import type { INestApplicationContext } from '@nestjs/common';
import { WsAdapter } from '@nestjs/platform-ws';
import type { SessionConnection } from '../core/session-connections.js';
import { SessionService } from '../core/session.service.js';
import { SessionTransport } from '../http/session-transport.js';
import { attachSession } from '../http/session.request.js';
import { UPGRADE_REQUEST } from './session-exchange.js';
import { closeAt, closeSocket, type SocketLike, watchSocket } from './socket-sessions.js';

// What ws's WebSocket and server are to us; their types come with Nest's own copy of ws.
type WebSocket = SocketLike;
type WebSocketServer = ReturnType<WsAdapter['create']>;
type VerifyDone = (result: boolean, code?: number, message?: string) => void;
type VerifyInfo = { origin: string; secure: boolean; req: IncomingMessage };
type VerifyClient = ((info: VerifyInfo, done: VerifyDone) => void) | ((info: VerifyInfo) => boolean);

/** What the handshake leaves for the connection handler: where its socket goes. */
interface Pending {
  adopt(socket: WebSocket): void;
}
const PENDING = Symbol('nestjs-sessions:pending');

/** Options of `SessionWsAdapter`: those of Nest's WsAdapter. */
export type SessionWsAdapterOptions = ConstructorParameters<typeof WsAdapter>[1];

/**
 * `ws` for Nest with sessions: an upgrade is authenticated (the session cookie or
 * `Authorization: Bearer`) and refused with HTTP 401 before any gateway sees it; a socket is
 * closed with code 4401 as soon as its session ends on any instance (logout, revocation,
 * expiry). `@CurrentUser()`, `@CurrentSession()` and `SessionGuard` then work in its handlers.
 *
 * `app.useWebSocketAdapter(new SessionWsAdapter(app))`, before `app.listen()`.
 */
export class SessionWsAdapter extends WsAdapter {
  constructor(
    private readonly app: INestApplicationContext,
    options?: SessionWsAdapterOptions,
  ) {
    super(app, options);
  }

  override create(port: number, options: Record<string, unknown> & { verifyClient?: VerifyClient } = {}): WebSocketServer {
    const theirs = options.verifyClient;
    const verifyClient = (info: VerifyInfo, done: VerifyDone): void => {
      this.verify(info.req).then(
        (refused) => {
          if (refused) return done(false, refused, refused === 401 ? 'Unauthorized' : 'Service Unavailable');
          if (!theirs) return done(true);
          if (theirs.length < 2) return done((theirs as (info: VerifyInfo) => boolean)(info));
          (theirs as (info: VerifyInfo, done: VerifyDone) => void)(info, done);
        },
        () => done(false, 500, 'Internal Server Error'),
      );
    };
    return super.create(port, { ...options, verifyClient });
  }

  override bindClientConnect(server: WebSocketServer, callback: (socket: WebSocket, request: IncomingMessage) => void): void {
    super.bindClientConnect(server, (socket: WebSocket, request: IncomingMessage) => {
      const pending = (request as { [PENDING]?: Pending })[PENDING];
      if (pending) {
        (socket as unknown as Record<symbol, unknown>)[UPGRADE_REQUEST] = request;
        pending.adopt(socket);
      }
      callback(socket, request);
    });
  }

  // 401 or 503 when refused; otherwise the session waits on the request for its socket.
  private async verify(request: IncomingMessage): Promise<401 | 503 | null> {
    const transport = this.app.get(SessionTransport, { strict: false });
    const presented = transport.readToken(request);
    if (!presented) return 401;
    let socket: WebSocket | undefined;
    let ended = false;
    let connection: SessionConnection<unknown, unknown> | null;
    try {
      connection = await this.app.get(SessionService, { strict: false }).openConnection(presented.token, transport.client(request), {
        close: () => {
          ended = true;
          if (socket) closeSocket(socket);
        },
        update: (validation) => socket && attachSession(socket, validation),
      });
    } catch {
      return 503;
    }
    if (!connection) return 401;
    const devices = this.app.get(SessionService, { strict: false }).devices;
    // A device-bound session's upgrade needs the bound cookie, as its HTTP requests do, and the
    // socket lasts as long as it.
    const until = devices ? devices.admittedUntil(connection.validation.session, transport.readBoundCookie(request)) : Infinity;
    if (until === null) {
      connection.release();
      return 401;
    }
    const watched = connection;
    // An upgrade that never completes releases its session with the TCP socket.
    request.socket.once('close', () => watched.release());
    (request as { [PENDING]?: Pending })[PENDING] = {
      adopt: (ws) => {
        socket = ws;
        attachSession(ws, watched.validation);
        watchSocket(ws, watched);
        if (devices) closeAt(ws, until, devices.options.clock);
        if (ended) closeSocket(ws);
      },
    };
    return null;
  }
}
