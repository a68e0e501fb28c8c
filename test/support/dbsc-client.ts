import { webcrypto } from 'node:crypto';
import { setCookie } from './http.js';

// A browser's side of Device Bound Session Credentials, as Chrome speaks it: a P-256 key made
// with WebCrypto, and `dbsc+jwt` proofs (ES256 JWS, compact) over the server's challenges.

const b64 = (bytes: ArrayBuffer | Uint8Array | string) => Buffer.from(typeof bytes === 'string' ? bytes : new Uint8Array(bytes)).toString('base64url');

/** The parameters of a `Secure-Session-Registration` header: its path and challenge. */
export function parseRegistration(header: unknown): { algorithms: string[]; path: string; challenge: string } | null {
  const match = /^\(([^)]*)\);path="([^"]*)";challenge="([^"]*)"$/.exec(String(header ?? ''));
  return match ? { algorithms: match[1].split(' '), path: match[2], challenge: match[3] } : null;
}

/** The challenge and session id of a `Secure-Session-Challenge` header. */
export function parseChallenge(header: unknown): { challenge: string; id: string } | null {
  const match = /^"([^"]*)";id="([^"]*)"$/.exec(String(header ?? ''));
  return match ? { challenge: match[1], id: match[2] } : null;
}

/** One device: a key pair that never leaves it, and the proofs it signs. */
export class DbscDevice {
  private constructor(
    private readonly keys: webcrypto.CryptoKeyPair,
    readonly publicJwk: webcrypto.JsonWebKey,
  ) {}

  static async create(): Promise<DbscDevice> {
    const keys = (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
    const { kty, crv, x, y } = await webcrypto.subtle.exportKey('jwk', keys.publicKey);
    return new DbscDevice(keys, { kty, crv, x, y });
  }

  /** A proof over `challenge`: with the public key in its header at registration, without at refresh. */
  async proof(challenge: string, at: 'registration' | 'refresh', extra: { header?: object; payload?: object } = {}): Promise<string> {
    const header = { alg: 'ES256', typ: 'dbsc+jwt', ...(at === 'registration' ? { jwk: this.publicJwk } : {}), ...extra.header };
    const input = `${b64(JSON.stringify(header))}.${b64(JSON.stringify({ jti: challenge, ...extra.payload }))}`;
    // WebCrypto's ECDSA signature is r || s, 64 bytes: what JWS wants for ES256.
    const signature = await webcrypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, this.keys.privateKey, Buffer.from(input));
    return `${input}.${b64(signature)}`;
  }
}

/** What a browser keeps for the demo's origin: its cookies, by name. */
export class Jar {
  readonly cookies = new Map<string, string>();
  take(headers: Record<string, unknown>): void {
    for (const name of ['session', 'session-bound']) {
      const cookie = setCookie(headers, name);
      if (cookie) cookie.attributes['max-age'] === '0' ? this.cookies.delete(name) : this.cookies.set(name, cookie.value);
    }
  }
  header(): string {
    return [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
  }
  copy(...names: string[]): Jar {
    const jar = new Jar();
    for (const name of names) if (this.cookies.has(name)) jar.cookies.set(name, this.cookies.get(name)!);
    return jar;
  }
}
