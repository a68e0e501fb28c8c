import { createHmac, createPublicKey, generateKeyPairSync, hkdfSync, type KeyObject } from 'node:crypto';
import { CompactEncrypt, decodeJwt, decodeProtectedHeader, EncryptJWT, SignJWT } from 'jose';
import { SessionOptionsError } from '../core/session.exceptions.js';
import { type SessionJwtClaims, SessionJwtCodec } from './jwt-codec.js';
import { resolveJwtOptions } from './jwt.options.js';
import { generateToken } from './opaque-token.js';

const SECRET = 'test-secret-test-secret-test-secret-0123456789';
const OTHER_SECRET = 'another-secret-another-secret-another-0123456789';
const ed = generateKeyPairSync('ed25519');
const otherEd = generateKeyPairSync('ed25519');

const NOW = Date.UTC(2030, 0, 1, 12);
const EXP = NOW / 1000 + 900;
const claims: SessionJwtClaims = { tok: generateToken(), sub: 'user-42', sid: '1234567', exp: EXP };

function codec(raw: unknown, encryption = false): SessionJwtCodec {
  return new SessionJwtCodec(resolveJwtOptions(raw, encryption));
}

const hs = (secret: string = SECRET, kid = 'k1') => ({ keys: [{ kid, secret }] });
const eddsa = (pair = ed, kid = 'k1', secret?: string) => ({ algorithm: 'EdDSA', keys: [{ kid, privateKey: pair.privateKey, publicKey: pair.publicKey, secret }] });

function b64(value: object | string): string {
  return Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
}

/** A JWS built by hand, so nothing a JWT library would refuse to produce is out of reach. */
function hmacJwt(header: object, payload: object, key: KeyObject | Uint8Array | string): string {
  const input = `${b64(header)}.${b64(payload)}`;
  return `${input}.${createHmac('sha256', key).update(input).digest('base64url')}`;
}

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** Flips the top bit of the 6 a base64url character carries: never one of the spare low bits. */
function flip(token: string, index: number): string {
  const flipped = ALPHABET[ALPHABET.indexOf(token[index]) ^ 32];
  return token.slice(0, index) + flipped + token.slice(index + 1);
}

function fails(raw: unknown, encryption = false): SessionOptionsError {
  try {
    resolveJwtOptions(raw, encryption);
  } catch (error) {
    expect(error).toBeInstanceOf(SessionOptionsError);
    return error as SessionOptionsError;
  }
  throw new Error('expected the jwt options to be refused');
}

describe('SessionJwtCodec', () => {
  describe.each([
    ['HS256', () => hs(), false],
    ['EdDSA', () => eddsa(), false],
    ['HS256 + JWE', () => hs(), true],
    ['EdDSA + JWE', () => eddsa(ed, 'k1', SECRET), true],
  ] as const)('%s', (_label, options, encryption) => {
    it('verifies what it signs, returning exactly the claims', async () => {
      const jwt = codec(options(), encryption);
      const token = await jwt.sign(claims, NOW);
      const verified = await jwt.verify(token, NOW);
      expect(verified).toStrictEqual(claims);
      expect(Object.keys(verified!).sort()).toEqual(['exp', 'sid', 'sub', 'tok']);
      // Verification needs nothing but the options: a second codec (another process) agrees.
      expect(await codec(options(), encryption).verify(token, NOW)).toStrictEqual(claims);
    });

    it('refuses the token once flipped at any character', async () => {
      const jwt = codec(options(), encryption);
      const token = await jwt.sign(claims, NOW);
      for (let i = 0; i < token.length; i++) {
        if (token[i] === '.') continue;
        expect(await jwt.verify(flip(token, i), NOW)).toBeNull();
      }
    });

    it('refuses the token from the second its exp is reached', async () => {
      const jwt = codec(options(), encryption);
      const token = await jwt.sign(claims, NOW);
      expect(await jwt.verify(token, EXP * 1000 - 1)).toStrictEqual(claims);
      expect(await jwt.verify(token, EXP * 1000)).toBeNull();
      expect(await jwt.verify(token, EXP * 1000 + 1)).toBeNull();
      expect(await jwt.verify(token, EXP * 1000 + 86_400_000)).toBeNull();
    });

    it('checks no expiry at now 0 (the service passes 0 for a logout)', async () => {
      const jwt = codec(options(), encryption);
      expect(await jwt.verify(await jwt.sign(claims, NOW), 0)).toStrictEqual(claims);
    });
  });

  it('signs a readable JWS when encryption is off: header, iat from now, iss and aud', async () => {
    const jwt = codec({ ...hs(), issuer: 'https://auth.example.com', audience: 'api' });
    const token = await jwt.sign(claims, NOW + 999);
    expect(token.split('.')).toHaveLength(3);
    expect(decodeProtectedHeader(token)).toStrictEqual({ alg: 'HS256', kid: 'k1', typ: 'JWT' });
    expect(decodeJwt(token)).toStrictEqual({ ...claims, iat: NOW / 1000, iss: 'https://auth.example.com', aud: 'api' });

    const edToken = await codec(eddsa()).sign(claims, NOW);
    expect(decodeProtectedHeader(edToken)).toStrictEqual({ alg: 'EdDSA', kid: 'k1', typ: 'JWT' });
  });

  it.each([
    ['HS256', () => hs()],
    ['EdDSA', () => eddsa(ed, 'k1', SECRET)],
  ])('hides the claims when encryption is on (%s)', async (_label, options) => {
    const token = await codec(options(), true).sign(claims, NOW);
    const parts = token.split('.');
    expect(parts).toHaveLength(5);
    expect(parts[1]).toBe(''); // `dir`: no encrypted key
    expect(decodeProtectedHeader(token)).toStrictEqual({ alg: 'dir', enc: 'A256GCM', kid: 'k1', cty: 'JWT' });
    expect(() => decodeJwt(token)).toThrow();
    for (const secret of [claims.tok, claims.sub, claims.sid]) {
      expect(token).not.toContain(secret);
      for (const part of parts) expect(Buffer.from(part, 'base64url').toString('latin1')).not.toContain(secret);
    }
  });

  describe('key rotation', () => {
    const oldKey = { kid: '2025-01', secret: SECRET };
    const newKey = { kid: '2025-02', secret: OTHER_SECRET };

    it.each([false, true])('verifies an old key token while the key is listed, not after (encryption %p)', async (encryption) => {
      const token = await codec({ keys: [oldKey] }, encryption).sign(claims, NOW);
      const rotated = codec({ keys: [newKey, oldKey] }, encryption);
      expect(await rotated.verify(token, NOW)).toStrictEqual(claims);
      expect(await codec({ keys: [newKey] }, encryption).verify(token, NOW)).toBeNull();

      const fresh = await rotated.sign(claims, NOW);
      expect(decodeProtectedHeader(fresh).kid).toBe('2025-02');
      expect(await codec({ keys: [newKey] }, encryption).verify(fresh, NOW)).toStrictEqual(claims);
      expect(await codec({ keys: [oldKey] }, encryption).verify(fresh, NOW)).toBeNull();
    });

    it('verifies with an EdDSA key that has no private key', async () => {
      const token = await codec(eddsa(ed, 'old')).sign(claims, NOW);
      const rotated = codec({
        algorithm: 'EdDSA',
        keys: [
          { kid: 'new', privateKey: otherEd.privateKey, publicKey: otherEd.publicKey },
          { kid: 'old', publicKey: ed.publicKey },
        ],
      });
      expect(await rotated.verify(token, NOW)).toStrictEqual(claims);
      expect(decodeProtectedHeader(await rotated.sign(claims, NOW)).kid).toBe('new');
    });

    it('refuses a token naming one listed key but signed with another', async () => {
      const options = resolveJwtOptions({ keys: [oldKey, newKey] }, false);
      const forged = hmacJwt({ alg: 'HS256', kid: '2025-01', typ: 'JWT' }, claims, options.keys[1].verify);
      expect(await new SessionJwtCodec(options).verify(forged, NOW)).toBeNull();
    });
  });

  describe('refuses', () => {
    const jwt = codec(hs());

    it('a token signed with another secret', async () => {
      expect(await jwt.verify(await codec(hs(OTHER_SECRET)).sign(claims, NOW), NOW)).toBeNull();
      expect(await codec(eddsa()).verify(await codec(eddsa(otherEd)).sign(claims, NOW), NOW)).toBeNull();
    });

    it('a payload swapped for another, keeping the signature', async () => {
      const token = await jwt.sign(claims, NOW);
      const [header, , signature] = token.split('.');
      const payload = b64({ ...decodeJwt<Record<string, unknown>>(token), sub: 'admin' });
      expect(await jwt.verify(`${header}.${payload}.${signature}`, NOW)).toBeNull();
    });

    it('a flipped character in the payload and in the signature', async () => {
      const token = await jwt.sign(claims, NOW);
      const [header, payload] = token.split('.');
      expect(await jwt.verify(flip(token, header.length + 1 + Math.floor(payload.length / 2)), NOW)).toBeNull();
      expect(await jwt.verify(flip(token, token.length - 10), NOW)).toBeNull();
    });

    it('an unsecured token (alg none)', async () => {
      const payload = { ...claims, iat: NOW / 1000 };
      for (const header of [{ alg: 'none', typ: 'JWT' }, { alg: 'none', kid: 'k1', typ: 'JWT' }, { alg: 'None', kid: 'k1', typ: 'JWT' }]) {
        expect(await jwt.verify(`${b64(header)}.${b64(payload)}.`, NOW)).toBeNull();
      }
    });

    it('an HS256 token when the algorithm is EdDSA, even HMAC-signed with the public key', async () => {
      const edJwt = codec(eddsa());
      const publicKey = ed.publicKey;
      const pem = publicKey.export({ type: 'spki', format: 'pem' });
      const der = publicKey.export({ type: 'spki', format: 'der' });
      const raw = Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url');
      const header = { alg: 'HS256', kid: 'k1', typ: 'JWT' };
      for (const key of [pem, der, raw, SECRET]) {
        expect(await edJwt.verify(hmacJwt(header, claims, key), NOW)).toBeNull();
      }
      // And the reverse: a valid EdDSA token under the same kid is no HS256 token.
      expect(await jwt.verify(await edJwt.sign(claims, NOW), NOW)).toBeNull();
    });

    it('a token whose kid is unknown or missing, even signed with a listed key', async () => {
      const { keys } = resolveJwtOptions(hs(), false);
      for (const header of [{ alg: 'HS256', kid: 'k2', typ: 'JWT' }, { alg: 'HS256', typ: 'JWT' }, { alg: 'HS256', kid: 1, typ: 'JWT' }]) {
        expect(await jwt.verify(hmacJwt(header, claims, keys[0].verify), NOW)).toBeNull();
      }
      expect(await jwt.verify(await codec(hs(SECRET, 'k2')).sign(claims, NOW), NOW)).toBeNull();
    });

    it('a token without typ JWT, or with the raw secret as HMAC key instead of the derived one', async () => {
      const { keys } = resolveJwtOptions(hs(), false);
      expect(await jwt.verify(hmacJwt({ alg: 'HS256', kid: 'k1', typ: 'JWT' }, claims, keys[0].verify), NOW)).toStrictEqual(claims);
      expect(await jwt.verify(hmacJwt({ alg: 'HS256', kid: 'k1' }, claims, keys[0].verify), NOW)).toBeNull();
      expect(await jwt.verify(hmacJwt({ alg: 'HS256', kid: 'k1', typ: 'JWT' }, claims, SECRET), NOW)).toBeNull();
    });

    it('a JWE when encryption is off, and a JWS when it is on', async () => {
      const jws = await jwt.sign(claims, NOW);
      const jwe = await codec(hs(), true).sign(claims, NOW);
      expect(await jwt.verify(jwe, NOW)).toBeNull();
      expect(await codec(hs(), true).verify(jws, NOW)).toBeNull();
    });

    it('a JWE encrypted with another secret, or with its header, iv, ciphertext or tag tampered', async () => {
      const sealed = codec(hs(), true);
      expect(await sealed.verify(await codec(hs(OTHER_SECRET), true).sign(claims, NOW), NOW)).toBeNull();
      const token = await sealed.sign(claims, NOW);
      const parts = token.split('.');
      for (const index of [2, 3, 4]) {
        const tampered = [...parts];
        tampered[index] = flip(parts[index], 3);
        expect(await sealed.verify(tampered.join('.'), NOW)).toBeNull();
      }
      // The header is the AAD: the same members spelled in another order break the tag.
      const otherHeader = b64({ kid: 'k1', alg: 'dir', enc: 'A256GCM', cty: 'JWT' });
      expect(await sealed.verify([otherHeader, ...parts.slice(1)].join('.'), NOW)).toBeNull();
    });

    it('a JWE sealed with the right key around anything but a JWS of the same kid', async () => {
      const options = resolveJwtOptions({ keys: [{ kid: 'a', secret: SECRET }, { kid: 'b', secret: OTHER_SECRET }] }, true);
      const sealed = new SessionJwtCodec(options);
      const [a, b] = options.keys;
      const seal = (plaintext: string, header: object = { alg: 'dir', enc: 'A256GCM', kid: 'a', cty: 'JWT' }) =>
        new CompactEncrypt(new TextEncoder().encode(plaintext)).setProtectedHeader(header as never).encrypt(a.encrypt!);

      const good = hmacJwt({ alg: 'HS256', kid: 'a', typ: 'JWT' }, claims, a.verify);
      expect(await sealed.verify(await seal(good), NOW)).toStrictEqual(claims);
      // Inner JWS signed (validly) by key b, sealed by key a.
      expect(await sealed.verify(await seal(hmacJwt({ alg: 'HS256', kid: 'b', typ: 'JWT' }, claims, b.verify)), NOW)).toBeNull();
      expect(await sealed.verify(await seal(good, { alg: 'dir', enc: 'A256GCM', kid: 'a' }), NOW)).toBeNull();
      expect(await sealed.verify(await seal(JSON.stringify(claims)), NOW)).toBeNull();
      const unsigned = await new EncryptJWT({ ...claims }).setProtectedHeader({ alg: 'dir', enc: 'A256GCM', kid: 'a' }).encrypt(a.encrypt!);
      expect(await sealed.verify(unsigned, NOW)).toBeNull();
      // The signature key is not the encryption key.
      expect(await sealed.verify(await seal(hmacJwt({ alg: 'HS256', kid: 'a', typ: 'JWT' }, claims, a.encrypt!)), NOW)).toBeNull();
    });

    it.each([
      ['sid not digits', { ...claims, sid: 'abc' }],
      ['sid a number', { ...claims, sid: 1234567 }],
      ['sid empty', { ...claims, sid: '' }],
      ['tok missing', { sub: claims.sub, sid: claims.sid, exp: EXP }],
      ['tok a number', { ...claims, tok: 42 }],
      ['sub empty', { ...claims, sub: '' }],
      ['sub missing', { tok: claims.tok, sid: claims.sid, exp: EXP }],
      ['sub an array', { ...claims, sub: ['user-42'] }],
      ['exp missing', { tok: claims.tok, sub: claims.sub, sid: claims.sid }],
      ['exp a string', { ...claims, exp: String(EXP) }],
      ['nbf in the future', { ...claims, nbf: EXP - 1 }],
    ])('claims of the wrong shape, signed with the right key: %s', async (_label, payload) => {
      const { keys } = resolveJwtOptions(hs(), false);
      const token = await new SignJWT(payload as Record<string, unknown>).setProtectedHeader({ alg: 'HS256', kid: 'k1', typ: 'JWT' }).sign(keys[0].sign!);
      expect(await jwt.verify(token, NOW)).toBeNull();
    });

    it('a token without the configured issuer or audience', async () => {
      const strict = codec({ ...hs(), issuer: 'https://auth.example.com', audience: 'api' });
      expect(await strict.verify(await strict.sign(claims, NOW), NOW)).toStrictEqual(claims);
      expect(await strict.verify(await jwt.sign(claims, NOW), NOW)).toBeNull();
      expect(await strict.verify(await codec({ ...hs(), issuer: 'https://auth.example.com', audience: 'web' }).sign(claims, NOW), NOW)).toBeNull();
      expect(await strict.verify(await codec({ ...hs(), issuer: 'https://evil.example.com', audience: 'api' }).sign(claims, NOW), NOW)).toBeNull();
    });

    it.each([
      ['undefined', undefined],
      ['null', null],
      ['a number', 42],
      ['an object', { token: 'x' }],
      ['an array', ['a', 'b', 'c']],
      ['the empty string', ''],
      ['dots only', '..'],
      ['three short parts', 'a.b.c'],
      ['an opaque session token', generateToken()],
      ['a 5000-character string', 'a'.repeat(5_000)],
      ['a 4097-character three-part string', `${'a'.repeat(2_000)}.${'b'.repeat(2_000)}.${'c'.repeat(95)}`],
      ['JSON', JSON.stringify(claims)],
      ['a header that is not JSON', `${b64('{"alg":')}.${b64(claims)}.abc`],
      ['a header that is an array', `${b64([1])}.${b64(claims)}.abc`],
    ])('%s', async (_label, value) => {
      await expect(jwt.verify(value, NOW)).resolves.toBeNull();
      await expect(codec(hs(), true).verify(value, NOW)).resolves.toBeNull();
    });

    it('its own token passed as a Buffer, or checked against a nonsense clock', async () => {
      const token = await jwt.sign(claims, NOW);
      expect(await jwt.verify(Buffer.from(token), NOW)).toBeNull();
      expect(await jwt.verify(token, Number.NaN)).toBeNull();
    });
  });

  it('refuses to sign claims it would not verify', async () => {
    const jwt = codec(hs());
    for (const bad of [{ ...claims, sid: 'x' }, { ...claims, sub: '' }, { ...claims, exp: Number.NaN }, { ...claims, tok: undefined }]) {
      await expect(jwt.sign(bad as unknown as SessionJwtClaims, NOW)).rejects.toThrow(TypeError);
    }
  });
});

describe('resolveJwtOptions', () => {
  it('derives the HMAC and JWE keys from the secret with HKDF-SHA256, salted by kid', () => {
    const { keys } = resolveJwtOptions({ keys: [{ kid: 'k1', secret: SECRET }, { kid: 'k2', secret: Buffer.from(SECRET) }] }, true);
    const expected = (kid: string, info: string) => Buffer.from(hkdfSync('sha256', Buffer.from(SECRET), kid, info, 32));
    expect(keys[0].sign!.export()).toEqual(expected('k1', 'nestjs-sessions jwt sign'));
    expect(keys[0].verify).toBe(keys[0].sign);
    expect(keys[0].encrypt!.export()).toEqual(expected('k1', 'nestjs-sessions jwt encrypt'));
    // Same secret (as a string and as bytes), another kid: other keys.
    expect(keys[1].sign!.export()).toEqual(expected('k2', 'nestjs-sessions jwt sign'));
    expect(keys[1].encrypt!.export()).toEqual(expected('k2', 'nestjs-sessions jwt encrypt'));
    expect(keys[1].sign!.export()).not.toEqual(keys[0].sign!.export());
  });

  it('accepts EdDSA keys as PEM, and no JWE key unless encryption is on', () => {
    const pem = {
      kid: 'pem',
      privateKey: ed.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
      publicKey: ed.publicKey.export({ type: 'spki', format: 'pem' }) as string,
    };
    const resolved = resolveJwtOptions({ algorithm: 'EdDSA', keys: [pem] }, false);
    expect(resolved).toMatchObject({ algorithm: 'EdDSA', encryption: false, issuer: undefined, audience: undefined });
    expect(resolved.keys[0].sign!.asymmetricKeyType).toBe('ed25519');
    expect(resolved.keys[0].verify.equals(ed.publicKey)).toBe(true);
    expect(resolved.keys[0].encrypt).toBeNull();
    expect(resolveJwtOptions(hs(), false).algorithm).toBe('HS256');
  });

  const short = 'tiny-secret-XYZ';
  const privatePem = ed.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  const x25519 = generateKeyPairSync('x25519');
  const ed448 = generateKeyPairSync('ed448');
  const p256 = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const hsKey = { kid: 'k1', secret: SECRET };
  const edKey = { kid: 'k1', privateKey: ed.privateKey, publicKey: ed.publicKey };

  it.each([
    ['jwt', /got nothing; tokenType 'jwt' needs an object/, undefined, false],
    ['jwt', /got a 4-byte string/, 'keys', false],
    ['jwt.foo', /unknown option; the known ones are algorithm, keys, issuer, audience/, { keys: [hsKey], foo: 1 }, false],
    ['jwt.algorithm', /got "RS256"; expected 'HS256' .* or 'EdDSA'/, { algorithm: 'RS256', keys: [hsKey] }, false],
    ['jwt.algorithm', /got "none"/, { algorithm: 'none', keys: [hsKey] }, false],
    ['jwt.keys', /got nothing; expected a non-empty array/, {}, false],
    ['jwt.keys', /expected a non-empty array/, { keys: [] }, false],
    ['jwt.keys', /got an object; expected a non-empty array/, { keys: hsKey }, false],
    ['jwt.keys[0]', /got null; expected an object/, { keys: [null] }, false],
    ['jwt.keys[0].secert', /unknown option; the known ones are kid, secret, privateKey, publicKey/, { keys: [{ ...hsKey, secert: SECRET }] }, false],
    ['jwt.keys[0].kid', /got undefined; expected 1 to 64 letters/, { keys: [{ secret: SECRET }] }, false],
    ['jwt.keys[0].kid', /got ""/, { keys: [{ kid: '', secret: SECRET }] }, false],
    ['jwt.keys[0].kid', /got "a b"/, { keys: [{ kid: 'a b', secret: SECRET }] }, false],
    ['jwt.keys[0].kid', /expected 1 to 64/, { keys: [{ kid: 'k'.repeat(65), secret: SECRET }] }, false],
    ['jwt.keys[2].kid', /got "k1", already the kid of jwt.keys\[0\]/, { keys: [hsKey, { kid: 'k2', secret: SECRET }, { kid: 'k1', secret: OTHER_SECRET }] }, false],
    ['jwt.keys[0].secret', /missing; HS256 signs with a shared secret of at least 32 bytes \(openssl rand -base64 48\)/, { keys: [{ kid: 'k1' }] }, false],
    ['jwt.keys[0].secret', /^.*got a 15-byte secret; expected at least 32 bytes \(openssl rand -base64 48\)\.$/, { keys: [{ kid: 'k1', secret: short }] }, false],
    ['jwt.keys[1].secret', /got a 15-byte secret/, { keys: [hsKey, { kid: 'k2', secret: Buffer.from(short) }] }, false],
    ['jwt.keys[0].secret', /got a number; expected a string or Uint8Array/, { keys: [{ kid: 'k1', secret: 12345678901234567890123456789012345 }] }, false],
    ['jwt.keys[0].publicKey', /given with algorithm 'HS256'.*algorithm: 'EdDSA'/, { keys: [{ ...hsKey, publicKey: ed.publicKey }] }, false],
    ['jwt.keys[0].privateKey', /given with algorithm 'HS256'/, { keys: [{ ...hsKey, privateKey: privatePem }] }, false],
    ['jwt.keys[0].publicKey', /missing; algorithm 'EdDSA' verifies/, { algorithm: 'EdDSA', keys: [{ kid: 'k1', privateKey: ed.privateKey }] }, false],
    ['jwt.keys[0].privateKey', /missing; the first key signs/, { algorithm: 'EdDSA', keys: [{ kid: 'k1', publicKey: ed.publicKey }] }, false],
    ['jwt.keys[0].publicKey', /got a private key PEM; expected an Ed25519 public key/, { algorithm: 'EdDSA', keys: [{ ...edKey, publicKey: privatePem }] }, false],
    ['jwt.keys[0].publicKey', /got a private key; expected the public key .*createPublicKey/, { algorithm: 'EdDSA', keys: [{ ...edKey, publicKey: ed.privateKey }] }, false],
    ['jwt.keys[0].publicKey', /got a string that is not a PEM public key/, { algorithm: 'EdDSA', keys: [{ ...edKey, publicKey: 'not a pem' }] }, false],
    ['jwt.keys[0].publicKey', /got a key of type 'x25519'; expected Ed25519 \(openssl genpkey -algorithm ed25519\)/, { algorithm: 'EdDSA', keys: [{ ...edKey, publicKey: x25519.publicKey }] }, false],
    ['jwt.keys[0].publicKey', /got a key of type 'ec'; expected Ed25519/, { algorithm: 'EdDSA', keys: [{ ...edKey, publicKey: p256.publicKey }] }, false],
    ['jwt.keys[0].publicKey', /got a 32-byte Uint8Array/, { algorithm: 'EdDSA', keys: [{ ...edKey, publicKey: Buffer.alloc(32) }] }, false],
    ['jwt.keys[0].privateKey', /got a public key; expected the private key/, { algorithm: 'EdDSA', keys: [{ ...edKey, privateKey: ed.publicKey }] }, false],
    ['jwt.keys[0].privateKey', /not a PEM private key/, { algorithm: 'EdDSA', keys: [{ ...edKey, privateKey: 'not a pem' }] }, false],
    ['jwt.keys[0].publicKey', /got a key of type 'ed448'/, { algorithm: 'EdDSA', keys: [{ kid: 'k1', privateKey: ed448.privateKey, publicKey: ed448.publicKey }] }, false],
    ['jwt.keys[0].privateKey', /does not match jwt.keys\[0\].publicKey/, { algorithm: 'EdDSA', keys: [{ ...edKey, privateKey: otherEd.privateKey }] }, false],
    ['jwt.keys[0].secret', /got a 15-byte secret/, { algorithm: 'EdDSA', keys: [{ ...edKey, secret: short }] }, false],
    ['jwt.keys[0].secret', /missing; encryption: true derives the JWE key from each key's secret/, { algorithm: 'EdDSA', keys: [edKey] }, true],
    ['jwt.keys[1].secret', /encryption: true derives/, { algorithm: 'EdDSA', keys: [{ ...edKey, secret: SECRET }, { kid: 'k2', publicKey: otherEd.publicKey }] }, true],
    ['jwt.issuer', /got ""; expected a non-empty string/, { keys: [hsKey], issuer: '' }, false],
    ['jwt.audience', /got \["api"\]; expected a non-empty string/, { keys: [hsKey], audience: ['api'] }, false],
  ])('names %s: %s', (option, message, raw, encryption) => {
    const error = fails(raw, encryption);
    expect(error.option).toBe(option);
    expect(error.message).toContain(`SessionModule option "${option}"`);
    expect(error.message).toMatch(message);
    for (const secret of [SECRET, OTHER_SECRET, short, privatePem.split('\n')[1]]) {
      expect(error.message).not.toContain(secret);
    }
  });

  it('accepts a publicKey derived from the private KeyObject', () => {
    const resolved = resolveJwtOptions({ algorithm: 'EdDSA', keys: [{ kid: 'k1', privateKey: privatePem, publicKey: createPublicKey(privatePem) }] }, false);
    expect(resolved.keys[0].sign).not.toBeNull();
  });
});
