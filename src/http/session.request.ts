import type { ValidatedSession } from '../core/session.interfaces.js';

// A symbol, not `request.session`: that name belongs to express-session and @fastify/session.
const SESSION = Symbol.for('nestjs-sessions:session');

interface WithSession {
  [SESSION]?: ValidatedSession;
}

/** The session the guard validated for `request`, if any. */
export function getRequestSession<TContext = unknown>(request: object): ValidatedSession<TContext> | undefined {
  return (request as WithSession)[SESSION] as ValidatedSession<TContext> | undefined;
}

export function setRequestSession(request: object, session: ValidatedSession): void {
  (request as WithSession)[SESSION] = session;
}
