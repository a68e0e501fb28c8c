import { Inject, Injectable } from '@nestjs/common';
import { SESSION_OPTIONS } from '../session.constants.js';
import type { IssuedSession, SessionClientInfo } from '../core/session.interfaces.js';
import type { ResolvedSessionOptions } from '../options/resolve-options.js';
import { readCookies, serializeCookie } from './cookie.js';
import { isWellFormedToken } from '../tokens/opaque-token.js';

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

/** Express's `res`, Fastify's `reply`, or a bare `http.ServerResponse`. */
export type HttpResponseLike = object;

/** A token as a request presented it, and where it came from. */
export interface PresentedToken {
  token: string;
  from: 'bearer' | 'cookie';
}

const BEARER = /^Bearer +(\S+) *$/i;
// A JWS (three parts) or JWE (five), base64url; the signature is checked later.
const JWT_SHAPE = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]*){2}$|^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]*){4}$/;

function looksLikeJwt(value: string): boolean {
  return value.length <= 4096 && JWT_SHAPE.test(value);
}

/**
 * How a session token travels over HTTP: reads it from a request (`Authorization: Bearer`, or
 * the session cookie) and writes or clears the session cookie on a response, on Express and
 * Fastify alike, with no cookie middleware.
 */
@Injectable()
export class SessionTransport {
  constructor(@Inject(SESSION_OPTIONS) private readonly options: ResolvedSessionOptions) {}

  /**
   * The token a request carries: the Bearer token if there is an Authorization header (or a
   * socket.io handshake's `auth.token`), else the first well-formed session cookie (a duplicate planted by a parent domain cannot shadow ours).
   * Undefined when there is none; a malformed bearer comes back as-is, to be refused.
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
    const token = values.find(this.options.tokenType === 'jwt' ? looksLikeJwt : isWellFormedToken) ?? values[0];
    return token === undefined ? undefined : { token, from: 'cookie' };
  }

  /**
   * What the service is told of the client behind `request`: its User-Agent, its address (for
   * `metadata.ip`: the adapter's `request.ip`, so `trust proxy` applies), and whether a renewed
   * token can be sent back (`rotatable`: the token came in a cookie and a response is at hand).
   * Pass it to the service calls that take a client, as the guard does, and to `createSession`.
   */
  client(request: HttpRequestLike, rotatable = false): SessionClientInfo & { rotatable: boolean } {
    const userAgent = request.headers['user-agent'];
    return { userAgent: typeof userAgent === 'string' ? userAgent : '', ip: this.options.metadata?.ip ? addressOf(request) : null, rotatable };
  }

  /** Sets the session cookie for a new or rotated session (Max-Age runs to its expiry). */
  write(response: HttpResponseLike, issued: Pick<IssuedSession, 'token'> & { session: { expires: Date } }): void {
    if (!this.options.cookie) return;
    const now = this.options.clock();
    appendSetCookie(response, serializeCookie(this.options.cookie, issued.token, issued.session.expires.getTime() - now, now));
  }

  /** Deletes the session cookie (logout). */
  clear(response: HttpResponseLike): void {
    if (!this.options.cookie) return;
    appendSetCookie(response, serializeCookie(this.options.cookie, '', 0, this.options.clock()));
  }
}

interface FastifyReplyLike {
  raw: unknown;
  getHeader(name: string): string | string[] | number | undefined;
  removeHeader(name: string): unknown;
  header(name: string, value: string | string[]): unknown;
}
interface NodeResponseLike {
  getHeader(name: string): number | string | string[] | undefined;
  setHeader(name: string, value: string | string[]): unknown;
}

// One cookie of ours per response: a refresh followed by a logout keeps only the logout.
function replacing(existing: number | string | string[] | undefined, cookie: string): string[] {
  const cookies = existing === undefined ? [] : Array.isArray(existing) ? existing : [String(existing)];
  const name = cookie.slice(0, cookie.indexOf('=') + 1);
  return [...cookies.filter((c) => !c.startsWith(name)), cookie];
}

function appendSetCookie(response: HttpResponseLike, cookie: string): void {
  const reply = response as Partial<FastifyReplyLike>;
  if (typeof reply.header === 'function' && reply.raw) {
    const cookies = replacing(reply.getHeader!('set-cookie'), cookie);
    reply.removeHeader!('set-cookie');
    reply.header('set-cookie', cookies);
    return;
  }
  const res = response as NodeResponseLike;
  res.setHeader('set-cookie', replacing(res.getHeader('set-cookie'), cookie));
}

/** @deprecated Since 0.2: `SessionTransport` (it reads bearer tokens too); the same provider. */
export const SessionCookies = SessionTransport;
/** @deprecated Since 0.2: `SessionTransport`. */
export type SessionCookies = SessionTransport;
