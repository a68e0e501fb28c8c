import { ForbiddenException, Inject, Injectable, Logger } from '@nestjs/common';
import { PassportStrategy } from '@nestjs/passport';
import { Strategy } from 'passport-strategy';
import { SessionTransport, type HttpRequestLike } from './session-transport.js';
import { setRequestSession } from './session.request.js';
import { noStore } from './response-headers.js';
import { SessionService } from '../core/session.service.js';

const logger = new Logger('SessionStrategy');

type Verify = (request: HttpRequestLike, done: (error: unknown, user?: unknown) => void) => void;

/** A passport strategy that hands the whole request to `verify`; the mixin below supplies it. */
class RequestStrategy extends Strategy {
  constructor(private readonly verify: Verify) {
    super();
  }

  override authenticate(request: HttpRequestLike): void {
    this.verify(request, (error, user) => {
      if (error) this.error(error as Error);
      else if (user) this.success(user);
      else this.fail(401);
    });
  }
}

/**
 * The session guard as a passport strategy named `'session'`, for apps built on
 * `AuthGuard('session')`. Add it to a module's providers next to SessionModule. (It replaces
 * passport's own `'session'` strategy, which only serves express-session and is unused here.)
 * It refuses a cookie-authenticated write from another origin with 403, as the guard does.
 */
@Injectable()
export class SessionStrategy extends PassportStrategy(RequestStrategy, 'session') {
  constructor(
    @Inject(SessionService) private readonly sessions: SessionService,
    @Inject(SessionTransport) private readonly transport: SessionTransport,
  ) {
    super();
  }

  async validate(request: HttpRequestLike & { res?: object }): Promise<unknown> {
    if (request.res) noStore(request.res);
    const presented = this.transport.readToken(request);
    if (!presented) return null;
    // AuthGuard throws what the strategy errs with, so this stays a 403 and not passport's 401.
    const foreign = presented.from === 'cookie' ? this.transport.originRefusal(request) : undefined;
    if (foreign !== undefined) {
      logger.debug(`forbidden: ${foreign}`);
      throw new ForbiddenException();
    }
    const canWrite = presented.from === 'cookie' && request.res !== undefined;
    const validation = await this.sessions.authenticate(presented.token, this.transport.client(request, canWrite));
    if (!validation) return null;
    setRequestSession(request, validation.session);
    // Passport sees only the request; Express links the response to it, so the cookie can slide.
    if (validation.refreshed && canWrite) {
      this.transport.write(request.res!, { token: validation.renewedToken ?? presented.token, session: validation.session });
    }
    return validation.user;
  }
}
