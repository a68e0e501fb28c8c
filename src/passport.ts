/** nestjs-sessions/passport: the session strategy for `AuthGuard('session')`. Needs @nestjs/passport and passport. */
export { SessionStrategy } from './http/session.strategy.js';
