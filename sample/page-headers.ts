import type { IncomingMessage, ServerResponse } from 'node:http';
import helmet from 'helmet';

type Middleware = (request: IncomingMessage, response: ServerResponse, next: (error?: unknown) => void) => void;

/**
 * helmet's headers for the HTML pages (PagesController), as a Nest middleware: it runs before
 * the guards, so the pages a guard or the login refuses (rendered by the pages' error filter)
 * get them too, on Express and on Fastify (whose middleware sees Node's own request and
 * response, which is what helmet writes to).
 *
 * - `contentSecurityPolicy: false`: each page sets its own, stricter CSP (pages.controller.ts:
 *   no script, no framing, forms to this origin only), which helmet's default would replace.
 * - `X-Content-Type-Options: nosniff`; `Referrer-Policy: same-origin`, no referrer for other
 *   sites. Not helmet's `no-referrer`: under it a browser sends `Origin: null` with the page's
 *   own form posts (the Fetch standard's rule), which the cross-origin check (SameOriginGuard,
 *   and SessionGuard's on the account forms) must refuse as nobody's origin. `X-Frame-Options:
 *   DENY` to match the CSP's `frame-ancestors 'none'` for browsers without CSP, and helmet's
 *   other defaults (Cross-Origin-Opener-Policy and -Resource-Policy same-origin,
 *   Origin-Agent-Cluster, X-DNS-Prefetch-Control off, …).
 * - HSTS (a year, subdomains included) only when the cookie is Secure, i.e. the demo is meant
 *   to be served over HTTPS; over plain http (COOKIE_SECURE=false) it would be a promise the
 *   server cannot keep, and browsers ignore it there anyway.
 */
export function pageHeaders(secure: boolean): Middleware {
  return helmet({
    contentSecurityPolicy: false,
    referrerPolicy: { policy: 'same-origin' },
    xFrameOptions: { action: 'deny' },
    strictTransportSecurity: secure ? { maxAge: 365 * 24 * 60 * 60, includeSubDomains: true } : false,
  }) as Middleware;
}
