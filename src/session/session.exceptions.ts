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
