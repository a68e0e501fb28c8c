/**
 * The demo benchmark's sessions, made through the demo's own HTTP API: each user registers
 * (`POST /auth/register {email, password}`) and logs in (`POST /auth/login`, the bearer token in
 * the answer), once, on the cache-on demo; the same tokens then serve the cache-off demo and the
 * floor, which read the same tables. Then the checks that every server answers each token with
 * its own user, and refuses a request without one, before anything is measured.
 */
import type { Child } from './processes.js';

export interface Credential {
  /** The header that authenticates the connection (a bearer token). */
  headers: Record<string, string>;
  id: string;
  email: string;
}

const PASSWORD = 'demo-bench password, not a real one';
const url = (child: Child, path: string) => `http://127.0.0.1:${child.port}${path}`;

async function call(child: Child, method: string, path: string, init: { body?: unknown; headers?: Record<string, string> } = {}): Promise<{ status: number; body: unknown }> {
  const response = await fetch(url(child, path), {
    method,
    headers: { ...(init.body === undefined ? {} : { 'content-type': 'application/json' }), ...init.headers },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: kept as text for the message
  }
  return { status: response.status, body };
}

async function expect(child: Child, method: string, path: string, status: number, init?: Parameters<typeof call>[3]): Promise<unknown> {
  const answer = await call(child, method, path, init);
  if (answer.status !== status) throw new Error(`${child.name}: ${method} ${path} answered ${answer.status} ${JSON.stringify(answer.body)}, expected ${status}`);
  return answer.body;
}

/** Registers and logs in `count` users, `parallel` at a time (each costs two scrypt hashes). */
export async function logInUsers(demo: Child, count: number, parallel = 4): Promise<Credential[]> {
  const run = Date.now().toString(36);
  const credentials: Credential[] = new Array(count);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < count; i = next++) {
      const email = `bench-${run}-${i}@example.com`;
      await expect(demo, 'POST', '/auth/register', 201, { body: { email, password: PASSWORD } });
      const { token } = (await expect(demo, 'POST', '/auth/login', 200, { body: { email, password: PASSWORD } })) as { token: string };
      const headers = { authorization: `Bearer ${token}` };
      const me = (await expect(demo, 'GET', '/me', 200, { headers })) as { id: string; email: string };
      credentials[i] = { headers, id: me.id, email: me.email };
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, count) }, worker));
  return credentials;
}

/** Every server gives each token its own user (the demos with a context); none answers without one; the open route answers. */
export async function checkServers(hit: Child, miss: Child, floor: Child, credentials: Credential[]): Promise<void> {
  for (const { headers, id, email } of credentials) {
    for (const child of [hit, miss, floor]) {
      const body = (await expect(child, 'GET', '/me', 200, { headers })) as { id: string; email: string; context?: unknown };
      if (body.id !== id || body.email !== email || (child !== floor && typeof body.context !== 'object')) {
        throw new Error(`${child.name}: GET /me answered ${JSON.stringify(body)}, expected ${id} ${email}${child === floor ? '' : ' and a context'}`);
      }
    }
  }
  for (const child of [hit, miss, floor]) await expect(child, 'GET', '/me', 401);
  const open = (await expect(hit, 'GET', '/bench/open', 200, { headers: credentials[0].headers })) as { id?: unknown; email?: unknown; context?: unknown };
  if (typeof open.id !== 'string' || typeof open.email !== 'string' || typeof open.context !== 'object') {
    throw new Error(`demo-hit: GET /bench/open answered ${JSON.stringify(open)}, expected { id, email, context }`);
  }
}

/** `requests` requests to `path`, one at a time, round the credentials. */
export async function inSeries(child: Child, path: string, credentials: Credential[], requests: number): Promise<void> {
  for (let i = 0; i < requests; i++) await expect(child, 'GET', path, 200, { headers: credentials[i % credentials.length].headers });
}

/** The demo's own cache counters (`sessions_cache_total` on `/metrics`). */
export async function cacheCounters(demo: Child, metricsToken: string): Promise<{ hit: number; miss: number }> {
  const text = String(await expect(demo, 'GET', '/metrics', 200, { headers: { authorization: `Bearer ${metricsToken}` } }));
  const counter = (result: string) => Number(new RegExp(`^sessions_cache_total\\{result="${result}"\\} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
  return { hit: counter('hit'), miss: counter('miss') };
}
