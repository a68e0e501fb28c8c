import { Logger } from '@nestjs/common';
import type { SessionContext, SessionUser } from './session-types.js';
import type { SessionValidation } from './session.interfaces.js';
import type { AuthenticatingClient } from './session-authenticator.js';
import type { Validation } from './local-sessions.js';
import { errorMessage } from './utils.js';

/** What the module needs of a long-lived connection (a WebSocket) to keep it honest. */
export interface ConnectionHandlers {
  /** Ends the connection: its session was revoked or rotated away, or it expired. */
  close(): void;
  /** Its session was checked again and is still live; permissions or context may have changed. */
  update?(validation: Validation): void;
}

/** A connection the module watches: the session it opened with, and how to stop watching. */
export interface SessionConnection<TUser = SessionUser, TContext = SessionContext> {
  validation: SessionValidation<TUser, TContext>;
  /** Stops watching; call it when the connection closes by itself. Idempotent. */
  release(): void;
}

/** What the registry needs of the core: a store-fresh authentication, a token's cache key, and the bus. */
export interface ConnectionCore {
  authenticateFresh(token: string, client: AuthenticatingClient): Promise<Validation | null>;
  keyOf(token: string, client: AuthenticatingClient): Promise<string | null>;
  listen(): Promise<void>;
  clock(): number;
}

interface Entry {
  token: string;
  client: AuthenticatingClient;
  connections: Set<ConnectionHandlers>;
  timer?: NodeJS.Timeout;
  // Bumped by every eviction: an open that saw it change while it looked the token up checks again.
  evictions: number;
  queue: Promise<void>;
}

// setTimeout's ceiling; a later expiry is checked again then.
const MAX_DELAY = 2 ** 31 - 1;

/**
 * Open connections by the cache key of their token. An eviction of that key (a revocation on any
 * instance, a rotation, a privilege change) or the session's expiry checks the token against the
 * store again: the connections close when it is no longer live, and learn the new session when it is.
 */
export class SessionConnections {
  private readonly logger = new Logger('SessionService');
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly core: ConnectionCore) {}

  /** Authenticates against the store (never a cache), then watches; null when refused. */
  async open(token: string, client: AuthenticatingClient, handlers: ConnectionHandlers): Promise<SessionConnection<unknown, unknown> | null> {
    // Listening first: a revocation committed before the lookup is not found by it, one after is heard.
    await this.core.listen();
    const key = await this.core.keyOf(token, client);
    if (key === null) return null;
    const entry = this.entry(key, token, client);
    const seen = entry.evictions;
    entry.connections.add(handlers);
    let validation: Validation | null;
    try {
      validation = await this.core.authenticateFresh(token, client);
    } catch (error) {
      this.remove(key, entry, handlers);
      throw error;
    }
    if (!validation) {
      this.remove(key, entry, handlers);
      return null;
    }
    if (entry.evictions !== seen) this.check(key, entry);
    else this.schedule(key, entry, validation.session.expires.getTime());
    let released = false;
    return {
      validation,
      release: () => {
        if (released) return;
        released = true;
        this.remove(key, entry, handlers);
      },
    };
  }

  /** A token's cached session went stale somewhere: check its connections again. */
  evicted(key: string): void {
    const entry = this.entries.get(key);
    if (!entry) return;
    entry.evictions++;
    this.check(key, entry);
  }

  /** Evictions may have been missed (the bus was lost): check every connection again. */
  recheckAll(): void {
    for (const [key, entry] of this.entries) this.evicted(key);
  }

  /** At shutdown: no timer keeps the process alive. */
  close(): void {
    for (const entry of this.entries.values()) clearTimeout(entry.timer);
    this.entries.clear();
  }

  private entry(key: string, token: string, client: AuthenticatingClient): Entry {
    let entry = this.entries.get(key);
    if (!entry) this.entries.set(key, (entry = { token, client, connections: new Set(), evictions: 0, queue: Promise.resolve() }));
    return entry;
  }

  private remove(key: string, entry: Entry, handlers: ConnectionHandlers): void {
    entry.connections.delete(handlers);
    if (entry.connections.size > 0 || this.entries.get(key) !== entry) return;
    clearTimeout(entry.timer);
    this.entries.delete(key);
  }

  private schedule(key: string, entry: Entry, expiresAt: number): void {
    clearTimeout(entry.timer);
    const delay = Math.min(Math.max(expiresAt - this.core.clock(), 0) + 5, MAX_DELAY);
    entry.timer = setTimeout(() => this.check(key, entry), delay);
    entry.timer.unref();
  }

  // One check at a time per token; a store that fails closes the connections (their clients
  // reconnect and are checked then), since a revocation must never be undone by an outage.
  private check(key: string, entry: Entry): void {
    entry.queue = entry.queue.then(async () => {
      if (this.entries.get(key) !== entry) return;
      let validation: Validation | null = null;
      try {
        validation = await this.core.authenticateFresh(entry.token, entry.client);
      } catch (error) {
        this.logger.warn(`closing ${entry.connections.size} connection(s): their session could not be checked: ${errorMessage(error)}`);
      }
      if (!validation) return this.closeAll(key, entry);
      if (validation.renewedToken) entry.token = validation.renewedToken;
      for (const connection of entry.connections) connection.update?.(validation);
      this.schedule(key, entry, validation.session.expires.getTime());
    });
  }

  private closeAll(key: string, entry: Entry): void {
    clearTimeout(entry.timer);
    if (this.entries.get(key) === entry) this.entries.delete(key);
    for (const connection of entry.connections) {
      try {
        connection.close();
      } catch (error) {
        this.logger.warn(`a connection failed to close: ${errorMessage(error)}`);
      }
    }
    entry.connections.clear();
  }
}
