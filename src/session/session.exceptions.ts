import { ServiceUnavailableException } from '@nestjs/common';

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
