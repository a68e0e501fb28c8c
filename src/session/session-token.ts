import { hash, randomBytes } from 'node:crypto';

/** Bytes of CSPRNG output in a session token: 256 bits, past any guessing. */
export const TOKEN_BYTES = 32;

/** Length of a token as the client holds it: 32 bytes in unpadded base64url. */
export const TOKEN_LENGTH = 43;

// 43 base64url characters carry 258 bits; the last character's two spare bits are zero in
// every token we issue, so only these 16 characters can end one. Refusing the rest keeps
// each token's spelling unique (no second string that decodes to the same bytes).
const WELL_FORMED = /^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$/;

/** A new session token: 32 random bytes, base64url without padding. */
export function generateToken(): string {
  return randomBytes(TOKEN_BYTES).toString('base64url');
}

/** Whether `value` could be a token we issued; checked before any I/O. */
export function isWellFormedToken(value: unknown): value is string {
  return typeof value === 'string' && value.length === TOKEN_LENGTH && WELL_FORMED.test(value);
}

/** SHA-256 of the token: the only form the server stores or queries by. */
export function hashToken(token: string): Buffer {
  return hash('sha256', token, 'buffer');
}

/**
 * The same SHA-256 in base64: the local cache's key. A cache hit needs only this, and the
 * one-shot string form is several times cheaper than a Hash object and a Buffer.
 */
export function hashTokenBase64(token: string): string {
  return hash('sha256', token, 'base64');
}
