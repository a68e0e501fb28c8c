/**
 * Mixed traffic on one variant's two instances: a pool of users, each used by one worker at a
 * time, so the soak always knows which of a user's sessions should work (no two requests of one
 * user race each other; races inside the library are the tests' business). An operation whose
 * outcome is unknown (503, no answer) is retried, as a client would, before anything else is
 * done for that user.
 */
import { Counts, type Answer, request, type RequestOptions } from './http.js';
import type { DemoInstance } from './instances.js';
import type { Ledger, Store } from './ledger.js';
import { at, now, sleep, trace } from './procs.js';
import { Probes } from './probes.js';

interface Session {
  id: number;
  token: string;
  refreshToken?: string;
  /** An operation whose answer said nothing of its outcome, to try again. */
  pending?: 'logout' | 'refresh';
}

interface User {
  email: string;
  sessions: Session[];
  /** A logout-all that got a 503 or no answer. */
  pendingAll: boolean;
  busy: boolean;
  /** After a 429: no login before this (the answer's Retry-After), as a client that honours it. */
  throttledUntil: number;
}

export interface Variant {
  name: string;
  instances: readonly DemoInstance[];
  /** The stores whose outage explains a 503 of this variant. */
  stores: readonly Store[];
}

const PASSWORD = 'soak password 4217';
/** Sessions one user holds at most; past it a login turns into a logout. */
const MAX_SESSIONS = 4;

/** What each route may answer besides 5xx (held to the outage rules): 401 is judged by the model, 429 is throttling. */
const EXPECTED: Record<string, number[]> = {
  'POST /auth/register': [200, 201, 202, 204, 409, 429],
  'POST /auth/login': [200, 401, 429],
  'GET /me': [200, 401],
  'GET /me (probe)': [200, 401],
  'GET /me (final)': [200, 401],
  'POST /auth/logout': [204, 401],
  'POST /auth/logout-all': [204, 401],
  'POST /auth/refresh': [200, 401],
};

/** A client address of its own for each login (see RequestOptions.from). */
const clientAddress = () => `127.${1 + Math.floor(Math.random() * 254)}.${Math.floor(Math.random() * 256)}.${1 + Math.floor(Math.random() * 254)}`;

const pick = <T>(items: readonly T[]): T => items[Math.floor(Math.random() * items.length)]!;
const unknownOutcome = (status: Answer['status']) => status === 503 || status === 'timeout' || status === 'neterr';

export class Traffic {
  readonly counts = new Counts();
  readonly probes: Probes;
  private readonly users: User[] = [];
  private nextSession = 1;

  constructor(
    private readonly variant: Variant,
    private readonly ledger: Ledger,
    userCount: number,
  ) {
    for (let i = 0; i < userCount; i++) this.users.push({ email: `soak-${variant.name}-${i}@example.com`, sessions: [], pendingAll: false, busy: false, throttledUntil: 0 });
    this.probes = new Probes(variant.name, variant.instances, ledger, (route, on, method, path, options) => this.call(route, on, method, path, options));
  }

  /**
   * Every request goes through here: counted, and held against the status rules; an answer
   * below 500 that the route should never give (a 403, a 400: the soak sends only good
   * requests) is a break too.
   */
  async call(route: string, on: DemoInstance, method: string, path: string, options: RequestOptions = {}): Promise<Answer> {
    const answer = await request(on.port, method, path, options);
    trace({ v: this.variant.name, on: on.name, route, who: options.who, status: answer.status, sent: Math.round(answer.sentAt), answered: Math.round(answer.answeredAt), token: options.token?.slice(-12) });
    this.counts.add(route, answer.status);
    this.ledger.observe(this.variant.name, this.variant.stores, route, on, answer);
    const { status } = answer;
    if (typeof status === 'number' && status < 500 && !(EXPECTED[route] ?? []).includes(status)) {
      this.ledger.add('unexpected answer', this.variant.name, answer.answeredAt, `${route} on ${on.name} answered ${status} at ${at(answer.answeredAt)}: ${JSON.stringify(answer.body).slice(0, 200)}`);
    }
    return answer;
  }

  /** Registers the pool, four at a time, alternating instances; a 503 is tried again. */
  async register(): Promise<void> {
    const queue = [...this.users];
    const worker = async (slot: number) => {
      for (let user = queue.shift(); user; user = queue.shift()) {
        for (let attempt = 0; ; attempt++) {
          const on = this.variant.instances[(slot + attempt) % this.variant.instances.length]!;
          const answer = await this.call('POST /auth/register', on, 'POST', '/auth/register', { json: { email: user.email, password: PASSWORD } });
          if (typeof answer.status === 'number' && answer.status >= 200 && answer.status < 300) break;
          if (attempt >= 10) throw new Error(`${this.variant.name}: could not register ${user.email}: ${answer.status} ${JSON.stringify(answer.body)}`);
          await sleep(500);
        }
      }
    };
    await Promise.all([0, 1, 2, 3].map(worker));
  }

  /** `workers` loops of one operation each on a free user, until `stopAt`, with `thinkMs` between operations. */
  async run(workers: number, stopAt: number, thinkMs: [number, number]): Promise<void> {
    const loop = async () => {
      while (now() < stopAt) {
        const user = this.freeUser();
        if (user) {
          user.busy = true;
          try {
            await this.step(user);
          } finally {
            user.busy = false;
          }
        }
        await sleep(thinkMs[0] + Math.random() * (thinkMs[1] - thinkMs[0]));
      }
    };
    await Promise.all(Array.from({ length: workers }, loop));
  }

  /** After the traffic: every operation left pending is retried until it has an outcome, or `deadline`. */
  async settle(deadline: number): Promise<number> {
    for (;;) {
      const left = this.users.filter((u) => u.pendingAll || u.sessions.some((s) => s.pending));
      if (left.length === 0 || now() > deadline) return left.length;
      await Promise.all(left.map((u) => this.retryPending(u)));
      await sleep(300);
    }
  }

  /** Every session not logged out must still work, on both instances. Returns how many were checked. */
  async finalCheck(): Promise<number> {
    const live = this.users.flatMap((user) => user.sessions.filter((s) => !s.pending).map((session) => ({ user, session })));
    const queue = [...live];
    const worker = async () => {
      for (let item = queue.shift(); item; item = queue.shift()) {
        for (const on of this.variant.instances) {
          const answer = await this.call('GET /me (final)', on, 'GET', '/me', { token: item.session.token });
          if (answer.status !== 200) {
            this.ledger.add('session lost at the end', this.variant.name, answer.answeredAt, `session #${item.session.id} of ${item.user.email} answered ${answer.status} on ${on.name}`);
          }
        }
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    return live.length;
  }

  private freeUser(): User | undefined {
    for (let i = 0; i < 8; i++) {
      const user = pick(this.users);
      // A throttled user with no session has nothing to do until the Retry-After passes.
      if (!user.busy && (user.sessions.length > 0 || now() >= user.throttledUntil)) return user;
    }
    return undefined;
  }

  private async step(user: User): Promise<void> {
    if (user.pendingAll || user.sessions.some((s) => s.pending)) return this.retryPending(user);
    const live = user.sessions;
    const r = Math.random();
    const mayLogin = now() >= user.throttledUntil;
    if (live.length === 0 || (r < 0.08 && live.length < MAX_SESSIONS && mayLogin)) return this.login(user);
    // A login past MAX_SESSIONS falls through to a logout.
    if (r < 0.18) return this.logout(user, pick(live), false);
    if (r < 0.3) return this.refresh(user, pick(live), false);
    if (r < 0.33) return this.logoutAll(user, false);
    return this.me(user, pick(live));
  }

  private async retryPending(user: User): Promise<void> {
    if (user.pendingAll) return this.logoutAll(user, true);
    const session = user.sessions.find((s) => s.pending);
    if (session?.pending === 'logout') return this.logout(user, session, true);
    if (session?.pending === 'refresh') return this.refresh(user, session, true);
  }

  private async login(user: User): Promise<void> {
    const on = pick(this.variant.instances);
    const answer = await this.call('POST /auth/login', on, 'POST', '/auth/login', { json: { email: user.email, password: PASSWORD }, from: clientAddress(), who: user.email });
    if (answer.status === 200) {
      const body = answer.body as { token: string; refreshToken?: string };
      user.sessions.push({ id: this.nextSession++, token: body.token, refreshToken: body.refreshToken });
    } else if (answer.status === 401) {
      this.ledger.add('login refused', this.variant.name, answer.answeredAt, `${user.email}'s right password refused with 401 on ${on.name}`);
    } else if (answer.status === 429) {
      // The soak never sends a wrong password: whatever filled this email's count, it was not guesses.
      user.throttledUntil = answer.answeredAt + (answer.retryAfter ?? 60) * 1000;
      this.ledger.add('login throttled', this.variant.name, answer.answeredAt, `${user.email}, which never sent a wrong password, answered 429 on ${on.name} (Retry-After ${answer.retryAfter ?? 'missing'})`, user.email);
    }
    // 503 or no answer: the session may exist, but the soak has no token for it.
  }

  private async me(user: User, session: Session): Promise<void> {
    const on = pick(this.variant.instances);
    const answer = await this.call('GET /me', on, 'GET', '/me', { token: session.token, asCookie: Math.random() < 0.3 });
    if (answer.status === 401) this.refused(user, session, on, answer, 'GET /me');
  }

  private async logout(user: User, session: Session, retry: boolean): Promise<void> {
    const on = pick(this.variant.instances);
    const answer = await this.call('POST /auth/logout', on, 'POST', '/auth/logout', { token: session.token, asCookie: Math.random() < 0.3 });
    if (unknownOutcome(answer.status)) {
      session.pending = 'logout';
      return;
    }
    // A retried logout may find the session already gone (its first try did end it): a 401 then is an answer too.
    if (answer.status === 401 && !retry) this.refused(user, session, on, answer, 'POST /auth/logout');
    this.drop(user, session);
    if (answer.status === 204 || answer.status === 401) this.probes.ended(session.token, retry ? 'a retried logout' : 'logout', on, answer.answeredAt);
  }

  private async refresh(user: User, session: Session, retry: boolean): Promise<void> {
    if (!session.refreshToken) return this.me(user, session);
    const on = pick(this.variant.instances);
    const answer = await this.call('POST /auth/refresh', on, 'POST', '/auth/refresh', { json: { refreshToken: session.refreshToken } });
    if (unknownOutcome(answer.status)) {
      session.pending = 'refresh';
      return;
    }
    if (answer.status === 200) {
      const body = answer.body as { token: string; refreshToken: string };
      const old = session.token;
      Object.assign(session, { token: body.token, refreshToken: body.refreshToken, pending: undefined });
      if (old !== body.token) this.probes.ended(old, retry ? 'a retried refresh' : 'refresh', on, answer.answeredAt);
      return;
    }
    if (answer.status === 401 && retry) {
      this.ledger.add('refresh retry refused', this.variant.name, answer.answeredAt, `session #${session.id} of ${user.email}: the refresh got no outcome, its retry on ${on.name} answered 401 at ${at(answer.answeredAt)} (taken for reuse: the login is gone)`);
    } else if (answer.status === 401) {
      this.refused(user, session, on, answer, 'POST /auth/refresh');
    }
    // Refused, one way or another: the login is over; its access token must be dead too.
    this.drop(user, session);
    this.probes.ended(session.token, 'a refused refresh', on, answer.answeredAt);
  }

  private async logoutAll(user: User, retry: boolean): Promise<void> {
    const using = user.sessions.find((s) => !s.pending) ?? user.sessions[0];
    if (!using) {
      user.pendingAll = false;
      return;
    }
    const on = pick(this.variant.instances);
    const answer = await this.call('POST /auth/logout-all', on, 'POST', '/auth/logout-all', { token: using.token });
    if (unknownOutcome(answer.status)) {
      user.pendingAll = true;
      return;
    }
    if (answer.status === 401 && !retry) this.refused(user, using, on, answer, 'POST /auth/logout-all');
    const ended = user.sessions;
    user.sessions = [];
    user.pendingAll = false;
    if (answer.status === 204 || answer.status === 401) {
      for (const session of ended) this.probes.ended(session.token, retry ? 'a retried logout-all' : 'logout-all', on, answer.answeredAt);
    }
  }

  /** A session the soak never ended was refused: the break, and the session is given up. */
  private refused(user: User, session: Session, on: DemoInstance, answer: Answer, route: string): void {
    this.ledger.add('live session refused', this.variant.name, answer.answeredAt, `session #${session.id} of ${user.email}: ${route} on ${on.name} answered 401 at ${at(answer.answeredAt)}`);
    this.drop(user, session);
  }

  private drop(user: User, session: Session): void {
    user.sessions = user.sessions.filter((s) => s !== session);
  }
}
