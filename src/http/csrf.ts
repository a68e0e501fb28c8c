import { show } from '../options/option-checks.js';
import type { HttpRequestLike } from './session-transport.js';

/** What the origin rule reads of a request, beyond its headers: Express's and Fastify's alike. */
export interface OriginRequestLike extends HttpRequestLike {
  method?: string;
  /** Express's `req.protocol` and Fastify's `request.protocol`: X-Forwarded-Proto only where the proxy is trusted. */
  protocol?: unknown;
  /** Express 5's `req.host` and Fastify's `request.host` (with the port): X-Forwarded-Host only where the proxy is trusted. */
  host?: unknown;
  socket?: { encrypted?: unknown };
}

// RFC 9110's safe methods. Everything else is checked: a browser sends only POST without a
// preflight, but a CORS policy that lets PUT or DELETE through must not open a hole here.
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE']);
// An origin as browsers serialize it. The '@' and '\' are refused before URL sees them: URL
// would read 'https://a.com@evil.com' as evil.com.
const ORIGIN = /^https?:\/\/[^/?#@\\\s]+$/i;

/**
 * `value` as browsers serialize an origin (lower-case host, no default port), or null when it
 * is not an http(s) origin of a host and an optional port: `'null'`, a path, credentials.
 */
export function parseOrigin(value: string): string | null {
  if (!ORIGIN.test(value)) return null;
  try {
    return new URL(value).origin;
  } catch {
    return null;
  }
}

function single(value: string | string[] | undefined): string | undefined {
  // Node joins a repeated Origin into one value, which then parses as no origin at all.
  return Array.isArray(value) ? value.join(', ') : value;
}

/**
 * The origin this request was addressed to: its scheme and Host, or the forwarded ones where
 * the adapter trusts the proxy (Express's `trust proxy`, Fastify's `trustProxy`), since the
 * adapter alone knows which hops to believe. Null without a usable Host.
 */
export function requestOrigin(request: OriginRequestLike): string | null {
  const protocol = typeof request.protocol === 'string' ? request.protocol : request.socket?.encrypted ? 'https' : 'http';
  const host = typeof request.host === 'string' && request.host !== '' ? request.host : single(request.headers.host);
  return host ? parseOrigin(`${protocol}://${host}`) : null;
}

/**
 * Why `request` must be refused as a write from another origin, or undefined when it may go on:
 * a safe method; an Origin that is the request's own or trusted; no Origin and no Fetch Metadata
 * saying another site sent it (a client that is not a browser sends neither header, and
 * a browser always sends Origin on a cross-origin POST). `Origin: null` (a sandboxed frame, a
 * redirect across origins, a file: page) is nobody's, so it is foreign.
 */
export function crossOriginRefusal(request: OriginRequestLike, trustedOrigins: ReadonlySet<string>): string | undefined {
  // A request without a method is no HTTP request a browser made (a socket's handshake data).
  const method = typeof request.method === 'string' ? request.method.toUpperCase() : 'GET';
  if (SAFE_METHODS.has(method)) return undefined;
  const origin = single(request.headers.origin);
  if (origin !== undefined) {
    const parsed = parseOrigin(origin);
    const own = requestOrigin(request);
    if (parsed !== null && (parsed === own || trustedOrigins.has(parsed))) return undefined;
    const proxied = request.headers['x-forwarded-host'] !== undefined || request.headers['x-forwarded-proto'] !== undefined;
    const hint = proxied || (parsed !== null && own !== null && new URL(parsed).host === new URL(own).host)
      ? ' (behind a proxy: trust it, Express trust proxy or Fastify trustProxy, so its forwarded host and scheme count, or list the origin in csrf.trustedOrigins)'
      : '';
    return `${method} with Origin ${show(origin)}, which is neither this request's origin (${own ?? 'none: no Host'}) nor in csrf.trustedOrigins${hint}`;
  }
  const site = single(request.headers['sec-fetch-site'])?.toLowerCase();
  if (site === 'cross-site' || site === 'same-site') return `${method} with no Origin and Sec-Fetch-Site: ${site}`;
  return undefined;
}
