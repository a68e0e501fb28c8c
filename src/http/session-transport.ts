import { Inject, Injectable, Logger } from '@nestjs/common';
import { SESSION_OPTIONS } from '../session.constants.js';
import type { IssuedSession, SessionClientInfo } from '../core/session.interfaces.js';
import type { ResolvedSessionOptions } from '../options/resolve-options.js';
import { readCookies, serializeCookie } from './cookie.js';
import type { ResolvedCookieOptions } from './http.options.js';
import { crossOriginRefusal, type OriginRequestLike } from './csrf.js';
import { appendSetCookie, noStore, setHeader } from './response-headers.js';

/** What Express's request and Fastify's request have in common, for our purpose. */
export interface HttpRequestLike {
  headers: Record<string, string | string[] | undefined>;
  /** The client's address as the adapter reports it (Express's and Fastify's `ip` honour their trust-proxy settings). */
  ip?: string;
}

// Where else an address is: socket.io's handshake, a bare Node request's socket.
type AddressCarrier = { ip?: unknown; address?: unknown; socket?: { remoteAddress?: unknown } };

function addressOf(request: HttpRequestLike): string | null {
  const carrier = request as AddressCarrier;
  const ip = carrier.ip ?? carrier.address ?? carrier.socket?.remoteAddress;
  return typeof ip === 'string' && ip !== '' ? ip : null;
}

function agentOf(request: HttpRequestLike): string {
  const userAgent = request.headers['user-agent'];
  return typeof userAgent === 'string' ? userAgent : '';
}

// A literal with a getter costs V8 a new accessor pair each time (about 15 times a plain
// object's cost); a class's getter is made once, on its prototype, which a spread does not copy.
class RequestClient implements SessionClientInfo {
  constructor(
    private readonly request: HttpRequestLike,
    readonly userAgent: string,
    readonly rotatable: boolean,
  ) {}

  get ip(): string | null {
    return addressOf(this.request);
  }
}

/** Express's `res`, Fastify's `reply`, or a bare `http.ServerResponse`. */
export type HttpResponseLike = object;

/** A token as a request presented it, and where it came from. */
export interface PresentedToken {
  token: string;
  from: 'bearer' | 'cookie';
}

const BEARER = /^Bearer +(\S+) *$/i;

/**
 * How a session token travels over HTTP: reads it from a request (`Authorization: Bearer`, or
 * the session cookie) and writes or clears the session cookie on a response, on Express and
 * Fastify alike, with no cookie middleware.
 */
@Injectable()
export class SessionTransport {
  private readonly logger = new Logger('SessionTransport');

  constructor(@Inject(SESSION_OPTIONS) private readonly options: ResolvedSessionOptions) {}

  /**
   * The token a request carries: the Bearer token if there is an Authorization header (or a
   * socket.io handshake's `auth.token`), else the session cookie. Undefined when there is none,
   * and when the request carries the session cookie more than once: a sibling or parent domain
   * can plant a cookie of the same name, and nothing in the Cookie header tells which one is
   * ours: whichever we picked, a planted live one could win (the victim then works in the
   * attacker's account) or a dead one shadow the user's. Refusing both never acts as the wrong
   * user; a planted cookie still keeps the user out, and a `__Host-` name, which nobody else can
   * set, is the remedy. A malformed bearer comes back as-is, to be refused.
   */
  readToken(request: HttpRequestLike & { auth?: unknown }): PresentedToken | undefined {
    if (this.options.bearer) {
      const authorization = request.headers.authorization;
      if (typeof authorization === 'string') {
        const match = BEARER.exec(authorization);
        if (match) return { token: match[1], from: 'bearer' };
      }
      // socket.io's handshake: io(url, { auth: { token } }), for a client that cannot send headers.
      const auth = request.auth as { token?: unknown } | undefined;
      if (typeof auth?.token === 'string' && auth.token !== '') return { token: auth.token, from: 'bearer' };
    }
    if (!this.options.cookie) return undefined;
    const values = readCookies(request.headers.cookie, this.options.cookie.name);
    if (values.length > 1) {
      this.logger.debug(`refused: ${values.length} cookies named ${this.options.cookie.name}; another (sub)domain may have planted one, a __Host- name prevents it`);
      return undefined;
    }
    return values.length === 0 ? undefined : { token: values[0], from: 'cookie' };
  }

  /**
   * Why `request` must be refused as a write from another origin under the `csrf` option, or
   * undefined when it may go on (always, with `csrf: false`). See the option for the rule; the
   * guards call it, and so can a guard of your own.
   */
  originRefusal(request: HttpRequestLike): string | undefined {
    return this.options.csrf ? crossOriginRefusal(request as OriginRequestLike, this.options.csrf.trustedOrigins) : undefined;
  }

  /**
   * What the service is told of the client behind `request`: its User-Agent, its address (for
   * `metadata.ip`: the adapter's `request.ip`, so `trust proxy` applies), and whether a renewed
   * token can be sent back (`rotatable`: the token came in a cookie and a response is at hand).
   * Pass it to the service calls that take a client and to `createSession` (the guard passes
   * `requestClient()`, which is cheaper but does not survive a spread).
   */
  client(request: HttpRequestLike, rotatable = false): SessionClientInfo & { rotatable: boolean } {
    const agent = agentOf(request);
    if (!this.options.metadata?.ip) return { userAgent: agent, ip: null, rotatable };
    // Read when a session is made or rotated, not on every request: Express's `req.ip` runs its
    // trust-proxy check each time it is read, and a cache hit never needs it.
    return {
      userAgent: agent,
      get ip() {
        return addressOf(request);
      },
      rotatable,
    };
  }

  /**
   * `client()` for a call that takes it at once, as the guard's: cheaper per request, but its
   * `ip` is not copied by a spread (`{ ...client }`), so keep `client()` for `createSession`.
   */
  requestClient(request: HttpRequestLike, rotatable: boolean): SessionClientInfo & { rotatable: boolean } {
    return this.options.metadata?.ip ? new RequestClient(request, agentOf(request), rotatable) : this.client(request, rotatable);
  }

  /**
   * Sets the session cookie for a new or rotated session (Max-Age runs to its expiry), with
   * `Cache-Control: no-store` whatever the route said: a cache that kept the response would
   * hand the token to whoever asks next.
   */
  write(response: HttpResponseLike, issued: Pick<IssuedSession, 'token' | 'deviceRegistration'> & { session: { expires: Date } }): void {
    if (!this.options.cookie) return;
    const now = this.options.clock();
    appendSetCookie(response, serializeCookie(this.options.cookie, issued.token, issued.session.expires.getTime() - now, now));
    noStore(response, true);
    if (issued.deviceRegistration !== undefined && this.options.deviceBound) this.offerDeviceBinding(response, issued.deviceRegistration);
  }

  /** Deletes the session cookie (logout), and the bound cookie with `deviceBound`, with `Cache-Control: no-store`: a cached logout would replay its Set-Cookie. */
  clear(response: HttpResponseLike): void {
    if (!this.options.cookie) return;
    appendSetCookie(response, serializeCookie(this.options.cookie, '', 0, this.options.clock()));
    if (this.options.deviceBound) appendSetCookie(response, serializeCookie(this.boundCookieOptions(), '', 0, this.options.clock()));
    noStore(response, true);
  }

  /**
   * Asks a DBSC browser to bind the session to a key (`Secure-Session-Registration`, and the
   * `Sec-Session-Registration` of earlier Chrome versions): it then posts a proof signed with
   * the new key over `challenge` to the registration endpoint. Other browsers ignore it.
   */
  offerDeviceBinding(response: HttpResponseLike, challenge: string): void {
    if (!this.options.deviceBound) return;
    const offer = `(ES256);path="${this.options.deviceBound.registrationPath}";challenge="${challenge}"`;
    setHeader(response, 'secure-session-registration', offer);
    setHeader(response, 'sec-session-registration', offer);
  }

  /** The bound cookie of a device-bound session, undefined when absent or sent more than once. */
  readBoundCookie(request: HttpRequestLike): string | undefined {
    if (!this.options.deviceBound) return undefined;
    const values = readCookies(request.headers.cookie, this.options.deviceBound.cookieName);
    return values.length === 1 ? values[0] : undefined;
  }

  /** Sets the bound cookie (`deviceBound`), with the session cookie's attributes and its own short Max-Age. */
  writeBoundCookie(response: HttpResponseLike, value: string, maxAgeMs: number): void {
    if (!this.options.cookie || !this.options.deviceBound) return;
    appendSetCookie(response, serializeCookie(this.boundCookieOptions(), value, maxAgeMs, this.options.clock()));
    noStore(response, true);
  }

  // The bound cookie goes where the session cookie goes, with the same attributes.
  private boundCookieOptions(): ResolvedCookieOptions {
    return { ...this.options.cookie!, name: this.options.deviceBound!.cookieName };
  }
}

/** @deprecated Since 0.2: `SessionTransport` (it reads bearer tokens too); the same provider. */
export const SessionCookies = SessionTransport;
/** @deprecated Since 0.2: `SessionTransport`. */
export type SessionCookies = SessionTransport;
