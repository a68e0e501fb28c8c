import { createParamDecorator, type ExecutionContext, SetMetadata } from '@nestjs/common';
import { getRequestSession } from './session.request.js';

/** Metadata key set by `@Public()`. */
export const IS_PUBLIC_KEY = 'nestjs-sessions:public';

/** Lets a route (or a whole controller) through a global `SessionGuard` without a session. */
export const Public = (): MethodDecorator & ClassDecorator => SetMetadata(IS_PUBLIC_KEY, true);

/** The user the session guard attached to the request (`request.user`). */
export const CurrentUser = createParamDecorator((_data: unknown, context: ExecutionContext) => {
  return context.switchToHttp().getRequest<{ user?: unknown }>().user;
});

/** The `Session` the session guard validated for this request: `{ id, userId, expires, createdAt }`. */
export const CurrentSession = createParamDecorator((_data: unknown, context: ExecutionContext) => {
  return getRequestSession(context.switchToHttp().getRequest());
});
