import { SessionOptionsError } from '../core/session.exceptions.js';
import { parseDuration } from './duration.js';

// Checks shared by every slice of the options (and the `jwt` option), so all word their errors alike.

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

// A century: past it a Date overflows PostgreSQL's timestamptz arithmetic long before anyone cares.
const MAX_DURATION_MS = 100 * 365 * 86_400_000;

/** A positive duration up to 100 years, in milliseconds. */
export function duration(option: string, value: unknown): number {
  const ms = parseDuration(value);
  if (ms === undefined || ms <= 0 || ms > MAX_DURATION_MS) {
    throw new SessionOptionsError(
      option,
      `got ${show(value)}; expected a positive duration up to 100 years, as milliseconds (86400000) or a string ('15m', '12h', '30d').`,
    );
  }
  // `maxAge: 30` reads like 30 seconds (express-session's cookie.maxAge is ms, Max-Age is
  // seconds); no session setting is sensibly shorter than a second, so a bare number that small
  // is a unit mistake (a unitless string from an env var, '30', too). With its unit, '500ms' passes.
  if (ms < 1_000 && (typeof value === 'number' || /^\s*[\d.]+\s*$/.test(String(value)))) {
    throw new SessionOptionsError(
      option,
      `got ${value}: a number is milliseconds, so that is ${value} ms. Write '${value}s' for ${value} seconds, or '${value}ms' if you mean milliseconds.`,
    );
  }
  return ms;
}

/** Refuses anything but `undefined` or a boolean. */
export function optionalBoolean(option: string, value: unknown): boolean | undefined {
  if (value !== undefined && typeof value !== 'boolean') throw new SessionOptionsError(option, `got ${show(value)}; expected true or false.`);
  return value;
}

/** Every key of `T`, optional ones too, each marked `true`: a key left out does not compile. */
export type OptionKeyRecord<T> = { [K in keyof Required<T>]: true };

/**
 * The option keys of a slice, from a record the compiler holds complete, so adding an option
 * to the slice's interface without listing it here fails the build rather than being refused
 * at startup as unknown.
 */
export function optionKeys<T>(keys: OptionKeyRecord<T>): ReadonlyArray<keyof T & string> {
  return Object.keys(keys) as (keyof T & string)[];
}

/** Every method of `T`, each marked by whether the interface requires it. */
export type MethodRecord<T> = { [K in keyof Required<T>]: object extends Pick<T, K> ? 'optional' : 'required' };

/**
 * `value` as a `T` once its required methods are functions and its optional ones functions or
 * absent; otherwise refuses it, naming `option` and the first method at fault. `what` is the
 * interface's name as the message gives it.
 */
export function checkMethods<T>(option: string, value: object, what: string, methods: MethodRecord<T>): T {
  for (const [name, need] of Object.entries(methods) as [string, 'optional' | 'required'][]) {
    const method = (value as Record<string, unknown>)[name];
    if (typeof method === 'function' || (method === undefined && need === 'optional')) continue;
    const required = Object.keys(methods).filter((key) => methods[key as keyof T] === 'required');
    throw new SessionOptionsError(
      option,
      method === undefined
        ? `got a ${what} without ${name}(); expected every method the interface requires: ${required.join(', ')}.`
        : `got a ${what} whose ${name} is ${show(method)}; expected a function${need === 'optional' ? ', or leave it out' : ''}.`,
    );
  }
  return value as T;
}
