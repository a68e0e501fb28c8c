import type { ClientConfig } from 'pg';
import { ReconnectingInvalidationBus, abortable } from './invalidation-bus.base.js';
import type { InvalidationReconnectOptions, InvalidationSubscription, InvalidationSubscriptionEvents } from './invalidation-bus.base.js';

/** Options of `PostgresInvalidationBus`. */
export interface PostgresInvalidationBusOptions {
  /**
   * Where to open the dedicated LISTEN connection, typically TypeORM's own connection options.
   * A LISTEN needs a session of its own: a pooled connection would hand the subscription to
   * whichever query borrows it next.
   */
  connection: ClientConfig;
  /**
   * Runs a query on the app's ordinary pool; NOTIFY needs no dedicated connection. Called
   * outside any transaction, so the notification goes out at once.
   */
  query: (sql: string, params: unknown[]) => Promise<unknown>;
  /** Channel name (case-sensitive). Default `'nestjs_sessions'`. */
  channel?: string;
  reconnect?: InvalidationReconnectOptions;
}

/** PostgreSQL limits identifiers, including LISTEN channels, to 63 bytes (NAMEDATALEN - 1). */
const MAX_CHANNEL_BYTES = 63;

/** How long `close()` lets a connection say goodbye before cutting its socket. */
const END_TIMEOUT_MS = 2000;

/**
 * Broadcasts revocations with PostgreSQL LISTEN/NOTIFY: the default, because the sessions
 * already live in PostgreSQL and it needs nothing more to run.
 */
export class PostgresInvalidationBus extends ReconnectingInvalidationBus {
  private readonly connection: ClientConfig;
  private readonly query: (sql: string, params: unknown[]) => Promise<unknown>;
  private target?: string;

  constructor(options: PostgresInvalidationBusOptions) {
    super(options.channel, options.reconnect);
    if (Buffer.byteLength(this.channel) > MAX_CHANNEL_BYTES) {
      throw new TypeError(`Session invalidation channel: "${this.channel}" is longer than PostgreSQL's ${MAX_CHANNEL_BYTES} bytes.`);
    }
    if (typeof options.query !== 'function') throw new TypeError('PostgresInvalidationBus: expected a query function.');
    this.query = options.query;
    this.connection = {
      ...options.connection,
      // Named so it stands out in pg_stat_activity next to the pool's connections.
      application_name: options.connection.application_name ?? 'nestjs-sessions-invalidation',
      // Without a timeout an unreachable host that drops packets would hang start() for minutes.
      connectionTimeoutMillis: options.connection.connectionTimeoutMillis ?? 10_000,
      // A LISTEN connection only ever reads; keepalives are what notice a peer that vanished.
      keepAlive: options.connection.keepAlive ?? true,
      keepAliveInitialDelayMillis: options.connection.keepAliveInitialDelayMillis ?? 10_000,
    };
  }

  protected describeTarget(): string {
    return this.target ?? 'PostgreSQL';
  }

  protected async send(payload: string): Promise<void> {
    await this.query('SELECT pg_notify($1, $2)', [this.channel, payload]);
  }

  protected async subscribe(events: InvalidationSubscriptionEvents, signal: AbortSignal): Promise<InvalidationSubscription> {
    // pg is loaded here, not when this file is imported, so the package index (which exports
    // this class) loads in an app that has no PostgreSQL at all.
    const { default: pg } = await import('pg');
    const client = new pg.Client(this.connection);
    this.target = `PostgreSQL ${client.host}:${client.port}/${client.database ?? ''}`;
    // Always listened to: a pg Client emitting 'error' with no listener kills the process.
    client.on('error', (error) => events.lost(error));
    client.on('end', () => events.lost(new Error('connection ended')));
    client.on('notification', (message) => {
      if (message.channel === this.channel && message.payload !== undefined) events.message(message.payload);
    });

    let ending: Promise<void> | undefined;
    const end = (): Promise<void> => {
      ending ??= new Promise<void>((resolve) => {
        const cut = setTimeout(() => {
          client.connection.stream.destroy();
          resolve();
        }, END_TIMEOUT_MS);
        client.end().then(
          () => {
            clearTimeout(cut);
            resolve();
          },
          () => {
            clearTimeout(cut);
            resolve();
          },
        );
      });
      return ending;
    };

    const listen = async () => {
      await client.connect();
      await client.query(`LISTEN ${client.escapeIdentifier(this.channel)}`);
    };
    try {
      await abortable(signal.aborted ? Promise.reject(new Error('closed while subscribing')) : listen(), signal, () => void end());
    } catch (error) {
      await end();
      throw error;
    }
    // Ending the session is what releases its LISTEN; no UNLISTEN round trip needed.
    return { close: end };
  }
}
