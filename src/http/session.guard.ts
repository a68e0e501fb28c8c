import { type CanActivate, type ExecutionContext, ForbiddenException, Inject, Injectable, Logger, UnauthorizedException } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { SessionTransport, type HttpRequestLike, type PresentedToken } from './session-transport.js';
import { IS_PUBLIC_KEY, type RouteRequirements, SESSION_REQUIREMENTS_KEY } from './session.decorators.js';
import type { SessionValidation } from '../core/session.interfaces.js';
import { ReauthenticationRequiredException } from '../core/session.exceptions.js';
import { attachSession } from './session.request.js';
import { noStore } from './response-headers.js';
import { builtInExchange, type SessionExchange } from '../transports/session-exchange.js';
import { bindSocket, isBound } from '../transports/socket-sessions.js';
import { inTransportTerms } from '../transports/transport-errors.js';
import { SessionService } from '../core/session.service.js';

interface RouteMetadata {
  open: boolean;
  requirements: RouteRequirements | undefined;
}

/**
 * Lets a call through only with a live session: from the session cookie or
 * `Authorization: Bearer` (or socket.io's `auth.token`). Attaches the user (`request.user`,
 * `@CurrentUser()`) and the session (`@CurrentSession()`), and re-sends the cookie when the
 * expiry slid or the token was renewed. 401 with a generic body when there is no valid
 * session; 403 when the session lacks a permission `@RequireSession()` asks for; 503 when the
 * store fails or times out. On GraphQL these are errors with `extensions.code`
 * UNAUTHENTICATED, FORBIDDEN and SERVICE_UNAVAILABLE; on a gateway, WsExceptions.
 *
 * Over HTTP (GraphQL too) it also refuses, with 403 and before the session is touched, a
 * cookie-authenticated write from another origin (the `csrf` option), and answers with
 * `Cache-Control: no-store` unless something already set one; a route's own
 * `@Header('Cache-Control', …)` replaces it, since Nest applies it after the guards.
 *
 * Per controller with `@UseGuards(SessionGuard)`, or app-wide as an `APP_GUARD` with
 * `@Public()` on the routes that need no session. Extend it and override the protected hooks
 * to read the token elsewhere or attach more to the request.
 */
@Injectable()
export class SessionGuard implements CanActivate {
  protected readonly logger = new Logger('SessionGuard');
  // Route metadata per controller class and handler, read once: it does not change at run time,
  // and reading it costs more than the rest of a cache hit. Keyed by class too, because a handler
  // inherited by two controllers is one function.
  private readonly routes = new WeakMap<object, WeakMap<object, RouteMetadata>>();

  // Explicit tokens: the guard must resolve even where no decorator metadata is emitted (tsx, esbuild).
  constructor(
    @Inject(SessionService) protected readonly sessions: SessionService,
    @Inject(SessionTransport) protected readonly transport: SessionTransport,
    @Inject(Reflector) protected readonly reflector: Reflector,
  ) {}

  /**
   * True, or throws the refusal. Synchronous on a cache hit (no promise, as Nest allows): most
   * requests are one, and the promises of an async guard cost each of them CPU.
   */
  canActivate(context: ExecutionContext): boolean | Promise<boolean> {
    if (this.shouldSkip(context)) return true;
    const type = context.getType<string>();
    try {
      const pending = this.authorize(context, type);
      if (pending === undefined) return true;
      return pending.then(
        () => true,
        (error: unknown) => this.refuse(error, type),
      );
    } catch (error) {
      return this.refuse(error, type);
    }
  }

  private async refuse(error: unknown, type: string): Promise<never> {
    throw await inTransportTerms(error, type);
  }

  // Undefined when the request was let through without waiting; a promise when the store was asked.
  private authorize(context: ExecutionContext, type: string): Promise<void> | undefined {
    const exchange = this.getRequestResponse(context);
    const { request, holder, response } = exchange;
    // A WebSocket's handshake is its adapter's to check; it has no response to cache either.
    const overHttp = type === 'http' || type === 'graphql';
    // Before anything can fail: a 401 or 403 is as personal as a 200.
    if (overHttp && response) noStore(response);
    const presented = this.getToken(request, context);
    if (presented === undefined) {
      this.logger.debug('refused: no session token');
      throw new UnauthorizedException();
    }
    const fromCookie = presented.from === 'cookie';
    // Only a cookie rides along unasked on a forged request; a bearer token is sent by code that holds it.
    const foreign = fromCookie && overHttp ? this.transport.originRefusal(request) : undefined;
    if (foreign !== undefined) {
      this.logger.debug(`forbidden: ${foreign}`);
      throw new ForbiddenException();
    }
    const rotatable = fromCookie && response !== undefined;
    // A socket is checked against the store once, then watched: its session's end closes it.
    if (type === 'ws' && !isBound(holder)) {
      return bindSocket(this.sessions, holder, presented.token, this.transport.client(request, rotatable), (socket, v) => this.attach(socket, v, context)).then((v) => this.admit(v, context, exchange, presented));
    }
    const client = this.transport.requestClient(request, rotatable);
    // No closure made before it is needed: a hit (most requests) makes none.
    const known = this.sessions.authenticateNow(presented.token, client);
    if (known !== undefined) return this.admit(known, context, exchange, presented);
    return this.sessions.authenticate(presented.token, client).then((v) => this.admit(v, context, exchange, presented));
  }

  private admit(validation: SessionValidation | null, context: ExecutionContext, exchange: SessionExchange, presented: PresentedToken): undefined {
    const { request, holder, response } = exchange;
    if (!validation) throw new UnauthorizedException();
    // A session bound to a device key (DBSC) needs its short bound cookie too, whatever carried the token.
    if (this.sessions.devices && !this.sessions.devices.admits(validation.session, this.transport.readBoundCookie(request))) {
      this.logger.debug(`refused: session ${validation.session.id} is device-bound and the request has no live bound cookie`);
      throw new UnauthorizedException();
    }
    this.attach(holder, validation, context);
    // A bearer client manages its own token; only a cookie is re-sent with the new Max-Age.
    if (validation.refreshed && presented.from === 'cookie' && response) {
      this.transport.write(response, { token: validation.renewedToken ?? presented.token, session: validation.session });
    }
    this.checkRequirements(validation, context);
    return undefined;
  }

  /**
   * Where this call's token is read, its session attached and a renewed cookie written: built in
   * for HTTP (Express, Fastify), GraphQL (Apollo, Mercurius) and gateways (socket.io, ws).
   * Override it for a transport of your own; the decorators read the built-in places.
   */
  protected getRequestResponse(context: ExecutionContext): SessionExchange {
    return builtInExchange(context);
  }

  /** @deprecated Since 0.2: `transport`. */
  protected get cookies(): SessionTransport {
    return this.transport;
  }

  /** True for routes marked `@Public()`, handler first, then the controller. */
  protected shouldSkip(context: ExecutionContext): boolean {
    return this.route(context).open;
  }

  /**
   * 403 unless the session has every permission the route's `@RequireSession()` names; 403
   * `reauthentication_required` when the route asks for `freshWithin` and the user last proved
   * who they are longer ago.
   */
  protected checkRequirements(validation: SessionValidation, context: ExecutionContext): void {
    const requirements = this.route(context).requirements;
    if (!requirements) return;
    const missing = requirements.permissions.filter((permission) => !validation.session.permissions.includes(permission));
    if (missing.length > 0) {
      this.logger.debug(`forbidden: session ${validation.session.id} lacks ${missing.join(', ')}`);
      throw new ForbiddenException();
    }
    if (requirements.freshWithinMs !== null && !this.sessions.isFresh(validation.session, requirements.freshWithinMs)) {
      this.logger.debug(`forbidden: session ${validation.session.id} last authenticated at ${validation.session.reauthenticatedAt.toISOString()}`);
      throw new ReauthenticationRequiredException();
    }
  }

  private route(context: ExecutionContext): RouteMetadata {
    const handler = context.getHandler();
    const controller = context.getClass();
    if (typeof handler !== 'function' || typeof controller !== 'function') return this.readRoute(handler, controller);
    let handlers = this.routes.get(controller);
    if (!handlers) this.routes.set(controller, (handlers = new WeakMap()));
    let route = handlers.get(handler);
    if (route === undefined) handlers.set(handler, (route = this.readRoute(handler, controller)));
    return route;
  }

  private readRoute(handler: unknown, controller: unknown): RouteMetadata {
    const targets = [handler, controller] as Parameters<Reflector['getAllAndOverride']>[1];
    return {
      open: this.reflector.getAllAndOverride<boolean>(IS_PUBLIC_KEY, targets) === true,
      requirements: this.reflector.getAllAndOverride<RouteRequirements | undefined>(SESSION_REQUIREMENTS_KEY, targets),
    };
  }

  /** The token this request presents; by default the bearer token, else the session cookie. */
  protected getToken(request: HttpRequestLike, _context: ExecutionContext): PresentedToken | undefined {
    return this.transport.readToken(request);
  }

  /** Puts the user and session where the decorators find them (`holder.user` and the session). */
  protected attach(holder: object, validation: SessionValidation, _context: ExecutionContext): void {
    attachSession(holder, validation);
  }
}
