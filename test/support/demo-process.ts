import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';

/** Compiles the demo as `npm start` does, so the test runs what a user runs. */
export async function buildDemo(): Promise<void> {
  await promisify(execFile)('node', ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json'], { timeout: 120_000 });
  await promisify(execFile)('node', ['node_modules/typescript/bin/tsc', '-p', 'sample/tsconfig.build.json'], { timeout: 120_000 });
}

export interface DemoProcess {
  url: string;
  output(): string;
  stop(): Promise<number | null>;
}

/** Runs `node sample/dist/main.js` with `env` (and no DATABASE_URL unless given) until it listens. */
export function startDemo(env: Record<string, string>): Promise<DemoProcess> {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, PORT: '0', NO_COLOR: '1', ...env };
  if (!('DATABASE_URL' in env)) delete childEnv.DATABASE_URL;
  const child = spawn(process.execPath, ['sample/dist/main.js'], { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`demo did not start in 90 s:\n${output}`));
    }, 90_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /Listening on (http:\/\/localhost:\d+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve({ url: match[1], output: () => output, stop: () => stop(child) });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(Object.assign(new Error(`demo exited with ${code}:\n${output}`), { code, output }));
    });
  });
}

function stop(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => {
    child.removeAllListeners('exit');
    child.once('exit', (code) => resolve(code));
    child.kill('SIGTERM');
  });
}
