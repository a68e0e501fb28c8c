/**
 * The soak's HTTP client: node:http with one keep-alive agent per instance, a time bound on
 * every request, and no rejections: a request ends as a status, 'timeout' or 'neterr', each
 * with the times it was sent and answered on the soak's clock.
 */
import http from 'node:http';
import { now } from './procs.js';

/**
 * No demo request should take this long: the store timeout is 5 s and the users query's 2 s,
 * and a login runs one of each (plus scrypt) at most.
 */
export const REQUEST_TIMEOUT_MS = 15_000;

export type Outcome = number | 'timeout' | 'neterr';

export interface Answer {
  status: Outcome;
  /** Parsed JSON body, when there was one. */
  body: unknown;
  sentAt: number;
  answeredAt: number;
  /** The network error's code, for neterr. */
  error?: string;
  /** Retry-After, in seconds, when the answer had one. */
  retryAfter?: number;
}

export interface RequestOptions {
  token?: string;
  /** Send the token as the session cookie instead of the bearer header. */
  asCookie?: boolean;
  json?: unknown;
  /**
   * The client's own address (any of 127.0.0.0/8 reaches the instance), on a connection of its
   * own: logins come from many addresses, as a real population's do, so the demo's per-address
   * login limit counts each client and not the soak as one.
   */
  from?: string;
  /** Whose request, for the trace only. */
  who?: string;
}

const agents = new Map<number, http.Agent>();

/**
 * The agent's timeout is what lets Node honour the server's `Keep-Alive: timeout=5` hint (it
 * closes an idle socket a second before the server would): without it a request can be written
 * onto a socket the server is closing, an ECONNRESET that no instance caused.
 */
function agentFor(port: number): http.Agent {
  let agent = agents.get(port);
  if (!agent) {
    agent = new http.Agent({ keepAlive: true, maxSockets: 64, timeout: 4_000 });
    agents.set(port, agent);
  }
  return agent;
}

/** Drops the kept-alive sockets to a port (an instance that was killed has none left alive). */
export function forgetAgent(port: number): void {
  agents.get(port)?.destroy();
  agents.delete(port);
}

export function request(port: number, method: string, path: string, options: RequestOptions = {}): Promise<Answer> {
  const sentAt = now();
  return new Promise((resolve) => {
    let settled = false;
    const finish = (status: Outcome, body: unknown, error?: string, retryAfter?: number) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ status, body, sentAt, answeredAt: now(), error, retryAfter });
    };
    const payload = options.json === undefined ? undefined : Buffer.from(JSON.stringify(options.json));
    const headers: http.OutgoingHttpHeaders = { 'user-agent': 'nestjs-sessions-soak', accept: 'application/json' };
    if (payload) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = payload.length;
    }
    if (options.token !== undefined) {
      if (options.asCookie) headers.cookie = `session=${options.token}`;
      else headers.authorization = `Bearer ${options.token}`;
    }
    const connection = options.from === undefined ? { agent: agentFor(port) } : { agent: false as const, localAddress: options.from };
    const req = http.request({ host: '127.0.0.1', port, method, path, headers, ...connection }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', (error: NodeJS.ErrnoException) => finish('neterr', undefined, error.code ?? error.message));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let body: unknown = text;
        if (/json/.test(String(res.headers['content-type']))) {
          try {
            body = JSON.parse(text);
          } catch {
            // left as text
          }
        }
        const retryAfter = Number(res.headers['retry-after']);
        finish(res.statusCode ?? 0, body, undefined, Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : undefined);
      });
    });
    // The agent's idle timeout also fires on a busy socket; the soak's own timer decides.
    req.on('timeout', () => {});
    req.on('error', (error: NodeJS.ErrnoException) => finish('neterr', undefined, error.code ?? error.message));
    const timer = setTimeout(() => {
      finish('timeout', undefined);
      req.destroy();
    }, REQUEST_TIMEOUT_MS);
    req.end(payload);
  });
}

/** Requests counted by variant, route and outcome. */
export class Counts {
  private readonly byRoute = new Map<string, Map<string, number>>();

  add(route: string, status: Outcome): void {
    let row = this.byRoute.get(route);
    if (!row) this.byRoute.set(route, (row = new Map()));
    row.set(String(status), (row.get(String(status)) ?? 0) + 1);
  }

  total(): number {
    let sum = 0;
    for (const row of this.byRoute.values()) for (const n of row.values()) sum += n;
    return sum;
  }

  /** One line per route: `GET /me  200 1234 · 401 5 · 503 17`. */
  lines(): string[] {
    const width = Math.max(0, ...[...this.byRoute.keys()].map((k) => k.length));
    return [...this.byRoute.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([route, row]) => {
        const cells = [...row.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([s, n]) => `${s} ${n}`);
        return `${route.padEnd(width)}  ${cells.join(' · ')}`;
      });
  }
}
