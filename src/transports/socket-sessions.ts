import type { SessionConnection } from '../core/session-connections.js';
import type { SessionService } from '../core/session.service.js';
import type { SessionClientInfo, SessionValidation } from '../core/session.interfaces.js';
import { attachSession } from '../http/session.request.js';

/** What the module needs of a socket.io Socket or a ws WebSocket. */
export interface SocketLike {
  once(event: string, listener: () => void): unknown;
  /** ws: 2 closing, 3 closed. */
  readyState?: number;
  /** socket.io: the underlying connection. */
  conn?: { readyState?: string; once?(event: string, listener: () => void): unknown };
  disconnect?(close: boolean): unknown;
  close?(code: number, reason: string): unknown;
}

/** The close code a `ws` socket gets when its session ends (4401, as graphql-ws uses for Unauthorized). */
export const SESSION_ENDED_CLOSE_CODE = 4401;

const bound = new WeakSet<object>();

/** True once `bindSocket` watches this socket. */
export function isBound(socket: object): boolean {
  return bound.has(socket);
}

/** Ends a socket whose session ended: socket.io's disconnect, or a ws close with 4401. */
export function closeSocket(socket: SocketLike): void {
  if (typeof socket.disconnect === 'function') socket.disconnect(true);
  else socket.close?.(SESSION_ENDED_CLOSE_CODE, 'Unauthorized');
}

/**
 * Closes a socket at `until` (epoch ms on `clock`), as its session's end would: a device-bound
 * session's socket lasts as long as the bound cookie it opened with, so one opened with a copied
 * cookie does not outlive the copy (the browser's own reconnects with its renewed cookie).
 */
export function closeAt(socket: SocketLike, until: number, clock: () => number): void {
  if (!Number.isFinite(until)) return;
  const timer = setTimeout(() => closeSocket(socket), Math.max(0, until - clock()));
  timer.unref?.();
  socket.once(typeof socket.disconnect === 'function' ? 'disconnect' : 'close', () => clearTimeout(timer));
}

/**
 * Marks a socket as watched and stops watching when it closes (socket.io says 'disconnect', or
 * its connection 'close' when the handshake never finished; ws says 'close').
 */
export function watchSocket(socket: object, connection: SessionConnection<unknown, unknown>): void {
  const live = socket as SocketLike;
  bound.add(socket);
  const release = (): void => {
    bound.delete(socket);
    connection.release();
  };
  if (typeof live.disconnect === 'function') {
    live.once('disconnect', release);
    live.conn?.once?.('close', release);
  } else {
    live.once('close', release);
  }
  // Gone while its token was looked up: no close event is coming.
  if ((live.readyState ?? 0) >= 2 || live.conn?.readyState === 'closed') release();
}

/**
 * Authenticates a socket's token against the store, attaches the session to the socket, and
 * closes the socket when the session ends anywhere; null when the token is refused.
 */
export async function bindSocket(
  sessions: SessionService<unknown>,
  socket: object,
  token: string,
  client: SessionClientInfo,
  attach: (holder: object, validation: SessionValidation) => void = attachSession,
): Promise<SessionValidation | null> {
  const connection = await sessions.openConnection(token, client, {
    close: () => closeSocket(socket as SocketLike),
    update: (validation) => attach(socket, validation as SessionValidation),
  });
  if (!connection) return null;
  const validation = connection.validation as SessionValidation;
  attach(socket, validation);
  watchSocket(socket, connection);
  return validation;
}
