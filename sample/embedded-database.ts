import { access, mkdir } from 'node:fs/promises';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketHandler, type PGLiteSocketHandlerOptions } from '@electric-sql/pglite-socket';
import { Logger } from '@nestjs/common';

const logger = new Logger('EmbeddedDatabase');

/**
 * Connections the server accepts at once unless told otherwise. It matches the default pool
 * size of `pg` and of TypeORM (10), so an unconfigured pool never meets "too many clients";
 * a smaller pool is still the better choice (see {@link startEmbeddedDatabase}).
 */
export const DEFAULT_MAX_CONNECTIONS = 10;

export interface EmbeddedDatabase {
  /** `postgres://postgres@127.0.0.1:<port>/postgres`, for `pg` or TypeORM's postgres driver. */
  url: string;
  /** Stops the server, then closes PGlite so its files are consistent; a second call is harmless. */
  close(): Promise<void>;
}

export interface EmbeddedDatabaseOptions {
  /** Where PGlite keeps its files; created if missing, reused (data kept) if it holds a database. */
  dir: string;
  /** TCP port on 127.0.0.1; 0 or absent lets the OS pick a free one. */
  port?: number;
  /** Client connections accepted at once; one more is refused with SQLSTATE 53300. Default 10. */
  maxConnections?: number;
}

/** Directories open in this process: two PGlite instances on one directory would corrupt it. */
const openDirs = new Set<string>();

/**
 * Starts PGlite with its files in `dir` (created if missing) behind a socket server on
 * 127.0.0.1 (port 0 = a free port picked by the OS, unless `port` given), and returns a
 * postgres:// URL the ordinary `pg` driver connects to.
 *
 * PGlite is one PostgreSQL backend, so every connection shares one session: queries run one at
 * a time, a connection that opens a transaction holds the database until it commits or rolls
 * back (the others wait, they do not fail), session state (`SET`, named prepared statements,
 * temp tables) is shared, and LISTEN/NOTIFY does not cross connections. Do not query through a
 * second connection while holding a transaction on the first: that waits forever.
 *
 * Pool size: `pg` `max: 4`, TypeORM `extra: { max: 4 }` is the recommendation. Any pool up to
 * `maxConnections` (default 10, which is also the `pg`/TypeORM default pool size) works and
 * concurrent queries neither error nor deadlock, but more connections buy no parallelism:
 * they only queue here instead of in the pool. `max: 1` also works.
 *
 * Why not a plain `PGLiteSocketServer`: in pglite-socket 0.2.17 its query queue serializes
 * single protocol messages and keeps one connection's messages together only inside an SQL
 * transaction. A parameterized query (Parse/Bind/Describe/Execute/Sync) that arrives in
 * several TCP reads (anything past ~64 KB, e.g. a large INSERT) can then have another
 * connection's Parse run between its own messages and silently execute that statement instead
 * (lost rows, wrong results; electric-sql/pglite#1046). A failed message also stalls its queue
 * for good. So each connection here gets pglite-socket's `PGLiteSocketHandler` (wire framing,
 * SSL refusal, cancel requests), but with {@link SessionQueue}, which also keeps a connection's
 * extended-protocol batch together up to its Sync.
 *
 * First start in an empty `dir` runs initdb (several seconds); opening an existing one takes
 * well under a second.
 */
export async function startEmbeddedDatabase(options: EmbeddedDatabaseOptions): Promise<EmbeddedDatabase> {
  const dir = resolve(options.dir);
  const maxConnections = options.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
  if (!Number.isInteger(maxConnections) || maxConnections < 1) {
    throw new RangeError(`maxConnections must be a positive integer, got ${maxConnections}`);
  }
  if (openDirs.has(dir)) throw new Error(`An embedded database is already open on ${dir}`);
  openDirs.add(dir);

  let db: PGlite | undefined;
  try {
    await mkdir(dir, { recursive: true });
    const existing = await access(join(dir, 'PG_VERSION')).then(
      () => true,
      () => false,
    );
    logger.log(existing ? `Opening the database in ${dir}` : `Creating a new database in ${dir} (first start takes a few seconds)`);
    const started = performance.now();
    db = await PGlite.create({ dataDir: dir });
    const listening = await serve(db, dir, options.port ?? 0, maxConnections);
    logger.log(`PostgreSQL (PGlite) ready on 127.0.0.1:${listening.port} in ${Math.round(performance.now() - started)} ms`);
    return { url: `postgres://postgres@127.0.0.1:${listening.port}/postgres`, close: listening.close };
  } catch (error) {
    await db?.close().catch((closeError: unknown) => logger.warn(`Closing PGlite after a failed start: ${String(closeError)}`));
    openDirs.delete(dir);
    throw error;
  }
}

async function serve(db: PGlite, dir: string, port: number, maxConnections: number): Promise<{ port: number; close(): Promise<void> }> {
  const queue = new SessionQueue(db);
  const queryQueue = queue as unknown as PGLiteSocketHandlerOptions['queryQueue'];
  const handlers = new Set<PGLiteSocketHandler>();
  const sockets = new Set<Socket>();
  let stopping = false;

  const server = createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    if (stopping) {
      socket.destroy();
      return;
    }
    if (handlers.size >= maxConnections) {
      logger.warn(`Refused a connection: all ${maxConnections} are in use (pool larger than maxConnections?)`);
      socket.on('error', () => undefined);
      socket.end(errorResponse('53300', `sorry, too many clients already (maxConnections ${maxConnections})`));
      return;
    }
    const handler = new PGLiteSocketHandler({ queryQueue, closeOnDetach: true });
    handlers.add(handler);
    handler.addEventListener('close', () => handlers.delete(handler));
    handler.addEventListener('error', () => handlers.delete(handler));
    handler.attach(socket).catch((error: unknown) => {
      logger.warn(`Could not attach a connection: ${String(error)}`);
      handlers.delete(handler);
      socket.destroy();
    });
  });

  await new Promise<void>((resolveListen, rejectListen) => {
    server.once('error', rejectListen);
    server.listen({ port, host: '127.0.0.1' }, () => {
      server.off('error', rejectListen);
      resolveListen();
    });
  });
  server.on('error', (error) => logger.error(`Socket server error: ${error.message}`));

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      stopping = true;
      const closed = closeServer(server);
      try {
        // Detaching rolls back a connection's open transaction and drops its queued messages.
        await Promise.all([...handlers].map((handler) => handler.detach(true)));
        handlers.clear();
        for (const socket of sockets) socket.destroy();
        await closed;
        queue.close();
        await db.close();
        logger.log(`PostgreSQL (PGlite) stopped; files in ${dir}`);
      } finally {
        openDirs.delete(dir);
      }
    })());

  return { port: (server.address() as AddressInfo).port, close };
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolveClose) => server.close(() => resolveClose()));
}

interface MessageJob {
  kind: 'message';
  handlerId: number;
  message: Uint8Array;
  onData: (data: Uint8Array) => void;
  resolve: (bytes: number) => void;
  reject: (error: Error) => void;
}

interface ReleaseJob {
  kind: 'release';
  handlerId: number;
  resolve: () => void;
}

type Job = MessageJob | ReleaseJob;

/** Parse, Bind, Describe, Execute, Close, Flush: the backend keeps state for them until Sync. */
const EXTENDED_PROTOCOL = new Set([...'PBDECH'].map((c) => c.charCodeAt(0)));
const SYNC = protocolMessage('S', Buffer.alloc(0));
const ROLLBACK = protocolMessage('Q', Buffer.from('ROLLBACK\0'));

/**
 * Stands in for pglite-socket's internal QueryQueueManager (the three methods
 * `PGLiteSocketHandler` calls: enqueue, clearQueueForHandler, clearTransactionIfNeeded).
 *
 * Messages run one at a time. After a connection's message the session stays that
 * connection's ("owner") while it is mid extended-protocol batch (until its Sync) or inside a
 * transaction; meanwhile only its messages run and the others wait in order. When a
 * connection goes away its leftovers are undone (Sync, then ROLLBACK if a transaction is open)
 * before anyone else runs.
 */
class SessionQueue {
  readonly #db: PGlite;
  #jobs: Job[] = [];
  #owner: number | undefined;
  #running = false;
  #closed = false;

  constructor(db: PGlite) {
    this.#db = db;
  }

  enqueue(handlerId: number, message: Uint8Array, onData: (data: Uint8Array) => void): Promise<number> {
    if (this.#closed) return Promise.reject(new Error('The embedded database is closed'));
    return new Promise((resolveJob, rejectJob) => {
      this.#jobs.push({ kind: 'message', handlerId, message, onData, resolve: resolveJob, reject: rejectJob });
      this.#pump();
    });
  }

  clearQueueForHandler(handlerId: number): void {
    this.#jobs = this.#jobs.filter((job) => {
      if (job.kind !== 'message' || job.handlerId !== handlerId) return true;
      job.reject(new Error('Handler disconnected'));
      return false;
    });
  }

  clearTransactionIfNeeded(handlerId: number): Promise<void> {
    if (this.#closed) return Promise.resolve();
    return new Promise((resolveJob) => {
      this.#jobs.push({ kind: 'release', handlerId, resolve: resolveJob });
      this.#pump();
    });
  }

  close(): void {
    this.#closed = true;
    for (const job of this.#jobs) {
      if (job.kind === 'message') job.reject(new Error('The embedded database is closed'));
      else job.resolve();
    }
    this.#jobs = [];
  }

  #pump(): void {
    if (this.#running) return;
    this.#running = true;
    void (async () => {
      try {
        for (let job = this.#take(); job; job = this.#take()) await this.#run(job);
      } finally {
        this.#running = false;
      }
    })();
  }

  /** A release first (it never waits: it is a no-op unless its connection owns the session), else the owner's next message, else the oldest. */
  #take(): Job | undefined {
    let index = this.#jobs.findIndex((job) => job.kind === 'release');
    if (index < 0) index = this.#owner === undefined ? 0 : this.#jobs.findIndex((job) => job.handlerId === this.#owner);
    return index < 0 ? undefined : this.#jobs.splice(index, 1)[0];
  }

  async #run(job: Job): Promise<void> {
    if (job.kind === 'release') {
      if (this.#owner === job.handlerId) {
        this.#owner = undefined;
        if (!this.#closed) {
          try {
            await this.#db.runExclusive(async () => {
              await this.#db.execProtocolRaw(SYNC);
              if (this.#db.isInTransaction()) await this.#db.execProtocolRaw(ROLLBACK);
            });
          } catch (error) {
            logger.warn(`Resetting the session after a connection closed: ${String(error)}`);
          }
        }
      }
      job.resolve();
      return;
    }

    let bytes = 0;
    try {
      await this.#db.runExclusive(() =>
        this.#db.execProtocolRawStream(job.message, {
          onRawData: (data) => {
            bytes += data.length;
            job.onData(data);
          },
        }),
      );
    } catch (error) {
      // The connection is dropped for this; keeping it the owner makes its release reset the session.
      this.#owner = job.handlerId;
      job.reject(error instanceof Error ? error : new Error(String(error)));
      return;
    }
    this.#owner = EXTENDED_PROTOCOL.has(job.message[0]) || this.#db.isInTransaction() ? job.handlerId : undefined;
    job.resolve(bytes);
  }
}

function protocolMessage(type: string, body: Buffer): Uint8Array {
  const header = Buffer.alloc(5);
  header.write(type, 0, 'latin1');
  header.writeInt32BE(body.length + 4, 1);
  return new Uint8Array(Buffer.concat([header, body]));
}

/** A FATAL ErrorResponse, as PostgreSQL sends before closing a connection it refuses. */
function errorResponse(code: string, message: string): Buffer {
  const fields = Buffer.from(`SFATAL\0VFATAL\0C${code}\0M${message}\0\0`, 'utf8');
  return Buffer.from(protocolMessage('E', fields));
}
