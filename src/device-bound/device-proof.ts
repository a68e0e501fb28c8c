import { loadJose } from '../tokens/jose.js';

// Chrome signs with P-256 today; the registration header offers only that, so nothing else is taken.
const ALGORITHMS = ['ES256'];
const TYP = 'dbsc+jwt';
// A proof is a few hundred characters; past this, parsing is only work for an attacker.
const MAX_PROOF_LENGTH = 4096;

/** What a checked proof says: the challenge it answers and, at registration, the public key it was signed with. */
export interface DeviceProof {
  challenge: string;
  /** The public JWK (EC P-256, only its public members) as JSON, at registration. */
  key?: string;
}

/**
 * A registration proof (a `dbsc+jwt` JWS signed by the key in its own `jwk` header), or null.
 * Proves only that the sender holds that key; the challenge inside says for which session.
 */
export async function verifyRegistration(proof: unknown, now: number): Promise<DeviceProof | null> {
  if (typeof proof !== 'string' || proof.length > MAX_PROOF_LENGTH) return null;
  const { jwtVerify, EmbeddedJWK } = await loadJose();
  try {
    const { payload, protectedHeader } = await jwtVerify(proof, EmbeddedJWK, { algorithms: ALGORITHMS, typ: TYP, currentDate: new Date(now) });
    const jwk = protectedHeader.jwk;
    if (typeof payload.jti !== 'string' || jwk?.kty !== 'EC' || jwk.crv !== 'P-256' || typeof jwk.x !== 'string' || typeof jwk.y !== 'string') return null;
    return { challenge: payload.jti, key: JSON.stringify({ kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y }) };
  } catch {
    return null;
  }
}

/** A refresh proof signed by `key` (the JWK stored at registration) with no key of its own, or null. */
export async function verifyRefresh(proof: unknown, key: string, now: number): Promise<DeviceProof | null> {
  if (typeof proof !== 'string' || proof.length > MAX_PROOF_LENGTH) return null;
  const { jwtVerify, importJWK } = await loadJose();
  try {
    const publicKey = await importJWK(JSON.parse(key) as Record<string, string>, 'ES256');
    const { payload, protectedHeader } = await jwtVerify(proof, publicKey, { algorithms: ALGORITHMS, typ: TYP, currentDate: new Date(now) });
    if (typeof payload.jti !== 'string' || protectedHeader.jwk !== undefined) return null;
    return { challenge: payload.jti };
  } catch {
    return null;
  }
}
