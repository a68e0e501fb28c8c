import { createPrivateKey, createPublicKey, createSecretKey, hkdfSync, KeyObject, webcrypto } from 'node:crypto';
import { SessionOptionsError } from '../core/session.exceptions.js';
import { checkKeys, describeSecret, GENERATE_SECRET, MIN_SECRET_BYTES, secretBytes, show } from '../options/option-checks.js';

/** One signing key; `kid` names it in the token header so keys can rotate. */
export interface SessionJwtKey {
  kid: string;
  /** HS256: the shared secret, at least 32 bytes (a string is taken as UTF-8). Also the source of the JWE key when `encryption` is on (for EdDSA keys too). */
  secret?: string | Uint8Array;
  /** EdDSA (Ed25519): the private key, a KeyObject or PKCS#8 PEM; needed on the first key only (the one that signs). */
  privateKey?: KeyObject | string;
  /** EdDSA: the public key, a KeyObject or SPKI PEM. */
  publicKey?: KeyObject | string;
}

/** The `jwt` option of SessionModule. */
export interface SessionJwtOptions {
  /** Default 'HS256'. */
  algorithm?: 'HS256' | 'EdDSA';
  /** Newest first: the first key signs, every key verifies (matched by `kid`). Remove a key once tokens signed with it have expired. */
  keys: SessionJwtKey[];
  /** Set as `iss` and required on verification when given. */
  issuer?: string;
  /** Set as `aud` and required on verification when given. */
  audience?: string;
}

/** What the token carries. `tok` is the opaque session token; `exp` is in epoch seconds. */
export interface SessionJwtClaims {
  tok: string;
  sub: string;
  sid: string;
  exp: number;
}

/** Options after validation (keys imported to KeyObjects, HKDF-derived JWE keys computed). */
export interface ResolvedJwtOptions {
  algorithm: 'HS256' | 'EdDSA';
  /**
   * Newest first, as given. `sign` is the HKDF-derived HMAC key (HS256) or the Ed25519 private
   * key, null on EdDSA keys that only verify; `encrypt` is null unless encryption is on.
   */
  keys: ReadonlyArray<{ kid: string; sign: KeyObject | null; verify: KeyObject; encrypt: KeyObject | null }>;
  encryption: boolean;
  issuer: string | undefined;
  audience: string | undefined;
}

type Jose = typeof import('jose');

// jose is an optional peer dependency and the library's index imports this module, so an app
// that never issues a JWT must not need it installed.
let jose: Promise<Jose> | undefined;
function loadJose(): Promise<Jose> {
  jose ??= import('jose').catch((cause: unknown) => {
    throw new Error("tokenType 'jwt' needs the jose package: npm install jose", { cause });
  });
  return jose;
}

// Distinct labels so one secret never keys two algorithms; the kid as salt so a reused secret
// still yields a different key per kid.
const SIGN_INFO = 'nestjs-sessions jwt sign';
const ENCRYPT_INFO = 'nestjs-sessions jwt encrypt';
const KID = /^[A-Za-z0-9._-]{1,64}$/;
const SID = /^[0-9]+$/;
// Ours are a few hundred characters; past this, parsing is only work for an attacker.
const MAX_TOKEN_LENGTH = 4096;
const JWT_OPTIONS = ['algorithm', 'keys', 'issuer', 'audience'];
const KEY_OPTIONS = ['kid', 'secret', 'privateKey', 'publicKey'];
const GENERATE_KEY = 'openssl genpkey -algorithm ed25519';

/** The shape of a value that may be a secret or a key, never its content. */
function kind(value: unknown): string {
  return value instanceof KeyObject ? `a ${value.type} KeyObject` : describeSecret(value);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function optionalString(option: string, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value === '') {
    throw new SessionOptionsError(option, `got ${show(value)}; expected a non-empty string, or leave it out.`);
  }
  return value;
}

function derive(secret: Uint8Array, kid: string, info: string): KeyObject {
  return createSecretKey(Buffer.from(hkdfSync('sha256', secret, kid, info, 32)));
}

function ed25519(option: string, key: KeyObject, type: 'public' | 'private'): KeyObject {
  if (key.type !== type) {
    const hint = type === 'public' ? ' (createPublicKey(privateKey) derives it)' : '';
    throw new SessionOptionsError(option, `got a ${key.type} key; expected the ${type} key of an Ed25519 pair${hint}.`);
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new SessionOptionsError(option, `got a key of type '${key.asymmetricKeyType}'; expected Ed25519 (${GENERATE_KEY}).`);
  }
  return key;
}

const PEM_EXPECTED = {
  public: 'expected an Ed25519 public key as a KeyObject or SPKI PEM (-----BEGIN PUBLIC KEY-----)',
  private: 'expected an Ed25519 private key as a KeyObject or unencrypted PKCS#8 PEM (-----BEGIN PRIVATE KEY-----)',
};

function ed25519Of(option: string, value: unknown, type: 'public' | 'private'): KeyObject {
  if (value instanceof KeyObject) return ed25519(option, value, type);
  const expected = PEM_EXPECTED[type];
  // createPublicKey would quietly derive the public half of a private PEM; a private key
  // pasted where a public one goes is a leak waiting to happen, so say so.
  if (type === 'public' && typeof value === 'string' && value.includes('PRIVATE KEY')) throw new SessionOptionsError(option, `got a private key PEM; ${expected}.`);
  if (typeof value !== 'string') throw new SessionOptionsError(option, `got ${kind(value)}; ${expected}.`);
  let key: KeyObject;
  try {
    key = type === 'public' ? createPublicKey(value) : createPrivateKey(value);
  } catch {
    throw new SessionOptionsError(option, `got a string that is not a PEM ${type} key; ${expected}.`);
  }
  return ed25519(option, key, type);
}

function resolveKey(raw: unknown, index: number, algorithm: ResolvedJwtOptions['algorithm'], encryption: boolean): ResolvedJwtOptions['keys'][number] {
  const option = `jwt.keys[${index}]`;
  if (!isRecord(raw)) throw new SessionOptionsError(option, `got ${kind(raw)}; expected an object such as { kid: '2025-01', secret: process.env.SESSION_JWT_SECRET }.`);
  checkKeys(option, raw, KEY_OPTIONS);
  const { kid } = raw;
  if (typeof kid !== 'string' || !KID.test(kid)) {
    throw new SessionOptionsError(`${option}.kid`, `got ${show(kid)}; expected 1 to 64 letters, digits, '.', '_' or '-', such as '2025-01'.`);
  }

  const secret = raw.secret === undefined ? undefined : secretBytes(`${option}.secret`, raw.secret);
  if (secret === undefined && algorithm === 'HS256') {
    throw new SessionOptionsError(`${option}.secret`, `missing; HS256 signs with a shared secret of at least ${MIN_SECRET_BYTES} bytes (${GENERATE_SECRET}).`);
  }
  if (secret === undefined && encryption) {
    throw new SessionOptionsError(
      `${option}.secret`,
      `missing; encryption: true derives the JWE key from each key's secret, so every key needs one of at least ${MIN_SECRET_BYTES} bytes (${GENERATE_SECRET}).`,
    );
  }
  const encrypt = encryption && secret ? derive(secret, kid, ENCRYPT_INFO) : null;

  if (algorithm === 'HS256') {
    for (const pair of ['privateKey', 'publicKey'] as const) {
      if (raw[pair] !== undefined) {
        throw new SessionOptionsError(
          `${option}.${pair}`,
          "given with algorithm 'HS256', which signs with secret; set jwt.algorithm: 'EdDSA' to sign with an Ed25519 key pair.",
        );
      }
    }
    const key = derive(secret as Uint8Array, kid, SIGN_INFO);
    return { kid, sign: key, verify: key, encrypt };
  }

  if (raw.publicKey === undefined) {
    throw new SessionOptionsError(`${option}.publicKey`, "missing; algorithm 'EdDSA' verifies with each key's Ed25519 public key, a KeyObject or SPKI PEM.");
  }
  const verify = ed25519Of(`${option}.publicKey`, raw.publicKey, 'public');
  if (raw.privateKey === undefined) {
    if (index === 0) {
      throw new SessionOptionsError(
        `${option}.privateKey`,
        "missing; the first key signs, so with algorithm 'EdDSA' it needs its Ed25519 private key, a KeyObject or PKCS#8 PEM.",
      );
    }
    return { kid, sign: null, verify, encrypt };
  }
  const sign = ed25519Of(`${option}.privateKey`, raw.privateKey, 'private');
  const spki = { type: 'spki', format: 'der' } as const;
  if (!createPublicKey(sign).export(spki).equals(verify.export(spki))) {
    throw new SessionOptionsError(
      `${option}.privateKey`,
      `does not match ${option}.publicKey; expected the two halves of one Ed25519 pair, or every token it signs fails to verify.`,
    );
  }
  return { kid, sign, verify, encrypt };
}

/** Validates the `jwt` option at startup; throws SessionOptionsError naming the option at fault. */
export function resolveJwtOptions(raw: unknown, encryption: boolean): ResolvedJwtOptions {
  if (!isRecord(raw)) {
    throw new SessionOptionsError('jwt', `got ${kind(raw)}; tokenType 'jwt' needs an object such as { keys: [{ kid: '2025-01', secret: process.env.SESSION_JWT_SECRET }] }.`);
  }
  checkKeys('jwt', raw, JWT_OPTIONS);
  const algorithm = raw.algorithm ?? 'HS256';
  if (algorithm !== 'HS256' && algorithm !== 'EdDSA') {
    throw new SessionOptionsError('jwt.algorithm', `got ${show(raw.algorithm)}; expected 'HS256' (the default, a shared secret) or 'EdDSA' (an Ed25519 key pair).`);
  }
  const issuer = optionalString('jwt.issuer', raw.issuer);
  const audience = optionalString('jwt.audience', raw.audience);
  if (!Array.isArray(raw.keys) || raw.keys.length === 0) {
    throw new SessionOptionsError(
      'jwt.keys',
      `got ${kind(raw.keys)}; expected a non-empty array of keys, newest first, such as [{ kid: '2025-01', secret: process.env.SESSION_JWT_SECRET }].`,
    );
  }

  const keys = raw.keys.map((key: unknown, index) => resolveKey(key, index, algorithm, encryption));
  const seen = new Map<string, number>();
  for (const [index, { kid }] of keys.entries()) {
    const first = seen.get(kid);
    if (first !== undefined) {
      throw new SessionOptionsError(
        `jwt.keys[${index}].kid`,
        `got ${show(kid)}, already the kid of jwt.keys[${first}]; expected each kid once, since it picks the key that verifies a token.`,
      );
    }
    seen.set(kid, index);
  }
  return { algorithm, keys, encryption, issuer, audience };
}

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
