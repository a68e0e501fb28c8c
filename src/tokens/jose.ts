import { SessionOptionsError } from '../core/session.exceptions.js';
import { errorMessage } from '../core/utils.js';

type Jose = typeof import('jose');

// jose is an optional peer dependency and the library's index imports its users, so an app
// that never signs a JWT or checks a DBSC proof must not need it installed.
let jose: Promise<Jose> | undefined;

/** jose, imported once on first use; rejects with the import's error when it is not installed. */
export function loadJose(): Promise<Jose> {
  jose ??= import('jose');
  return jose;
}

/** At startup, for an option that needs jose: a SessionOptionsError naming `option` when it cannot be loaded. */
export async function requireJose(option: string, what: string): Promise<void> {
  try {
    await loadJose();
  } catch (error) {
    throw new SessionOptionsError(option, `${what} needs the jose package, which could not be loaded (${errorMessage(error)}): install it, npm install jose.`);
  }
}
