/**
 * The soak's own PostgreSQL and Redis: a cluster initdb'd into a temp dir and a redis-server
 * with its files in another, each on a free port, so stopping and starting them touches no
 * other database on the machine (CI's own PostgreSQL on 5432 and Redis on 6379 keep running).
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { freePort, type Logged, now, onCleanup, run, runSync, sleep, spawnLogged } from './procs.js';

/** The folder of initdb and pg_ctl: PG_BIN, else the newest /usr/lib/postgresql/<v>/bin, else PATH. */
function postgresBin(): string {
  if (process.env.PG_BIN) return process.env.PG_BIN;
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).filter((v) => existsSync(path.join(root, v, 'bin', 'initdb'))) : [];
  versions.sort((a, b) => Number(b) - Number(a));
  return versions.length > 0 ? path.join(root, versions[0]!, 'bin') : '';
}

/** initdb refuses to run as root: as root, the server runs as the postgres user. */
function postgresUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
  return { uid, gid };
}

export class OwnPostgres {
  /** False from the moment a stop begins until the server accepts connections again. */
  up = false;
  private readonly bin = postgresBin();
  private readonly user = postgresUser();

  private constructor(
    readonly port: number,
    private readonly dataDir: string,
    private readonly logDir: string,
  ) {}

  /** initdb into a temp dir, then start; removed (after an immediate stop) by cleanup. */
  static async create(logDir: string): Promise<OwnPostgres> {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'soak-pg-'));
    const server = new OwnPostgres(await freePort(), dataDir, logDir);
    onCleanup(() => {
      server.asPostgresSync(['pg_ctl', '-D', dataDir, '-m', 'immediate', '-w', '-t', '20', 'stop']);
      // pg_ctl could not stop it (or hung): the postmaster's pid is the first line of its pid file.
      const pidFile = path.join(dataDir, 'postmaster.pid');
      if (existsSync(pidFile)) {
        const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
        if (pid > 0) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // gone meanwhile
          }
        }
      }
      rmSync(dataDir, { recursive: true, force: true });
    });
    if (server.user) {
      chownSync(dataDir, server.user.uid, server.user.gid);
      // The server writes its own log; the postgres user must reach the log folder.
      chmodSync(logDir, 0o755);
      writeFileSync(server.serverLog, '');
      chownSync(server.serverLog, server.user.uid, server.user.gid);
    }
    // --no-sync and fsync=off: nothing here must survive the machine crashing, only the server.
    const code = await server.asPostgres(['initdb', '-D', dataDir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync'], 120_000);
    if (code !== 0) throw new Error(`initdb failed (exit ${code}); see ${path.join(logDir, 'postgres-ctl.log')}`);
    await server.start();
    return server;
  }

  url(database: string): string {
    return `postgres://postgres@127.0.0.1:${this.port}/${database}`;
  }

  async createDatabase(name: string): Promise<void> {
    const client = new pg.Client({ connectionString: this.url('postgres'), connectionTimeoutMillis: 10_000 });
    await client.connect();
    try {
      await client.query(`CREATE DATABASE ${name}`);
    } finally {
      await client.end();
    }
  }

  async start(): Promise<void> {
    const options = [
      `-p ${this.port}`,
      '-c listen_addresses=127.0.0.1',
      `-c unix_socket_directories=${this.dataDir}`,
      // A restart must lose nothing committed; fsync only matters if the machine itself crashes.
      '-c fsync=off',
      '-c full_page_writes=off',
      '-c max_connections=200',
    ].join(' ');
    const code = await this.asPostgres(['pg_ctl', '-D', this.dataDir, '-l', this.serverLog, '-o', options, '-w', '-t', '60', 'start'], 90_000);
    if (code !== 0) throw new Error(`PostgreSQL did not start (exit ${code}); see ${this.serverLog}`);
    this.up = true;
  }

  /** fast: clients are told and disconnected; immediate: the server dies as in a crash (recovery at the next start). */
  async stop(mode: 'fast' | 'immediate'): Promise<void> {
    this.up = false;
    const code = await this.asPostgres(['pg_ctl', '-D', this.dataDir, '-m', mode, '-w', '-t', '60', 'stop'], 90_000);
    if (code !== 0) throw new Error(`PostgreSQL did not stop (exit ${code}); see ${this.serverLog}`);
  }

  private get serverLog(): string {
    return path.join(this.logDir, 'postgres.log');
  }

  private command(args: string[]): [string, string[]] {
    const [tool, ...rest] = args;
    const binary = this.bin ? path.join(this.bin, tool!) : tool!;
    return this.user ? ['runuser', ['-u', 'postgres', '--', binary, ...rest]] : [binary, rest];
  }

  private asPostgres(args: string[], timeoutMs: number): Promise<number | null> {
    const [command, rest] = this.command(args);
    return run(command, rest, { logFile: path.join(this.logDir, 'postgres-ctl.log'), timeoutMs });
  }

  private asPostgresSync(args: string[]): void {
    const [command, rest] = this.command(args);
    runSync(command, rest, 30_000);
  }
}

/** Whether a Redis answers PING with PONG (not LOADING, not an error) within `timeoutMs`. */
function redisPing(port: number, timeoutMs = 1_000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let answer = '';
    const done = (ok: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      answer += chunk.toString('latin1');
      if (answer.includes('\r\n')) done(answer.startsWith('+PONG'));
    });
    socket.on('error', () => done(false));
  });
}

export class OwnRedis {
  up = false;
  private process: Logged | undefined;

  private constructor(
    readonly port: number,
    private readonly dir: string,
    private readonly logFile: string,
  ) {}

  static async create(logDir: string): Promise<OwnRedis> {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'soak-redis-'));
    onCleanup(() => rmSync(dir, { recursive: true, force: true }));
    const redis = new OwnRedis(await freePort(), dir, path.join(logDir, 'redis.log'));
    await redis.start();
    return redis;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /**
   * The append-only file, fsynced on every write: a restart must keep every session, as a
   * production Redis holding sessions would (the default `save` points could lose the last
   * minute, and the soak would count those sessions as lost).
   */
  async start(): Promise<void> {
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, '--save', '', '--appendonly', 'yes', '--appendfsync', 'always', '--daemonize', 'no'];
    this.process = spawnLogged('redis-server', args, { logFile: this.logFile });
    const deadline = now() + 30_000;
    while (!(await redisPing(this.port))) {
      if (now() > deadline || this.process.child.exitCode !== null) throw new Error(`Redis did not start; see ${this.logFile}`);
      await sleep(100);
    }
    this.up = true;
  }

  /** SIGTERM, as a service manager stops it: Redis flushes the append-only file and exits. */
  async stop(): Promise<void> {
    this.up = false;
    const current = this.process;
    if (!current) return;
    current.child.kill('SIGTERM');
    const killer = setTimeout(() => current.child.kill('SIGKILL'), 15_000);
    await current.exited;
    clearTimeout(killer);
    this.process = undefined;
  }
}
