/**
 * The parent's side of the demo benchmark's children (bench/run.ts's patterns; bench/support.ts
 * holds what the two share): forking a server under tsx, waiting for its `ready`, asking its CPU
 * time and its statement count over IPC, and driving one of its routes with autocannon.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { answer, type Sample as BaseSample, sampleOf } from '../../bench/support.js';
import type { CountedMessage, ServerName } from './protocol.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const FILES: Record<ServerName, string> = { 'demo-hit': 'server-demo.ts', 'demo-miss': 'server-demo.ts', floor: 'server-floor.ts' };

export const log = (message: string) => process.stderr.write(`[demo-bench] ${message}\n`);

export interface Child {
  name: ServerName;
  port: number;
  process: ChildProcess;
  /** The end of what it wrote, for an error message. */
  output(): string;
}

export const children = new Set<ChildProcess>();

/** Forks a server child and resolves once it listens; with `profileDir`, under --cpu-prof (written when it stops). */
export async function startServer(name: ServerName, env: Record<string, string>, profileDir?: string): Promise<Child> {
  const child = fork(join(HERE, FILES[name]), [], {
    // tsx's ESM hooks only: its CommonJS hook would give @nestjs/throttler (CommonJS, in the demo)
    // a second @nestjs/core on require(), and Nest could not inject the throttler's Reflector.
    execArgv: [...(profileDir ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : []), '--import', 'tsx/esm'],
    // Ours, not bench/'s (which does not include scripts/): decorators, and no `paths` sending
    // 'nestjs-sessions' to src/ (see tsconfig.json here).
    env: { ...process.env, TSX_TSCONFIG_PATH: join(HERE, 'tsconfig.json'), NO_COLOR: '1', ...env, DEMO_BENCH_SERVER: name },
    // The demo logs at 'log' level (its route map at start): kept, not shown, unless it fails.
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  child.on('error', (error) => log(`${name}: ${error.message}`));
  let tail = '';
  const keep = (chunk: Buffer) => (tail = (tail + chunk.toString()).slice(-4_000));
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const output = () => tail;
  try {
    const { port } = await answer<{ port: number }>(child, 'ready', name, 120_000);
    return { name, port, process: child, output };
  } catch (error) {
    throw new Error(`${(error as Error).message}\n--- ${name}'s output ---\n${tail}`);
  }
}

/** The CPU time (user + system, µs) the child has used so far. */
export async function cpuOf(child: Child): Promise<number> {
  if (!child.process.connected) throw new Error(`${child.name} is gone`);
  const reply = answer<{ micros: number }>(child.process, 'cpu', `${child.name} CPU`, 5_000);
  child.process.send({ type: 'cpu' });
  return (await reply).micros;
}

/** The SQL statements the child sends while `work` runs. */
export async function statementsDuring(child: Child, work: () => Promise<unknown>): Promise<number> {
  child.process.send({ type: 'count-start' });
  await work();
  const reply = answer<CountedMessage>(child.process, 'counted', `${child.name} statements`, 5_000);
  child.process.send({ type: 'count-stop' });
  return (await reply).statements;
}

/** bench/run.ts's sample, and what the demo bench adds to it. */
export interface Sample extends BaseSample {
  /** For the cache-hit measurement: the cache's own hits and misses meanwhile (sessions_cache_total). */
  cache?: { hit: number; miss: number };
  loadAverage: number;
}

/** Drives `path` on the child for `durationMs`, each connection with its own headers (its user's session). */
export async function load(child: Child, path: string, headers: Record<string, string>[], connections: number, durationMs: number): Promise<Sample> {
  let next = 0;
  const cpuBefore = await cpuOf(child);
  const result = await autocannon({
    url: `http://127.0.0.1:${child.port}${path}`,
    connections,
    duration: durationMs / 1000,
    setupClient: (client) => client.setHeaders(headers[next++ % headers.length]),
  });
  return { ...sampleOf(result, (await cpuOf(child)) - cpuBefore), loadAverage: 0 };
}
