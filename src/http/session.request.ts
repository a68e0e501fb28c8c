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

/** Puts a validation where the decorators find it: `holder.user` and the session. */
export function attachSession(holder: object, validation: { user: unknown; session: ValidatedSession<unknown> }): void {
  (holder as { user?: unknown }).user = validation.user;
  setRequestSession(holder, validation.session as ValidatedSession);
}
