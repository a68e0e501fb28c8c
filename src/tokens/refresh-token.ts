import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import { normalizeUserAgent } from './opaque-token.js';

/** What a refresh token says, once its MAC has been checked. */
export interface RefreshClaim {
  sessionId: string;
  userId: string;
  /** Epoch ms: the end of the refresh window when the token was issued. */
  expires: number;
  /** SHA-256 of the session token the refresh token was issued with. */
  tokenHash: Buffer;
}

const VERSION = 1;
const TAG_BYTES = 16;
// version, session id, expiry, token hash, tag; the user id follows.
const FIXED_BYTES = 1 + 8 + 6 + 32 + TAG_BYTES;
const MAX_USER_ID_BYTES = 255;
const MAX_LENGTH = Math.ceil(((FIXED_BYTES + MAX_USER_ID_BYTES) * 4) / 3);
const BASE64URL = /^[A-Za-z0-9_-]+$/;

/** A refresh-token MAC key from a configured secret; the label keeps it apart from the JWT keys. */
export function refreshKey(secret: string | Uint8Array): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, 'nestjs-sessions', 'nestjs-sessions refresh token', 32));
}

/**
 * Refresh tokens are self-describing and MAC'd, so the sessions table keeps its five columns:
 * one row is one login (a token family), and its `token` column holds the hash of the family's
 * current session token. A refresh token names that hash; it is current while the row still
 * holds it. One that carries a valid MAC but names a hash the row no longer holds was issued by
 * us and already used: a replay, which revokes the family. Without the MAC, anyone who knew a
 * session id could fake a replay and log its owner out.
 */
export class RefreshTokens {
  // Keys of the successor seeds, one per MAC key, apart from the MAC keys by their label.
  private readonly seedKeys: Buffer[];

  /** `keys`: newest first; the first signs, all verify, so a secret can be rotated. */
  constructor(private readonly keys: Buffer[]) {
    this.seedKeys = keys.map((key) => Buffer.from(hkdfSync('sha256', key, '', 'nestjs-sessions refresh successor', 32)));
  }

  /**
   * The secret bytes of the session token a refresh of `refreshToken` issued at `issuedAt` mints,
   * one per key, newest first: every instance mints the same token for the same refresh, so a
   * retry anywhere finds the swap its first attempt made.
   */
  successorSeeds(refreshToken: string, issuedAt: number): Buffer[] {
    return this.seedKeys.map((key) => createHmac('sha256', key).update(`${issuedAt}\0${refreshToken}`).digest());
  }

  issue(claim: RefreshClaim, userAgent: string | null | undefined): string {
    const userId = Buffer.from(claim.userId, 'utf8');
    const body = Buffer.alloc(FIXED_BYTES - TAG_BYTES);
    body.writeUInt8(VERSION, 0);
    body.writeBigUInt64BE(BigInt(claim.sessionId), 1);
    body.writeUIntBE(claim.expires, 9, 6);
    claim.tokenHash.copy(body, 15);
    return Buffer.concat([body, this.tag(this.keys[0], body, userId, userAgent), userId]).toString('base64url');
  }

  /** The claim of a refresh token we issued for this user agent (when bound), or null. */
  read(value: unknown, userAgent: string | null | undefined): RefreshClaim | null {
    if (typeof value !== 'string' || value.length > MAX_LENGTH || !BASE64URL.test(value)) return null;
    const bytes = Buffer.from(value, 'base64url');
    // One spelling per token: trailing bits or characters the decoder would drop are refused.
    if (bytes.toString('base64url') !== value) return null;
    if (bytes.length <= FIXED_BYTES || bytes.length > FIXED_BYTES + MAX_USER_ID_BYTES || bytes[0] !== VERSION) return null;
    const body = bytes.subarray(0, FIXED_BYTES - TAG_BYTES);
    const tag = bytes.subarray(FIXED_BYTES - TAG_BYTES, FIXED_BYTES);
    const userId = bytes.subarray(FIXED_BYTES);
    if (!this.keys.some((key) => timingSafeEqual(tag, this.tag(key, body, userId, userAgent)))) return null;
    return {
      sessionId: body.readBigUInt64BE(1).toString(),
      userId: userId.toString('utf8'),
      expires: body.readUIntBE(9, 6),
      tokenHash: Buffer.from(body.subarray(15, 47)),
    };
  }

  // With binding off the agent is '' at both ends, so it changes nothing.
  private tag(key: Buffer, body: Buffer, userId: Buffer, userAgent: string | null | undefined): Buffer {
    return createHmac('sha256', key).update(body).update(userId).update('\0').update(normalizeUserAgent(userAgent)).digest().subarray(0, TAG_BYTES);
  }
}
