import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';

/** A throwaway Redis Cluster of masters on loopback, started by a test and stopped by it. */
export interface TestRedisCluster {
  nodes: { host: string; port: number }[];
  stop(): Promise<void>;
}

const HOST = '127.0.0.1';

// A port the OS calls free now; the server binds it a moment later, which is good enough on loopback.
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, HOST, () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

function run(command: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout!.on('data', (chunk) => (output += chunk));
    child.stderr!.on('data', (chunk) => (output += chunk));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(output) : reject(new Error(`${command} ${args.join(' ')} exited with ${code}:\n${output}`))));
  });
}

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`${what} within ${timeoutMs} ms${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function ask<T>(port: number, fn: (redis: Redis) => Promise<T>): Promise<T> {
  const redis = new Redis({ host: HOST, port, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0, enableOfflineQueue: false });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    return await fn(redis);
  } finally {
    redis.disconnect();
  }
}

function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const force = setTimeout(() => child.kill('SIGKILL'), 5_000);
    child.once('exit', () => {
      clearTimeout(force);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/**
 * Starts `size` redis-server processes in cluster mode in a temporary directory, joins them
 * with `redis-cli --cluster create` and waits for cluster_state:ok on every node.
 */
export async function startRedisCluster(size = 3): Promise<TestRedisCluster> {
  const dir = await mkdtemp(join(tmpdir(), 'nss-redis-cluster-'));
  const children: ChildProcess[] = [];
  const stop = async () => {
    await Promise.all(children.map(stopProcess));
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const ports: number[] = [];
    const busPorts: number[] = [];
    while (ports.length < size) {
      const [port, busPort] = [await freePort(), await freePort()];
      if (port === busPort || ports.includes(port) || busPorts.includes(busPort) || ports.includes(busPort) || busPorts.includes(port)) continue;
      ports.push(port);
      busPorts.push(busPort);
    }
    ports.forEach((port, i) => {
      const child = spawn(
        'redis-server',
        [
          '--port', String(port),
          '--cluster-enabled', 'yes',
          '--cluster-port', String(busPorts[i]),
          '--cluster-config-file', join(dir, `nodes-${port}.conf`),
          '--save', '',
          '--appendonly', 'no',
          '--bind', HOST,
          '--dir', dir,
          '--logfile', join(dir, `redis-${port}.log`),
        ],
        { stdio: 'ignore' },
      );
      child.on('error', () => undefined);
      children.push(child);
    });
    for (const port of ports) {
      await until(`redis-server on port ${port} did not answer PING`, 10_000, () => ask(port, (r) => r.ping()));
    }
    await run('redis-cli', ['--cluster', 'create', ...ports.map((p) => `${HOST}:${p}`), '--cluster-replicas', '0', '--cluster-yes']);
    for (const port of ports) {
      await until(`node ${port} did not report cluster_state:ok`, 20_000, () =>
        ask(port, async (r) => ((await r.cluster('INFO')).includes('cluster_state:ok') ? true : undefined)),
      );
    }
    return { nodes: ports.map((port) => ({ host: HOST, port })), stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
