/**
 * What bench/run.ts and the benchmarks under scripts/ share: a child's answer over IPC, stopping
 * a child, a load's sample, and a script's run with its clean-up (the throwaway database dropped at the end, on a
 * failure and on Ctrl-C alike).
 */
import type { ChildProcess } from 'node:child_process';
import type autocannon from 'autocannon';
import type { TestDatabase } from '../test/support/database.js';

type Log = (message: string) => void;

/** The first message of `type` from a child, or its `error` message or its exit as a rejection. */
export function answer<T>(child: ChildProcess, type: string, what: string, timeoutMs: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => finish(() => reject(new Error(`${what}: no ${type} within ${timeoutMs / 1000} s`))), timeoutMs);
    const finish = (then: () => void) => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
      then();
    };
    const onMessage = (message: { type: string; message?: string }) => {
      if (message.type === 'error') finish(() => reject(new Error(`${what}: ${message.message}`)));
      else if (message.type === type) finish(() => resolve(message as T));
    };
    const onExit = (code: number | null, signal: string | null) => finish(() => reject(new Error(`${what}: exited (${signal ?? code}) before answering`)));
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}

/** Asks a child to stop (`stop` over IPC, or SIGTERM without it); SIGKILL after 5 s. */
export function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    if (child.connected) child.send({ type: 'stop' });
    else child.kill('SIGTERM');
  });
}

/** Drops a benchmark's database, saying so: a drop that fails is worth a line, not a failed run. */
export async function dropLogged(db: TestDatabase | undefined, log: Log): Promise<void> {
  if (db) await db.drop().then(() => log(`dropped ${db.name}`), (error: unknown) => log(`could not drop ${db.name}: ${error}`));
}

/**
 * A script's clean-up: the database dropped first (WITH (FORCE) ends our connections, so Ctrl-C
 * during a load leaves at once), then the app closed, its errors moot by then.
 */
export async function dropThenClose(db: TestDatabase | undefined, app: { close(): Promise<unknown> } | undefined, log: Log): Promise<void> {
  await dropLogged(db, log);
  await app?.close().catch(() => undefined);
}

/** One variant's load on a server: throughput, latency and the server's CPU per request. */
export interface Sample {
  rps: number;
  p50: number;
  p99: number;
  non2xx: number;
  errors: number;
  /** The server process's CPU time per answered request, µs: steadier than req/s on a busy machine. */
  cpuPerRequest: number;
}

/** An autocannon result and the server's CPU time meanwhile (µs) as a Sample. */
export function sampleOf(result: autocannon.Result, cpuMicros: number): Sample {
  return {
    rps: result['2xx'] / result.duration,
    p50: result.latency.p50,
    p99: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
    cpuPerRequest: cpuMicros / Math.max(1, result['2xx'] + result.non2xx),
  };
}

/**
 * Runs a benchmark's `main`, then `cleanUp` whatever happened, and exits (1 when main threw).
 * Ctrl-C runs the same clean-up (dropping the database WITH (FORCE) ends our connections), once.
 */
export async function runScript(log: Log, main: () => Promise<void>, cleanUp: () => Promise<void>): Promise<never> {
  let cleaning: Promise<void> | undefined;
  const cleanOnce = () => (cleaning ??= cleanUp().catch((error: unknown) => log(`clean-up failed: ${error}`)));
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      log(`${signal}: cleaning up and exiting`);
      void cleanOnce().finally(() => process.exit(130));
    });
  }
  try {
    await main();
  } catch (error) {
    process.exitCode = 1;
    log(`failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  }
  await cleanOnce();
  // A child or a pool left open must not keep a finished benchmark alive.
  process.exit();
}
