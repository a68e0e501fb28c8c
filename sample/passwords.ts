import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';

/**
 * scrypt at OWASP's Password Storage Cheat Sheet setting: N=2^17 (a 128 MiB work area), r=8
 * (1 KiB blocks), p=1. Of the cheat sheet's equivalent choices this is the one that costs the
 * most memory per guess, which is what makes scrypt expensive on GPUs and ASICs; the price is
 * about 128 MiB and a few hundred milliseconds of one core per login, which the login
 * throttling (login-throttle.ts) keeps one client from multiplying. Hashes made at the earlier
 * N=2^15 still verify (each hash names its parameters) and are rehashed at their next login.
 */
export const SCRYPT = { N: 2 ** 17, r: 8, p: 1 } as const;
const KEY_LENGTH = 32;
// Node refuses scrypt above maxmem (default 32 MiB). N=2^17, r=8 needs 128 MiB and a little
// more; twice that is the ceiling, so a stored hash naming a larger N cannot make a login
// allocate gigabytes: it fails to verify instead.
const MAX_MEMORY = 256 * 1024 * 1024;
// What a stored hash may name; anything else is refused before any work is done.
const MAX_LOG2_N = 20;
const MAX_R = 32;
const MAX_P = 16;

interface ScryptParameters {
  N: number;
  r: number;
  p: number;
}

function derive(password: string, salt: Buffer, { N, r, p }: ScryptParameters): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(password.normalize('NFKC'), salt, KEY_LENGTH, { N, r, p, maxmem: MAX_MEMORY }, (error, key) => (error ? reject(error) : resolve(key))),
  );
}

const whole = (text: string | undefined, max: number): number | null => (text !== undefined && /^[1-9]\d{0,9}$/.test(text) && Number(text) <= max ? Number(text) : null);

/** The parameters `stored` names, or null for a hash this code did not write. */
function parametersOf(stored: string): (ScryptParameters & { salt: Buffer; hash: Buffer }) | null {
  const [scheme, n, r, p, salt, hash, ...rest] = stored.split('$');
  const N = whole(n, 2 ** MAX_LOG2_N);
  const R = whole(r, MAX_R);
  const P = whole(p, MAX_P);
  if (scheme !== 'scrypt' || rest.length > 0 || !salt || !hash || N === null || R === null || P === null) return null;
  // scrypt wants a power of two above 1.
  if (N < 2 || (N & (N - 1)) !== 0) return null;
  return { N, r: R, p: P, salt: Buffer.from(salt, 'base64url'), hash: Buffer.from(hash, 'base64url') };
}

/** `scrypt$N$r$p$salt$hash`, so the cost can rise later without breaking old hashes. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await derive(password, salt, SCRYPT);
  return ['scrypt', SCRYPT.N, SCRYPT.r, SCRYPT.p, salt.toString('base64url'), key.toString('base64url')].join('$');
}

/** Whether `password` is the one `stored` was made from, at the parameters `stored` names. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parameters = parametersOf(stored);
  if (!parameters) return false;
  const key = await derive(password, parameters.salt, parameters).catch(() => null);
  return key !== null && key.length === parameters.hash.length && timingSafeEqual(key, parameters.hash);
}

/** True for a hash made at other parameters than today's: the login that proves the password rehashes it. */
export function needsRehash(stored: string): boolean {
  const parameters = parametersOf(stored);
  return parameters === null || parameters.N !== SCRYPT.N || parameters.r !== SCRYPT.r || parameters.p !== SCRYPT.p;
}

// Hashed once, for unknown emails, so they take as long to refuse as a wrong password.
let decoy: Promise<string> | undefined;
export async function burnPasswordCheck(password: string): Promise<false> {
  decoy ??= hashPassword(randomBytes(16).toString('hex'));
  await verifyPassword(password, await decoy);
  return false;
}
