/** Injection token of the validated, defaults-merged options (internal; not exported by the index). */
export const SESSION_OPTIONS = Symbol('SESSION_OPTIONS');

/** Injection token of the app's user entity reader (`EntityUsers`), or null without `userEntity` (internal). */
export const SESSION_USERS = Symbol('SESSION_USERS');
