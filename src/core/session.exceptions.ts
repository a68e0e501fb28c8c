import { ConflictException, ServiceUnavailableException } from '@nestjs/common';

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
