import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { ConsoleLogger, Logger, type LoggerService } from '@nestjs/common';
import { Redis } from 'ioredis';
import pg from 'pg';
import { PostgresInvalidationBus } from '../src/invalidation/postgres-invalidation.bus.js';
import { RedisInvalidationBus } from '../src/invalidation/redis-invalidation.bus.js';
import type { InvalidationListener, SessionInvalidationBus } from '../src/invalidation/session-invalidation.interface.js';
import { ADMIN_URL } from './support/database.js';

// Real servers, real connections: buses are killed with pg_terminate_backend / CLIENT KILL.
const PG_URL = ADMIN_URL;
const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
/** Per run, so concurrent runs (and the two transports) never hear each other. */
const RUN = randomBytes(5).toString('hex');
const NOTIFY_LIMIT = 8000;

const hash = (): Buffer => randomBytes(32);

/** What the buses log: captured so the test can check it, and so a passing run prints nothing. */
const logged: { level: string; message: string }[] = [];
const capture = (level: string) => (message: unknown) => void logged.push({ level, message: String(message) });
const captureLogger: LoggerService = {
  log: capture('log'),
  error: capture('error'),
  warn: capture('warn'),
  debug: capture('debug'),
  verbose: capture('verbose'),
  fatal: capture('fatal'),
};
const logs = (level: string, pattern: RegExp) => logged.filter((l) => l.level === level && pattern.test(l.message));

beforeAll(() => Logger.overrideLogger(captureLogger));
afterAll(() => Logger.overrideLogger(new ConsoleLogger()));

/** Records what a bus hands its listener, and lets a test wait for it. */
class Recorder implements InvalidationListener {
  evicted: Buffer[] = [];
  messages = 0;
  resets = 0;
  private readonly waiters = new Set<() => void>();

  evict(tokenHashes: Buffer[]): void {
    this.evicted.push(...tokenHashes);
    this.messages++;
    this.wake();
  }

  reset(): void {
    this.resets++;
    this.wake();
  }

  has(h: Buffer): boolean {
    return this.evicted.some((e) => e.equals(h));
  }

  until(condition: () => boolean, what: string, ms = 5000): Promise<void> {
    if (condition()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!condition()) return;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve();
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`timed out after ${ms} ms waiting for ${what} (evicted ${this.evicted.length}, resets ${this.resets})`));
      }, ms);
      this.waiters.add(check);
    });
  }

  private wake(): void {
    for (const check of [...this.waiters]) check();
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function eventually(check: () => Promise<boolean>, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(25);
  }
}

/** Sockets and timers this process holds, to prove a bus leaves none behind. */
function handles(): { sockets: number; timers: number } {
  const info = process.getActiveResourcesInfo();
  return {
    sockets: info.filter((r) => r === 'TCPSocketWrap' || r === 'TCPWRAP' || r === 'PipeWrap').length,
    timers: info.filter((r) => r === 'Timeout').length,
  };
}

/** What the tests need from a transport besides the bus itself. */
interface Transport {
  setup(): Promise<void>;
  teardown(): Promise<void>;
  /** A bus whose listening connection is named `name` (application_name / CLIENT SETNAME). */
  bus(name: string): SessionInvalidationBus;
  /** A bus pointed at a port where nothing listens. */
  unreachableBus(): { bus: SessionInvalidationBus; dispose(): Promise<void> };
  unreachableMessage: RegExp;
  /** Terminates the listening connection(s) named `name` server-side; how many there were. */
  kill(name: string): Promise<number>;
  /** Connections named `name` the server currently has. */
  connections(name: string): Promise<number>;
  /** Server-side id of the connection named `name`, to tell a reconnection from the original. */
  connectionId(name: string): Promise<string | undefined>;
  /** Sends a raw payload on the channel, as something other than a bus would. */
  sendRaw(payload: string): Promise<void>;
  /** Subscribes a plain connection to the channel; returns its unsubscribe. */
  rawListen(onPayload: (payload: string) => void): Promise<() => Promise<void>>;
}

function postgres(): Transport {
  const channel = `nss_inv_${RUN}`;
  const prefix = `nss_inv_${RUN}`;
  let pool: pg.Pool;
  return {
    async setup() {
      pool = new pg.Pool({ connectionString: PG_URL, max: 4 });
    },
    async teardown() {
      await pool.end();
    },
    bus(name) {
      return new PostgresInvalidationBus({
        connection: { connectionString: PG_URL, application_name: `${prefix}_${name}` },
        query: (sql, params) => pool.query(sql, params),
        channel,
      });
    },
    unreachableBus() {
      const bus = new PostgresInvalidationBus({
        connection: { host: '127.0.0.1', port: 1, user: 'postgres', database: 'postgres' },
        query: (sql, params) => pool.query(sql, params),
        channel,
      });
      return { bus, dispose: async () => undefined };
    },
    unreachableMessage: /channel "nss_inv_\w+" on PostgreSQL 127\.0\.0\.1:1\/postgres: .*ECONNREFUSED/,
    async kill(name) {
      const { rows } = await pool.query<{ killed: boolean }>(
        `SELECT pg_terminate_backend(pid) AS killed FROM pg_stat_activity WHERE application_name = $1 AND query ILIKE 'LISTEN%'`,
        [`${prefix}_${name}`],
      );
      return rows.filter((r) => r.killed).length;
    },
    async connections(name) {
      const { rows } = await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1', [`${prefix}_${name}`]);
      return rows[0]!.n;
    },
    async connectionId(name) {
      const { rows } = await pool.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE application_name = $1', [`${prefix}_${name}`]);
      return rows.length === 1 ? String(rows[0]!.pid) : undefined;
    },
    async sendRaw(payload) {
      await pool.query('SELECT pg_notify($1, $2)', [channel, payload]);
    },
    async rawListen(onPayload) {
      const client = new pg.Client({ connectionString: PG_URL });
      client.on('error', () => undefined);
      client.on('notification', (m) => onPayload(m.payload ?? ''));
      await client.connect();
      await client.query(`LISTEN ${client.escapeIdentifier(channel)}`);
      return () => client.end();
    },
  };
}

function redis(): Transport {
  const channel = `nss_inv_${RUN}`;
  const prefix = `nss-inv-${RUN}`;
  let admin: Redis;
  let publisher: Redis;

  async function clients(name: string): Promise<string[]> {
    const list = (await admin.client('LIST')) as string;
    return list
      .split('\n')
      .filter((line) => line.includes(` name=${prefix}-${name} `))
      .map((line) => /(?:^|\s)id=(\d+)/.exec(line)![1]!);
  }

  return {
    async setup() {
      admin = new Redis(REDIS_URL);
      publisher = new Redis(REDIS_URL);
    },
    async teardown() {
      await Promise.all([admin.quit(), publisher.quit()]);
    },
    bus(name) {
      return new RedisInvalidationBus({ client: publisher, channel, connectionName: `${prefix}-${name}` });
    },
    unreachableBus() {
      const client = new Redis({ host: '127.0.0.1', port: 1, lazyConnect: true });
      client.on('error', () => undefined);
      const bus = new RedisInvalidationBus({ client, channel, connectionName: `${prefix}-unreachable` });
      return { bus, dispose: async () => client.disconnect() };
    },
    unreachableMessage: /channel "nss_inv_\w+" on Redis 127\.0\.0\.1:1: .*ECONNREFUSED/,
    async kill(name) {
      let killed = 0;
      for (const id of await clients(name)) killed += Number(await admin.client('KILL', 'ID', id));
      return killed;
    },
    async connections(name) {
      return (await clients(name)).length;
    },
    async connectionId(name) {
      const ids = await clients(name);
      return ids.length === 1 ? ids[0] : undefined;
    },
    async sendRaw(payload) {
      await admin.publish(channel, payload);
    },
    async rawListen(onPayload) {
      const sub = admin.duplicate();
      sub.on('error', () => undefined);
      sub.on('message', (_c: string, m: string) => onPayload(m));
      await sub.subscribe(channel);
      return async () => {
        await sub.quit();
      };
    },
  };
}

describe.each([
  ['PostgresInvalidationBus', postgres()],
  ['RedisInvalidationBus', redis()],
])('%s', (_name, transport) => {
  const open = new Set<SessionInvalidationBus>();

  /** A started bus with its recorder; closed after the test. */
  async function started(name: string): Promise<{ bus: SessionInvalidationBus; heard: Recorder }> {
    const bus = transport.bus(name);
    open.add(bus);
    const heard = new Recorder();
    await bus.start(heard);
    return { bus, heard };
  }

  beforeAll(() => transport.setup());
  beforeEach(() => {
    logged.length = 0;
  });
  afterAll(() => transport.teardown());
  afterEach(async () => {
    await Promise.all([...open].map((bus) => bus.close()));
    open.clear();
  });

  it('delivers a publication to the other bus, not back to the publisher, in well under 100 ms', async () => {
    const a = await started('a');
    const b = await started('b');

    const sent = [hash(), hash(), hash()];
    await a.bus.publish(sent);
    await b.heard.until(() => b.heard.evicted.length >= 3, "A's three hashes on B");
    expect(b.heard.evicted).toEqual(sent);
    expect(b.heard.evicted.every((h) => Buffer.isBuffer(h))).toBe(true);

    // B's reply reaches A after A's own message would have (one connection, in order):
    // once A has it, A has provably skipped its own.
    const reply = hash();
    await b.bus.publish([reply]);
    await a.heard.until(() => a.heard.has(reply), "B's reply on A");
    expect(a.heard.evicted).toEqual([reply]);
    expect(b.heard.evicted).toEqual(sent);

    const latencies: number[] = [];
    for (let i = 0; i < 20; i++) {
      const h = hash();
      const t0 = performance.now();
      await a.bus.publish([h]);
      await b.heard.until(() => b.heard.has(h), `trial ${i} on B`);
      latencies.push(performance.now() - t0);
    }
    latencies.sort((x, y) => x - y);
    const median = (latencies[9]! + latencies[10]!) / 2;
    expect(median).toBeLessThan(100);
    expect(a.heard.evicted).toEqual([reply]);
    expect(a.heard.resets + b.heard.resets).toBe(0);
  });

  it('splits 1,000 hashes into messages under the NOTIFY limit and delivers them all', async () => {
    const a = await started('a');
    const b = await started('b');
    const raw: string[] = [];
    const stop = await transport.rawListen((p) => raw.push(p));
    try {
      const sent = Array.from({ length: 1000 }, hash);
      await a.bus.publish(sent);
      await b.heard.until(() => b.heard.evicted.length >= 1000, '1,000 hashes on B');
      expect(b.heard.evicted).toEqual(sent);
      expect(b.heard.messages).toBeGreaterThan(1);
      // The plain subscriber is a connection of its own and may be a message behind B.
      await eventually(async () => raw.length >= b.heard.messages, 'every message on the plain subscriber');
      expect(raw.length).toBe(b.heard.messages);
      for (const payload of raw) expect(Buffer.byteLength(payload)).toBeLessThan(NOTIFY_LIMIT / 2);
    } finally {
      await stop();
    }
  });

  it('publishes nothing for an empty list', async () => {
    const a = await started('a');
    const raw: string[] = [];
    const stop = await transport.rawListen((p) => raw.push(p));
    try {
      await a.bus.publish([]);
      const marker = hash();
      await a.bus.publish([marker]);
      await eventually(async () => raw.length > 0, 'the marker');
      expect(raw).toHaveLength(1);
      expect(raw[0]).toContain(marker.toString('base64url'));
    } finally {
      await stop();
    }
  });

  it('ignores malformed payloads and keeps listening', async () => {
    const a = await started('a');
    const b = await started('b');
    for (const junk of [
      'not json',
      'null',
      '[]',
      '{"v":2,"from":"x","evict":[]}',
      `{"v":1,"from":"x","evict":["${'A'.repeat(42)}"]}`,
      `{"v":1,"evict":["${hash().toString('base64url')}"]}`,
      `{"v":1,"from":"x","evict":"${hash().toString('base64url')}"}`,
    ]) {
      await transport.sendRaw(junk);
    }
    const good = hash();
    await a.bus.publish([good]);
    await b.heard.until(() => b.heard.has(good), 'the good message on B');
    expect(b.heard.evicted).toEqual([good]);
    expect(b.heard.messages).toBe(1);
    expect(b.heard.resets).toBe(0);
    // Both buses saw and skipped each of the seven; A's own listener may still be on its way
    // through them when B has the good message, so wait for it rather than race it.
    await eventually(async () => logs('debug', /malformed message/).length >= 14, 'both buses skipping the seven');
    expect(logs('debug', /malformed message/)).toHaveLength(14);
  });

  it('survives a listener that throws', async () => {
    const a = await started('a');
    const b = transport.bus('b');
    open.add(b);
    const heard = new Recorder();
    let calls = 0;
    await b.start({
      evict: (hashes) => {
        if (++calls === 1) throw new Error('listener bug');
        heard.evict(hashes);
      },
      reset: () => heard.reset(),
    });
    await a.bus.publish([hash()]);
    const second = hash();
    await a.bus.publish([second]);
    await heard.until(() => heard.has(second), 'the second publication on B');
    expect(calls).toBe(2);
    expect(logs('error', /listener failed to evict: listener bug/)).toHaveLength(1);
  });

  it('resets the listener when its connection is killed, reconnects alone, resets again and hears publications again', async () => {
    const a = await started('a');
    const b = await started('b');
    const before = await transport.connectionId('b');
    expect(before).toBeDefined();

    expect(await transport.kill('b')).toBe(1);
    await b.heard.until(() => b.heard.resets >= 1, 'the reset on the drop');
    await b.heard.until(() => b.heard.resets >= 2, 'the reset on the recovery');
    expect(b.heard.resets).toBe(2);

    const after = await transport.connectionId('b');
    expect(after).toBeDefined();
    expect(after).not.toBe(before);

    const h = hash();
    await a.bus.publish([h]);
    await b.heard.until(() => b.heard.has(h), 'a publication after the reconnection');
    expect(b.heard.evicted).toEqual([h]);
    expect(a.heard.resets).toBe(0);

    // And a second drop is survived the same way.
    expect(await transport.kill('b')).toBe(1);
    await b.heard.until(() => b.heard.resets >= 4, 'drop and recovery resets, second time');
    const h2 = hash();
    await a.bus.publish([h2]);
    await b.heard.until(() => b.heard.has(h2), 'a publication after the second reconnection');
    expect(b.heard.resets).toBe(4);
    expect(logs('warn', /^Lost the invalidation subscription .*reconnecting/)).toHaveLength(2);
    expect(logs('log', /^Invalidation subscription to .* is back/)).toHaveLength(2);
  });

  it('rejects start() when the server is unreachable, naming it, and leaves nothing open', async () => {
    const baseline = handles();
    const { bus, dispose } = transport.unreachableBus();
    try {
      await expect(bus.start(new Recorder())).rejects.toThrow(transport.unreachableMessage);
      await bus.close();
    } finally {
      await dispose();
    }
    await eventually(async () => {
      const now = handles();
      return now.sockets <= baseline.sockets && now.timers <= baseline.timers;
    }, 'sockets and timers back to where they were');
  });

  it('close() is idempotent, ends the listening connection and leaves no handles', async () => {
    const baseline = handles();
    const c = transport.bus('c');
    const heard = new Recorder();
    await c.start(heard);
    expect(await transport.connections('c')).toBe(1);
    expect(handles().sockets).toBeGreaterThan(baseline.sockets);

    await Promise.all([c.close(), c.close()]);
    await c.close();
    await eventually(async () => (await transport.connections('c')) === 0, "the server to forget C's connection");
    await eventually(async () => {
      const now = handles();
      return now.sockets <= baseline.sockets && now.timers <= baseline.timers;
    }, 'sockets and timers back to where they were');
    expect(heard.resets).toBe(0);
    await expect(c.start(new Recorder())).rejects.toThrow(/after close/);
  });

  it('close() while start() is still connecting makes start() reject and leaves nothing open', async () => {
    const baseline = handles();
    const d = transport.bus('d');
    const starting = d.start(new Recorder());
    await d.close();
    await expect(starting).rejects.toThrow(/closed while subscribing/);
    await eventually(async () => {
      const now = handles();
      return now.sockets <= baseline.sockets && now.timers <= baseline.timers;
    }, 'sockets and timers back to where they were');
    await eventually(async () => (await transport.connections('d')) === 0, "the server to forget D's connection");
  });

  it('close() during a reconnection stops it for good', async () => {
    const b = await started('b');
    expect(await transport.kill('b')).toBe(1);
    await b.heard.until(() => b.heard.resets >= 1, 'the reset on the drop');
    // The first retry waits 50-100 ms, so its timer is pending now; close() must clear it.
    const beforeClose = handles();
    await b.bus.close();
    expect(handles().timers).toBeLessThan(beforeClose.timers);
    // Longer than several backoff steps (100 ms, 200 ms, …): nothing may come back.
    await sleep(800);
    expect(await transport.connections('b')).toBe(0);
    expect(b.heard.resets).toBe(1);
  });
});
