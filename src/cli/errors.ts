/**
 * A command the CLI cannot run as given (a wrong flag, a missing file, an unreachable database):
 * its message says what to change. `exitCode` 2 for the way it was called, 1 for the rest.
 */
export class SessionsCliError extends Error {
  override readonly name = 'SessionsCliError';

  constructor(
    message: string,
    readonly exitCode: 1 | 2 = 2,
  ) {
    super(message);
  }
}

export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
