/** Injection token of the validated, defaults-merged options (internal; not exported by the index). */
export const SESSION_OPTIONS = Symbol('SESSION_OPTIONS');
