import type { INestApplicationContext } from '@nestjs/common';
import { IoAdapter } from '@nestjs/platform-socket.io';
import { SessionStoreUnavailableException } from '../core/session.exceptions.js';
import { SessionService } from '../core/session.service.js';
import { SessionTransport } from '../http/session-transport.js';
import { bindSocket, closeAt, type SocketLike } from './socket-sessions.js';

/** Options of `SessionIoAdapter`. */
export interface SessionIoAdapterOptions {
  /** Namespaces (such as '/public') that accept a connection without a session; guarded messages still need one. */
  publicNamespaces?: string[];
}

// What socket.io's Socket has for us; its types come with Nest's own copy of socket.io.
type HandshakeSocket = SocketLike & { handshake: { headers: Record<string, string | string[] | undefined>; auth: unknown } };

/** The error a refused handshake gets: `connect_error` with this message, and its status in `data`. */
function refusal(message: 'Unauthorized' | 'Service Unavailable', status: number): Error & { data: { status: number } } {
  return Object.assign(new Error(message), { data: { status } });
}

/**
 * socket.io for Nest with sessions: a connection is authenticated at the handshake (the session
 * cookie, `Authorization: Bearer`, or `io(url, { auth: { token } })`), refused with
 * `connect_error` "Unauthorized" before any gateway sees it, and disconnected as soon as its
 * session ends on any instance (logout, revocation, expiry). `@CurrentUser()` and
 * `@CurrentSession()` then work in every handler, and `SessionGuard` on messages checks the
 * socket's session without another lookup in the store.
 *
 * `app.useWebSocketAdapter(new SessionIoAdapter(app))`, before `app.listen()`.
 */
export class SessionIoAdapter extends IoAdapter {
  private readonly publicNamespaces: ReadonlySet<string>;

  constructor(
    private readonly app: INestApplicationContext,
    options: SessionIoAdapterOptions = {},
  ) {
    super(app);
    this.publicNamespaces = new Set(options.publicNamespaces ?? []);
  }

  override create(...[port, options]: Parameters<IoAdapter['create']>): ReturnType<IoAdapter['create']> {
    const server = super.create(port, options);
    // Nest also takes a RegExp namespace; only a name can be listed as public.
    const namespace: unknown = options?.namespace ?? '/';
    const name = typeof namespace === 'string' ? (namespace.startsWith('/') ? namespace : `/${namespace}`) : null;
    if (name === null || !this.publicNamespaces.has(name)) {
      server.use((socket, next) => {
        this.authenticate(socket).then(() => next(), next);
      });
    }
    return server;
  }

  private async authenticate(socket: HandshakeSocket): Promise<void> {
    const transport = this.app.get(SessionTransport, { strict: false });
    const presented = transport.readToken(socket.handshake);
    if (!presented) throw refusal('Unauthorized', 401);
    const sessions = this.app.get(SessionService, { strict: false });
    let validation;
    try {
      validation = await bindSocket(sessions, socket, presented.token, transport.client(socket.handshake));
    } catch (error) {
      if (error instanceof SessionStoreUnavailableException) throw refusal('Service Unavailable', 503);
      throw error;
    }
    if (!validation) throw refusal('Unauthorized', 401);
    // A device-bound session's handshake needs the bound cookie, as its HTTP requests do (the
    // watch just made ends with the client's connection), and the socket lasts as long as it.
    const devices = sessions.devices;
    if (!devices) return;
    const until = devices.admittedUntil(validation.session, transport.readBoundCookie(socket.handshake));
    if (until === null) throw refusal('Unauthorized', 401);
    closeAt(socket, until, devices.options.clock);
  }
}
