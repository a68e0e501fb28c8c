import { SessionOptionsError } from '../core/session.exceptions.js';

// Checks shared by the module's options and the `jwt` option, so both word their errors alike.

/** Secrets shorter than this are refused: 256 bits, the size of the keys derived from them. */
export const MIN_SECRET_BYTES = 32;
/** How to make a good secret, for the error messages. */
export const GENERATE_SECRET = 'openssl rand -base64 48';

/** A value as an error message shows it: short, and a function as "a function". */
export function show(value: unknown): string {
  if (typeof value === 'function') return 'a function';
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/** Refuses keys of `value` that are not `known`, naming the first as `option.key`. */
export function checkKeys(option: string, value: object, known: readonly string[]): void {
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) throw new SessionOptionsError(`${option}.${key}`, `unknown option; the known ones are ${known.join(', ')}.`);
  }
}

/** The shape of a value that may be a secret, never its content. */
export function describeSecret(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (typeof value === 'string') return `a ${Buffer.byteLength(value)}-byte string`;
  if (value instanceof Uint8Array) return `a ${value.byteLength}-byte Uint8Array`;
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

/** A secret's bytes, at least MIN_SECRET_BYTES of them; the error never shows the secret. */
export function secretBytes(option: string, value: unknown): Uint8Array {
  if (typeof value !== 'string' && !(value instanceof Uint8Array)) {
    throw new SessionOptionsError(option, `got ${describeSecret(value)}; expected a string or Uint8Array of at least ${MIN_SECRET_BYTES} bytes (${GENERATE_SECRET}).`);
  }
  const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  if (bytes.byteLength < MIN_SECRET_BYTES) {
    throw new SessionOptionsError(option, `got a ${bytes.byteLength}-byte secret; expected at least ${MIN_SECRET_BYTES} bytes (${GENERATE_SECRET}).`);
  }
  return bytes;
}
