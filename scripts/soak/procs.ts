/**
 * What every part of the soak shares: one clock, free ports, child processes whose output goes
 * to files (each line stamped with the soak's clock, so a log line and a request can be put in
 * order to the millisecond), and the cleanup that ends every child the soak started.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import path from 'node:path';

const T0 = performance.now();

/** Milliseconds since the soak started: every time the soak records is on this clock. */
export function now(): number {
  return performance.now() - T0;
}

/** A time on the soak's clock as the report prints it. */
export function at(ms: number): string {
  return `${(ms / 1000).toFixed(3)} s`;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * A port nothing listens on now: bound to 0, read, closed. Another process could take it before
 * the child binds it; on a test machine that is rare, and the child's start then fails loudly.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** The last `lines` lines of a log file, for a failure's report. */
export function tail(file: string, lines = 40): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

// ---- the request trace ------------------------------------------------------------------------

let traceFd: number | undefined;

/** Every request as one JSON line in `file` (requests.jsonl in the logs), to read a break's surroundings. */
export function openTrace(file: string): void {
  traceFd = openSync(file, 'a');
}

export function trace(record: object): void {
  if (traceFd === undefined) return;
  try {
    writeSync(traceFd, `${JSON.stringify(record)}\n`);
  } catch {
    // best effort, as the logs
  }
}

// ---- children and their cleanup ------------------------------------------------------------------

/** Every child started and not yet seen to exit: what cleanup must end. */
const running = new Set<ChildProcess>();
/** Synchronous steps cleanup runs besides killing children (stopping PostgreSQL, removing dirs). */
const cleanupSteps: (() => void)[] = [];

export function onCleanup(step: () => void): void {
  cleanupSteps.push(step);
}

let cleanedUp = false;

/**
 * Ends every child the soak started (SIGKILL to its process group: each child is spawned
 * detached, so the group is exactly that child and what it forked), then runs the cleanup steps
 * newest first. Synchronous, so it can run from process.on('exit') too; runs once.
 */
export function cleanupSync(): void {
  if (cleanedUp) return;
  cleanedUp = true;
  for (const child of running) {
    try {
      if (child.pid) process.kill(-child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  for (const step of cleanupSteps.reverse()) {
    try {
      step();
    } catch (error) {
      console.error(`soak: cleanup step failed: ${(error as Error).message}`);
    }
  }
}

export interface Logged {
  child: ChildProcess;
  /** Settles when the child has exited (never rejects). */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Spawns a child in its own process group, its stdout and stderr appended line by line to
 * `logFile` as `[  12.345] line`; `onLine` sees each line with its time. The child is ended by
 * cleanupSync if it is still running then.
 */
export function spawnLogged(
  command: string,
  args: string[],
  options: { logFile: string; env?: NodeJS.ProcessEnv; cwd?: string; onLine?: (line: string, t: number) => void },
): Logged {
  const fd = openSync(options.logFile, 'a');
  // Once closed the number may belong to another file: nothing is written through it after.
  let closed = false;
  const write = (text: string) => {
    if (closed) return;
    try {
      writeSync(fd, text);
    } catch {
      // the log is best effort; the soak's checks do not depend on it
    }
  };
  write(`[${(now() / 1000).toFixed(3).padStart(8)}] $ ${path.basename(command)} ${args.join(' ')}\n`);
  const child = spawn(command, args, { cwd: options.cwd, env: options.env ?? process.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  const lineReader = () => {
    let rest = '';
    return (chunk: Buffer) => {
      const t = now();
      const parts = (rest + chunk.toString('utf8')).split('\n');
      rest = parts.pop() ?? '';
      for (const line of parts) {
        write(`[${(t / 1000).toFixed(3).padStart(8)}] ${line}\n`);
        options.onLine?.(line, t);
      }
    };
  };
  child.stdout!.on('data', lineReader());
  child.stderr!.on('data', lineReader());
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('error', (error) => {
      write(`[${(now() / 1000).toFixed(3).padStart(8)}] spawn error: ${error.message}\n`);
      running.delete(child);
      resolve({ code: null, signal: null });
    });
    child.once('exit', (code, signal) => {
      running.delete(child);
      write(`[${(now() / 1000).toFixed(3).padStart(8)}] exited (${signal ?? code})\n`);
      // Closed a little later: the pipes may still hold the last lines.
      setTimeout(() => {
        closed = true;
        closeSync(fd);
      }, 200).unref();
      resolve({ code, signal });
    });
  });
  return { child, exited };
}

/**
 * Runs a command to completion with a time bound, its output appended to `logFile`. Resolves
 * to its exit code (null when it timed out or could not start); never rejects.
 */
export async function run(command: string, args: string[], options: { logFile: string; timeoutMs: number; env?: NodeJS.ProcessEnv }): Promise<number | null> {
  const { child, exited } = spawnLogged(command, args, options);
  const timer = setTimeout(() => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // exited meanwhile
    }
  }, options.timeoutMs);
  const { code, signal } = await exited;
  clearTimeout(timer);
  return signal ? null : code;
}

/** The same, synchronous, for cleanup: bounded, output discarded. */
export function runSync(command: string, args: string[], timeoutMs: number): number | null {
  return spawnSync(command, args, { stdio: 'ignore', timeout: timeoutMs }).status;
}
