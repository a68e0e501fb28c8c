import type { Cluster, Redis, RedisOptions } from 'ioredis';
import { abortable, ReconnectingInvalidationBus } from './invalidation-bus.base.js';
import type { InvalidationReconnectOptions, InvalidationSubscription, InvalidationSubscriptionEvents } from './invalidation-bus.base.js';

/** Options of `RedisInvalidationBus`. */
export interface RedisInvalidationBusOptions {
  /**
   * Publishes, and is the template of the subscriber connection (`duplicate()`), so the bus
   * needs no connection settings of its own. The caller owns it; the bus never closes it.
   */
  client: Redis | Cluster;
  /** Channel name. Default `'nestjs_sessions'`. */
  channel?: string;
  /** CLIENT SETNAME of the subscriber connection, to spot it in CLIENT LIST. Default `'nestjs-sessions-invalidation'`. */
  connectionName?: string;
  reconnect?: InvalidationReconnectOptions;
}

function isCluster(client: Redis | Cluster): client is Cluster {
  return client.isCluster === true;
}

/**
 * Broadcasts revocations over Redis pub/sub, used when Redis is configured: it spares
 * PostgreSQL a connection per instance held open for LISTEN.
 *
 * ioredis is only imported for its types, so this file loads without it installed; the
 * caller's client provides the implementation.
 */
export class RedisInvalidationBus extends ReconnectingInvalidationBus {
  private readonly client: Redis | Cluster;
  private readonly connectionName: string;
  private target?: string;

  constructor(options: RedisInvalidationBusOptions) {
    super(options.channel, options.reconnect);
    if (options.client === null || typeof options.client !== 'object' || typeof options.client.duplicate !== 'function') {
      throw new TypeError('RedisInvalidationBus: expected an ioredis Redis or Cluster client.');
    }
    this.client = options.client;
    this.connectionName = options.connectionName ?? 'nestjs-sessions-invalidation';
  }

  protected describeTarget(): string {
    return this.target ?? (isCluster(this.client) ? 'Redis Cluster' : 'Redis');
  }

  protected async send(payload: string): Promise<void> {
    await this.client.publish(this.channel, payload);
  }

  /**
   * A Redis in subscriber mode can run nothing else, hence a connection of its own. On a
   * Cluster it is a plain connection to one node picked at random: a PUBLISH reaches every
   * node, and unlike the Cluster's built-in subscriber, which fails over to another node
   * silently, a connection of our own reports its loss so the listener can be reset.
   */
  private createSubscriber(): Redis {
    // himportFieldsets is ioredis 6's (5, also supported, has no such option): typed here so
    // this compiles against either.
    const overrides: Partial<RedisOptions> & { himportFieldsets?: undefined } = {
      connectionName: this.connectionName,
      // Connect only when asked, so a failure is a rejected promise rather than a retry loop.
      lazyConnect: true,
      // The bus reconnects itself: ioredis would resubscribe without telling anyone.
      retryStrategy: () => null,
      autoResubscribe: false,
      reconnectOnError: null,
      enableOfflineQueue: false,
      readOnly: false,
      monitor: false,
      himportFieldsets: undefined,
    };
    if (!isCluster(this.client)) {
      const { path, host, port, sentinels, name } = this.client.options;
      this.target = sentinels?.length ? `Redis (Sentinel master "${name ?? ''}")` : `Redis ${path ?? `${host ?? 'localhost'}:${port ?? 6379}`}`;
      return this.client.duplicate(overrides);
    }
    const nodes = this.client.nodes('all');
    if (nodes.length === 0) {
      this.target = 'Redis Cluster';
      throw new Error('the Cluster client knows no nodes yet (is it connected?)');
    }
    const node = nodes[Math.floor(Math.random() * nodes.length)]!;
    this.target = `Redis Cluster node ${node.options.host ?? 'localhost'}:${node.options.port ?? 6379}`;
    return node.duplicate(overrides);
  }

  protected async subscribe(events: InvalidationSubscriptionEvents, signal: AbortSignal): Promise<InvalidationSubscription> {
    const subscriber = this.createSubscriber();
    let lastError: Error | undefined;
    // Always listened to: errors are followed by 'end', which is what reports the loss.
    subscriber.on('error', (error: Error) => {
      lastError = error;
      this.logger.debug(`Invalidation subscriber error: ${error.message}`);
    });
    subscriber.on('message', (channel: string, message: string) => {
      if (channel === this.channel) events.message(message);
    });
    const ended = new Promise<void>((resolve) => subscriber.once('end', resolve));
    void ended.then(() => events.lost(lastError ?? new Error('connection closed')));

    let closing: Promise<void> | undefined;
    const close = (): Promise<void> => {
      // disconnect() rather than quit(): a dead peer would never answer QUIT.
      closing ??= subscriber.status === 'end' ? Promise.resolve() : (subscriber.disconnect(), ended);
      return closing;
    };

    const listen = async () => {
      await subscriber.connect();
      await subscriber.subscribe(this.channel);
    };
    try {
      await abortable(signal.aborted ? Promise.reject(new Error('closed while subscribing')) : listen(), signal, () => void close());
    } catch (error) {
      await close();
      // connect() itself only says "Connection is closed."; the 'error' event said why.
      throw signal.aborted ? error : (lastError ?? error);
    }
    return { close };
  }
}
