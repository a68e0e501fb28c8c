import { type CanActivate, type ExecutionContext, ForbiddenException, Inject, Injectable, Logger } from '@nestjs/common';
import { SessionTransport } from './session-transport.js';
import { builtInExchange } from '../transports/session-exchange.js';
import { inTransportTerms } from '../transports/transport-errors.js';

/**
 * SessionGuard's cross-origin rule for routes that have no session yet: a login or register
 * form posted from another site would log the victim in as the attacker (login CSRF), and the
 * SameSite cookie cannot help, since there is none yet. Refuses an unsafe method (anything but
 * GET, HEAD, OPTIONS, TRACE) with `403 {"statusCode":403,"message":"Forbidden"}` when its Origin
 * is neither the request's own nor in `csrf.trustedOrigins`, or when it has no Origin and
 * `Sec-Fetch-Site` says `cross-site` or `same-site`; whatever credentials it carries, since
 * the route does not look at them. `csrf: false` turns it off with the rest.
 *
 * `@UseGuards(SameOriginGuard)` on the route or controller; beside `@Public()` when
 * SessionGuard is global, which `@Public()` skips and this does not. Over HTTP and GraphQL; a
 * gateway's messages pass.
 */
@Injectable()
export class SameOriginGuard implements CanActivate {
  private readonly logger = new Logger('SameOriginGuard');

  // Explicit token, as in SessionGuard: no decorator metadata under tsx or esbuild.
  constructor(@Inject(SessionTransport) private readonly transport: SessionTransport) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const type = context.getType<string>();
    if (type !== 'http' && type !== 'graphql') return true;
    const refusal = this.transport.originRefusal(builtInExchange(context).request);
    if (refusal === undefined) return true;
    this.logger.debug(`forbidden: ${refusal}`);
    throw await inTransportTerms(new ForbiddenException(), type);
  }
}
