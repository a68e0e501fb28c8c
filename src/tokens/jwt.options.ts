import { createPrivateKey, createPublicKey, createSecretKey, hkdfSync, KeyObject } from 'node:crypto';
import { SessionOptionsError } from '../core/session.exceptions.js';
import { checkKeys, describeSecret, GENERATE_SECRET, MIN_SECRET_BYTES, optionKeys, secretBytes, show } from '../options/option-checks.js';

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

/** `jwt.algorithm` when none is given. */
export const DEFAULT_JWT_ALGORITHM = 'HS256';

// Distinct labels so one secret never keys two algorithms; the kid as salt so a reused secret
// still yields a different key per kid.
const SIGN_INFO = 'nestjs-sessions jwt sign';
const ENCRYPT_INFO = 'nestjs-sessions jwt encrypt';
const KID = /^[A-Za-z0-9._-]{1,64}$/;
const JWT_OPTIONS = optionKeys<SessionJwtOptions>({ algorithm: true, keys: true, issuer: true, audience: true });
const KEY_OPTIONS = optionKeys<SessionJwtKey>({ kid: true, secret: true, privateKey: true, publicKey: true });
const GENERATE_KEY = 'openssl genpkey -algorithm ed25519';

/** The shape of a value that may be a secret or a key, never its content. */
function kind(value: unknown): string {
  return value instanceof KeyObject ? `a ${value.type} KeyObject` : describeSecret(value);
}

/** A plain object (not null, not an array). */
export function isRecord(value: unknown): value is Record<string, unknown> {
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
  const algorithm = raw.algorithm ?? DEFAULT_JWT_ALGORITHM;
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
