import type { Session } from './session.interfaces.js';

// A symbol, not `request.session`: that name belongs to express-session and @fastify/session.
const SESSION = Symbol.for('nestjs-sessions:session');

interface WithSession {
  [SESSION]?: Session;
}

/** The session the guard validated for `request`, if any. */
export function getRequestSession(request: object): Session | undefined {
  return (request as WithSession)[SESSION];
}

export function setRequestSession(request: object, session: Session): void {
  (request as WithSession)[SESSION] = session;
}
