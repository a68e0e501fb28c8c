import { createParamDecorator, type ExecutionContext, SetMetadata } from '@nestjs/common';
import type { SessionRequirements } from '../core/session.interfaces.js';
import { parseDuration } from '../options/duration.js';
import { getRequestSession } from './session.request.js';
import { builtInExchange, sessionHolder } from '../transports/session-exchange.js';

/** Metadata key set by `@Public()`. */
export const IS_PUBLIC_KEY = 'nestjs-sessions:public';

/** Lets a route (or a whole controller) through a global `SessionGuard` without a session. */
export const Public = (): MethodDecorator & ClassDecorator => SetMetadata(IS_PUBLIC_KEY, true);

/** The user the session guard attached (`request.user`; on a gateway, the socket's). */
export const CurrentUser = createParamDecorator((_data: unknown, context: ExecutionContext) => {
  return (sessionHolder(context) as { user?: unknown } | undefined)?.user;
});

/** Metadata key set by `@RequireSession()`. */
export const SESSION_REQUIREMENTS_KEY = 'nestjs-sessions:requirements';

/** `@RequireSession()` as the guard reads it: the permissions, and `freshWithin` in milliseconds. */
export interface RouteRequirements {
  permissions: string[];
  freshWithinMs: number | null;
}

/**
 * What a route (or a whole controller) needs of the session beyond its being live, checked by
 * `SessionGuard`: `@RequireSession({ permissions: ['admin'] })` answers 403 to a session whose
 * `resolvePermissions` result lacks one of them; `@RequireSession({ freshWithin: '10m' })`
 * answers `403 {"error":"reauthentication_required"}` unless the user logged in or was
 * `markReauthenticated` within 10 minutes. A handler's requirement replaces its controller's.
 */
export const RequireSession = (requirements: SessionRequirements = {}): MethodDecorator & ClassDecorator => {
  const permissions = requirements?.permissions ?? [];
  if (!Array.isArray(permissions) || !permissions.every((p) => typeof p === 'string' && p !== '')) {
    throw new TypeError(`@RequireSession: permissions must be a list of permission names such as ['admin'], got ${JSON.stringify(permissions)}.`);
  }
  let freshWithinMs: number | null = null;
  if (requirements?.freshWithin !== undefined) {
    const ms = parseDuration(requirements.freshWithin);
    if (ms === undefined || ms <= 0) throw new TypeError(`@RequireSession: freshWithin must be a duration such as '10m', got ${JSON.stringify(requirements.freshWithin)}.`);
    freshWithinMs = ms;
  }
  return SetMetadata(SESSION_REQUIREMENTS_KEY, { permissions: [...permissions], freshWithinMs } satisfies RouteRequirements);
};

/**
 * The session the guard validated for this request: `{ id, userId, expires, createdAt,
 * permissions, context }` (a `ValidatedSession`).
 */
export const CurrentSession = createParamDecorator((_data: unknown, context: ExecutionContext) => {
  const holder = sessionHolder(context);
  return holder && getRequestSession(holder);
});

/**
 * Where this call's token is read and its cookie written, on any transport: `{ request, response,
 * holder }` (a `SessionExchange`). For a logout that must clear the cookie from a GraphQL
 * resolver as from a controller: `transport.clear(exchange.response)`.
 */
export const CurrentExchange = createParamDecorator((_data: unknown, context: ExecutionContext) => builtInExchange(context));
