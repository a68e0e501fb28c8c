import { randomBytes } from 'node:crypto';
import { Logger } from '@nestjs/common';
import type { InvalidationListener, SessionInvalidationBus } from './session-invalidation.interface.js';
import { errorMessage } from '../core/utils.js';

/** Channel both buses use unless told otherwise: instances only hear each other on the same one. */
export const DEFAULT_INVALIDATION_CHANNEL = 'nestjs_sessions';

/** A token hash is a SHA-256 digest; anything else is a caller bug, not something to broadcast. */
const HASH_BYTES = 32;

/**
 * Hashes per message. A hash is 43 base64url characters plus quotes and a comma (46 bytes),
 * so 80 of them and the envelope come to about 3.7 kB: under half of PostgreSQL's 8000-byte
 * NOTIFY payload limit, which rejects the whole NOTIFY rather than truncating it.
 */
export const MAX_HASHES_PER_MESSAGE = 80;

const PAYLOAD_VERSION = 1;
const BASE64URL_HASH = /^[A-Za-z0-9_-]{43}$/;

/** Backoff between reconnection attempts of the listening connection. */
export interface InvalidationReconnectOptions {
  /** Delay before the first attempt after a drop. Default 100 ms. */
  minDelayMs?: number;
  /** Cap of the exponential backoff. Default 5000 ms. */
  maxDelayMs?: number;
}

/**
 * The wire format, one JSON object per message:
 * `{"v":1,"from":"<instance id>","evict":["<base64url hash>", …]}`.
 * JSON rather than a bespoke encoding so a human can read it off `LISTEN` or `redis-cli
 * SUBSCRIBE`, and `v` lets a later format coexist with this one during a rolling deploy.
 * `from` lets a bus drop its own messages: the publisher has already evicted locally.
 */
export function encodeInvalidation(from: string, tokenHashes: readonly Buffer[]): string[] {
  const messages: string[] = [];
  for (let i = 0; i < tokenHashes.length; i += MAX_HASHES_PER_MESSAGE) {
    const evict = tokenHashes.slice(i, i + MAX_HASHES_PER_MESSAGE).map((h) => h.toString('base64url'));
    messages.push(JSON.stringify({ v: PAYLOAD_VERSION, from, evict }));
  }
  return messages;
}

/**
 * Parses one message; `undefined` when it is not ours or not well formed. All-or-nothing:
 * a message with one bad hash is dropped whole, since it was not written by this code.
 */
export function decodeInvalidation(payload: string): { from: string; tokenHashes: Buffer[] } | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(payload);
  } catch {
    return undefined;
  }
  if (parsed === null || typeof parsed !== 'object') return undefined;
  const { v, from, evict } = parsed as { v?: unknown; from?: unknown; evict?: unknown };
  if (v !== PAYLOAD_VERSION || typeof from !== 'string' || from.length === 0 || !Array.isArray(evict)) return undefined;
  if (!evict.every((h) => typeof h === 'string' && BASE64URL_HASH.test(h))) return undefined;
  return { from, tokenHashes: evict.map((h: string) => Buffer.from(h, 'base64url')) };
}

/** Exponential backoff with jitter (half fixed, half random) so instances do not reconnect in lockstep. */
export function backoffDelay(attempt: number, minDelayMs: number, maxDelayMs: number): number {
  const ceiling = Math.min(maxDelayMs, minDelayMs * 2 ** Math.min(attempt, 30));
  return Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
}

/**
 * `work`, or a rejection as soon as `signal` aborts (after calling `cleanup`, which should cut
 * the connection). Racing rather than relying on the driver: pg never settles `connect()`
 * when the client is ended while connecting, and `close()` must not wait on it forever.
 */
export async function abortable<T>(work: Promise<T>, signal: AbortSignal, cleanup: () => void): Promise<T> {
  // Whatever `work` does after an abort (usually fail), nobody is waiting for it any more.
  work.catch(() => undefined);
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => {
      cleanup();
      reject(new Error('closed while subscribing'));
    };
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([work, aborted]);
  } finally {
    signal.removeEventListener('abort', onAbort!);
  }
}

/** One live subscription of a transport: its connection, already listening on the channel. */
export interface InvalidationSubscription {
  /** Ends the connection; resolves once its socket is closed. Safe to call more than once. */
  close(): Promise<void>;
}

/** What a transport reports back about the subscription it opened. */
export interface InvalidationSubscriptionEvents {
  /** A raw message arrived on the channel. */
  message(payload: string): void;
  /** The connection is gone (may be called more than once; only the first counts). */
  lost(error: Error): void;
}

/**
 * The part both buses share: the payload, ignoring one's own messages, and keeping the
 * subscription alive. A transport only opens one subscription at a time and reports its
 * loss; this class decides when to reset the listener and when to try again.
 *
 * Reconnection is done here, not by the drivers' own reconnect logic, because the listener
 * must learn of both edges of a gap: ioredis resubscribes silently and pg does not
 * reconnect at all, and either way evictions sent during the gap are lost for good.
 */
export abstract class ReconnectingInvalidationBus implements SessionInvalidationBus {
  protected readonly logger = new Logger('SessionInvalidation');
  /** Random per bus, so a bus can tell its own messages apart (two buses may share a process). */
  readonly instanceId = randomBytes(12).toString('base64url');
  readonly channel: string;

  private readonly minDelayMs: number;
  private readonly maxDelayMs: number;
  private listener?: InvalidationListener;
  private current?: InvalidationSubscription;
  private attempt?: { done: Promise<unknown>; abort: AbortController };
  private reconnectTimer?: NodeJS.Timeout;
  private failedAttempts = 0;
  private closing?: Promise<void>;

  protected constructor(channel: string | undefined, reconnect: InvalidationReconnectOptions | undefined) {
    this.channel = channel ?? DEFAULT_INVALIDATION_CHANNEL;
    if (typeof this.channel !== 'string' || this.channel.length === 0) {
      throw new TypeError(`Session invalidation channel: got ${JSON.stringify(channel)}; expected a non-empty string.`);
    }
    this.minDelayMs = reconnect?.minDelayMs ?? 100;
    this.maxDelayMs = reconnect?.maxDelayMs ?? 5000;
    if (!(this.minDelayMs > 0) || !(this.maxDelayMs >= this.minDelayMs)) {
      throw new TypeError(`Session invalidation reconnect: got minDelayMs ${this.minDelayMs}, maxDelayMs ${this.maxDelayMs}; expected 0 < minDelayMs <= maxDelayMs.`);
    }
  }

  /** Where the bus listens, for log lines and errors, e.g. `PostgreSQL 10.0.0.5:5432/app`. */
  protected abstract describeTarget(): string;
  /**
   * Opens a new connection and subscribes it. Rejects (having closed whatever it opened) when
   * that fails, or when `signal` aborts, which `close()` does to cut a pending attempt short.
   */
  protected abstract subscribe(events: InvalidationSubscriptionEvents, signal: AbortSignal): Promise<InvalidationSubscription>;
  /** Sends one message on the channel. */
  protected abstract send(payload: string): Promise<void>;

  async start(listener: InvalidationListener): Promise<void> {
    if (this.closing) throw new Error('Session invalidation bus: start() after close().');
    if (this.listener) throw new Error('Session invalidation bus: already started.');
    this.listener = listener;
    try {
      await this.connect();
    } catch (error) {
      this.listener = undefined;
      const reason = errorMessage(error);
      throw new Error(`Session invalidation: cannot subscribe to channel "${this.channel}" on ${this.describeTarget()}: ${reason}`, { cause: error });
    }
  }

  /**
   * Sends the hashes in as many messages as needed, one after the other. Works whether or not
   * the bus is started or closed: publishing goes through the caller's connection, and a
   * session revoked during shutdown should still be evicted elsewhere.
   */
  async publish(tokenHashes: Buffer[]): Promise<void> {
    if (!Array.isArray(tokenHashes)) throw new TypeError('Session invalidation publish: expected an array of token hashes.');
    for (const hash of tokenHashes) {
      if (!Buffer.isBuffer(hash) || hash.length !== HASH_BYTES) {
        throw new TypeError(`Session invalidation publish: expected ${HASH_BYTES}-byte Buffers (SHA-256 token hashes).`);
      }
    }
    for (const message of encodeInvalidation(this.instanceId, tokenHashes)) await this.send(message);
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    const pending = this.attempt;
    pending?.abort.abort();
    const current = this.current;
    this.current = undefined;
    await Promise.all([pending?.done.catch(() => undefined), current?.close()]);
  }

  /**
   * One attempt, tracked until it has fully settled (including closing a subscription that
   * turned out to be unwanted), so that `close()` can abort it and wait for its sockets.
   */
  private connect(): Promise<void> {
    const abort = new AbortController();
    const done: Promise<void> = this.open(abort.signal).finally(() => {
      if (this.attempt?.done === done) this.attempt = undefined;
    });
    this.attempt = { done, abort };
    return done;
  }

  /** Subscribes and, unless closed or lost meanwhile, makes the subscription the current one. */
  private async open(signal: AbortSignal): Promise<void> {
    let subscription: InvalidationSubscription | undefined;
    let lostEarly: Error | undefined;
    const events: InvalidationSubscriptionEvents = {
      message: (payload) => this.receive(payload),
      lost: (error) => {
        if (subscription === undefined) lostEarly ??= error;
        else if (subscription === this.current) this.lost(subscription, error);
      },
    };
    const opened = await this.subscribe(events, signal);
    if (this.closing || lostEarly) {
      await opened.close();
      throw lostEarly ?? new Error('closed while subscribing');
    }
    subscription = opened;
    this.current = opened;
  }

  private lost(subscription: InvalidationSubscription, error: Error): void {
    this.current = undefined;
    // Its socket is most likely gone already; closing frees whatever is left of it.
    void subscription.close().catch(() => undefined);
    if (this.closing) return;
    this.logger.warn(`Lost the invalidation subscription to ${this.describeTarget()} (${error.message}); clearing the session cache and reconnecting.`);
    this.tellListener('paused');
    this.resetListener();
    this.failedAttempts = 0;
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.closing) return;
    const delay = backoffDelay(this.failedAttempts++, this.minDelayMs, this.maxDelayMs);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      this.connect().then(
        () => {
          this.logger.log(`Invalidation subscription to ${this.describeTarget()} is back after ${this.failedAttempts} attempt(s); clearing the session cache once more.`);
          this.failedAttempts = 0;
          // Anything revoked between the drop and now was missed; only then may the cache serve again.
          this.resetListener();
          this.tellListener('resumed');
        },
        (error: unknown) => {
          if (this.closing) return;
          this.logger.debug(`Reconnecting to ${this.describeTarget()} failed (${errorMessage(error)}); retrying.`);
          this.scheduleReconnect();
        },
      );
    }, delay);
    // Not unref()'d on purpose: a bus nobody closed should show up as an open handle (Jest
    // says so) rather than stop reconnecting silently once the app's other handles are gone.
  }

  private receive(payload: string): void {
    const message = decodeInvalidation(payload);
    if (!message) {
      this.logger.debug(`Ignoring a malformed message on channel "${this.channel}" (${payload.length} characters).`);
      return;
    }
    if (message.from === this.instanceId || !this.listener) return;
    try {
      this.listener.evict(message.tokenHashes);
    } catch (error) {
      this.logger.error(`The invalidation listener failed to evict: ${errorMessage(error)}`);
    }
  }

  private tellListener(event: 'paused' | 'resumed'): void {
    try {
      this.listener?.[event]?.();
    } catch (error) {
      this.logger.error(`The invalidation listener failed on ${event}: ${errorMessage(error)}`);
    }
  }

  private resetListener(): void {
    try {
      this.listener?.reset();
    } catch (error) {
      this.logger.error(`The invalidation listener failed to reset: ${errorMessage(error)}`);
    }
  }
}
