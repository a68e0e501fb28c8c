import { createHmac, hash, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';

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

// Where a token carries its own facts, in the last 10 of its 32 bytes (the first 22 stay
// random: 176 bits, still past guessing). The stored hash covers all 32, so none of them can
// be changed without the token ceasing to match its session: they are checked before any I/O
// and cost no column.
const AGENT_TAG_AT = 22;
const ISSUED_AT = 26;
const AGENT_TAG_BYTES = ISSUED_AT - AGENT_TAG_AT;
// Past this much in the future an issue time is not one: the token predates these fields
// (they were random bytes then).
const CLOCK_SKEW_MS = 60_000;

/** What a new token records about itself. */
export interface TokenFacts {
  /** Epoch ms; the token's own age (rotation, refresh-token access lifetime). */
  issuedAt: number;
  /** The client's User-Agent and the key its tag is made with (`agentTagKey`), when sessions are bound to it. */
  agent?: { userAgent: string; key: Buffer };
}

/** The key user-agent tags are made with, from a configured secret; its own label keeps it apart from every other key derived from the same secret. */
export function agentTagKey(secret: string | Uint8Array): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, 'nestjs-sessions', 'nestjs-sessions user-agent tag', 32));
}

/**
 * The User-Agent as a session is bound to it: version numbers dropped, so a browser update
 * keeps its sessions while another browser or system does not.
 */
export function normalizeUserAgent(userAgent: string | null | undefined): string {
  return (userAgent ?? '').replace(/\d+/g, '').replace(/\s+/g, ' ').trim().slice(0, 512);
}

// Keyed: with a plain hash, whoever held a stolen token could try candidate agents against its
// tag offline, and then present it with the one that matched. Without the key, each guess is a
// request the server sees (and, with bindToUserAgent.revoke, the first wrong one ends the session).
function agentTag(key: Buffer, token: Buffer, userAgent: string | null | undefined): Buffer {
  return createHmac('sha256', key).update(token.subarray(0, AGENT_TAG_AT)).update(normalizeUserAgent(userAgent)).digest().subarray(0, AGENT_TAG_BYTES);
}

/**
 * A new token that records when it was issued and, optionally, for which user agent. `seed`
 * (26 secret bytes or more) stands in for the random bytes, for a token that two instances
 * must mint alike (a refresh's successor).
 */
export function generateBoundToken(facts: TokenFacts, seed?: Buffer): string {
  const bytes = randomBytes(TOKEN_BYTES);
  seed?.copy(bytes, 0, 0, ISSUED_AT);
  if (facts.agent) agentTag(facts.agent.key, bytes, facts.agent.userAgent).copy(bytes, AGENT_TAG_AT);
  bytes.writeUIntBE(Math.max(0, Math.floor(facts.issuedAt)), ISSUED_AT, 6);
  return bytes.toString('base64url');
}

/**
 * Whether a well-formed token was issued for this user agent (versions aside), its tag made with
 * one of `keys` (newest first; every one is tried, so a secret can be rotated).
 */
export function isTokenForUserAgent(token: string, userAgent: string | null | undefined, keys: readonly Buffer[]): boolean {
  const bytes = Buffer.from(token, 'base64url');
  const tag = bytes.subarray(AGENT_TAG_AT, ISSUED_AT);
  let matched = false;
  for (const key of keys) matched = timingSafeEqual(tag, agentTag(key, bytes, userAgent)) || matched;
  return matched;
}

/** When a well-formed token was issued (epoch ms), or null for a token that does not record it. */
export function tokenIssuedAt(token: string, now: number): number | null {
  const issuedAt = Buffer.from(token, 'base64url').readUIntBE(ISSUED_AT, 6);
  return issuedAt > now + CLOCK_SKEW_MS ? null : issuedAt;
}
