import { ConflictException, ForbiddenException, PayloadTooLargeException, ServiceUnavailableException } from '@nestjs/common';

/** Thrown at startup when a SessionModule option is missing or wrong; the message says how to fix it. */
export class SessionOptionsError extends Error {
  override readonly name = 'SessionOptionsError';

  constructor(
    /** The option at fault, as written in the options object (`'updateAge'`, `'cookie.name'`). */
    readonly option: string,
    message: string,
  ) {
    super(`SessionModule option "${option}": ${message}`);
  }
}

/**
 * The session store failed or did not answer within `storeTimeout`. A 503 with a generic
 * body: an outage must never look like a logout (401), and the cause stays in the server log.
 */
export class SessionStoreUnavailableException extends ServiceUnavailableException {
  constructor(options?: { cause?: unknown }) {
    super(undefined, options);
  }
}

/**
 * A login refused because the user already has `maxSessionsPerUser` live sessions and the
 * policy is 'refuse'. A 409: the user can end a session elsewhere and try again.
 */
export class SessionLimitExceededException extends ConflictException {
  constructor() {
    super('Too many sessions');
  }
}

/**
 * `createSession` for a user id the store refuses: the sessions table's foreign key names no
 * such user, or the id does not fit the users table's key type. A bug in the caller, not an
 * outage, so it is neither a 503 nor logged as a store failure; left alone it becomes a 500.
 */
export class UnknownSessionUserError extends Error {
  override readonly name = 'UnknownSessionUserError';

  constructor(
    readonly userId: string,
    /** What the database said, e.g. `Key (user_id)=(…) is not present in table "users".` */
    readonly reason: string,
  ) {
    super(`SessionService.createSession: the database refused user id ${JSON.stringify(userId)}: ${reason} Create the user first, and pass the id the users table has.`);
  }
}

/**
 * A route's `@RequireSession({ freshWithin })` asked for a recent proof of identity and the
 * session's is older: `403 {"statusCode":403,"message":"Reauthentication required","error":"reauthentication_required"}`.
 * The client asks for the password (or second factor) again, and the app calls `markReauthenticated`.
 */
export class ReauthenticationRequiredException extends ForbiddenException {
  constructor() {
    super({ statusCode: 403, message: 'Reauthentication required', error: 'reauthentication_required' });
  }
}

/** `updateSessionData` would take the session's data past the `data.maxBytes` bound; nothing was written. A 413. */
export class SessionDataTooLargeException extends PayloadTooLargeException {
  constructor(readonly maxBytes: number) {
    super({ statusCode: 413, message: `Session data over ${maxBytes} bytes`, error: 'Payload Too Large' });
  }
}
