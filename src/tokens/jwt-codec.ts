import { type KeyObject, webcrypto } from 'node:crypto';
import { loadJose } from './jose.js';
import { isRecord, type ResolvedJwtOptions } from './jwt.options.js';

/** What the token carries. `tok` is the opaque session token; `exp` is in epoch seconds. */
export interface SessionJwtClaims {
  tok: string;
  sub: string;
  sid: string;
  exp: number;
}


const SID = /^[0-9]+$/;
// Ours are a few hundred characters; past this, parsing is only work for an attacker.
const MAX_TOKEN_LENGTH = 4096;

function isClaims(value: Record<string, unknown>): value is Record<string, unknown> & SessionJwtClaims {
  return (
    typeof value.tok === 'string' &&
    typeof value.sub === 'string' &&
    value.sub !== '' &&
    typeof value.sid === 'string' &&
    SID.test(value.sid) &&
    typeof value.exp === 'number' &&
    Number.isFinite(value.exp)
  );
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** Signs (and with encryption, encrypts) session JWTs, and verifies them without any I/O. */
export class SessionJwtCodec {
  private readonly byKid: Map<string, ResolvedJwtOptions['keys'][number]>;
  private readonly webKeys = new WeakMap<KeyObject, Promise<webcrypto.CryptoKey>>();
  // A JWS has three dot-separated parts, a JWE five; the other kind never reaches a key.
  private readonly parts: number;

  constructor(private readonly options: ResolvedJwtOptions) {
    this.byKid = new Map(options.keys.map((key) => [key.kid, key]));
    this.parts = options.encryption ? 5 : 3;
  }

  /** `now` in epoch ms: the iat. */
  async sign(claims: SessionJwtClaims, now: number): Promise<string> {
    // Fail where the bug is, rather than issue a token that verify would refuse.
    if (!isRecord(claims) || !isClaims(claims)) {
      throw new TypeError('Session JWT claims need tok (a string), sub (a non-empty string), sid (a string of digits) and exp (epoch seconds).');
    }
    const { SignJWT, CompactEncrypt } = await loadJose();
    const { algorithm, keys, encryption, issuer, audience } = this.options;
    const { kid, sign, encrypt } = keys[0];
    if (sign === null) throw new Error(`jwt.keys[0] (kid ${kid}) has no private key to sign with.`);

    const jwt = new SignJWT({ tok: claims.tok, sid: claims.sid })
      .setProtectedHeader({ alg: algorithm, kid, typ: 'JWT' })
      .setSubject(claims.sub)
      .setIssuedAt(Math.floor(now / 1000))
      .setExpirationTime(claims.exp);
    if (issuer !== undefined) jwt.setIssuer(issuer);
    if (audience !== undefined) jwt.setAudience(audience);
    const jws = await jwt.sign(await this.webKey(sign, 'HMAC'));
    if (!encryption) return jws;
    if (encrypt === null) throw new Error(`jwt.keys[0] (kid ${kid}) has no encryption key.`);
    return new CompactEncrypt(encoder.encode(jws))
      .setProtectedHeader({ alg: 'dir', enc: 'A256GCM', kid, cty: 'JWT' })
      .encrypt(await this.webKey(encrypt, 'AES-GCM'));
  }

  // jose re-imports a secret KeyObject into WebCrypto on every call, a third of an HS256
  // verify; import each once instead. It caches asymmetric KeyObjects itself.
  private webKey(key: KeyObject, use: 'HMAC' | 'AES-GCM'): KeyObject | Promise<webcrypto.CryptoKey> {
    if (key.type !== 'secret') return key;
    let imported = this.webKeys.get(key);
    if (imported === undefined) {
      const algorithm = use === 'HMAC' ? { name: 'HMAC', hash: 'SHA-256' } : { name: 'AES-GCM' };
      const usages: webcrypto.KeyUsage[] = use === 'HMAC' ? ['sign', 'verify'] : ['encrypt', 'decrypt'];
      imported = webcrypto.subtle.importKey('raw', key.export(), algorithm, false, usages);
      this.webKeys.set(key, imported);
    }
    return imported;
  }

  /** The claims of a token this codec would have issued, valid at `now` (epoch ms), or null for anything else. Never throws. */
  async verify(token: unknown, now: number): Promise<SessionJwtClaims | null> {
    if (typeof token !== 'string' || token.length > MAX_TOKEN_LENGTH || !Number.isFinite(now)) return null;
    if (token.split('.').length !== this.parts) return null;

    try {
      const { compactDecrypt, decodeProtectedHeader, jwtVerify } = await loadJose();
      const { kid } = decodeProtectedHeader(token);
      const key = typeof kid === 'string' ? this.byKid.get(kid) : undefined;
      if (key === undefined) return null;

      let jws = token;
      if (this.options.encryption) {
        if (key.encrypt === null) return null;
        const { plaintext, protectedHeader } = await compactDecrypt(token, await this.webKey(key.encrypt, 'AES-GCM'), {
          keyManagementAlgorithms: ['dir'],
          contentEncryptionAlgorithms: ['A256GCM'],
          maxDecompressedLength: 0,
        });
        if (protectedHeader.cty !== 'JWT') return null;
        jws = decoder.decode(plaintext);
        // We seal a JWS with the key that signed it; any other pairing is not ours.
        if (decodeProtectedHeader(jws).kid !== kid) return null;
      }

      const { algorithm, issuer, audience } = this.options;
      const { payload } = await jwtVerify(jws, await this.webKey(key.verify, 'HMAC'), {
        algorithms: [algorithm],
        typ: 'JWT',
        requiredClaims: ['exp', 'sub'],
        issuer,
        audience,
        currentDate: new Date(now),
      });
      if (!isClaims(payload)) return null;
      return { tok: payload.tok, sub: payload.sub, sid: payload.sid, exp: payload.exp };
    } catch {
      // Every way a token can be wrong ends here: bad encoding, unknown alg, bad signature or
      // tag, expired, missing claims, and jose itself missing.
      return null;
    }
  }
}
