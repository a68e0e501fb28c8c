import {
  BadRequestException,
  Body,
  Controller,
  Get,
  HttpCode,
  Injectable,
  Patch,
  type PipeTransform,
  Post,
  Req,
  type Type,
  UnauthorizedException,
  UseGuards,
} from '@nestjs/common';
import { IsString } from 'class-validator';
import { CurrentSession, CurrentUser, type Duration, RequireSession, SessionService, SessionTransport, type ValidatedSession } from 'nestjs-sessions';
import { LoginThrottleGuard } from './login-throttle.js';
import { type PublicUser, UsersService } from './users.service.js';

type Request = Parameters<SessionTransport['readToken']>[0];

export class PasswordDto {
  // As at login, no length rule: a wrong password of any length is a 401.
  @IsString({ message: 'password must be a string' })
  password: string;
}

/** `POST /auth/reauthenticate`; registered only with the `reauthentication` option, which it needs. */
@Controller('auth')
export class ReauthenticationController {
  constructor(
    private readonly users: UsersService,
    private readonly sessions: SessionService,
    private readonly transport: SessionTransport,
    private readonly throttle: LoginThrottleGuard,
  ) {}

  /**
   * The password of the user already logged in, asked again before a sensitive action. A wrong
   * one gets the generic 401 and leaves the session as it was: it stays logged in, not fresh.
   * Throttled as a login at the user's email (after the session guard, which names the user):
   * a stolen session must not be a way to guess its owner's password without limit.
   */
  @Post('reauthenticate')
  @UseGuards(LoginThrottleGuard)
  @HttpCode(204)
  async reauthenticate(@CurrentUser() user: PublicUser, @Body() body: PasswordDto, @Req() request: Request): Promise<void> {
    await this.throttle.judged(request, async () => {
      if (!(await this.users.checkPassword(user.id, body.password))) throw new UnauthorizedException();
    });
    // False when the session ended between the guard and here (a logout elsewhere).
    if (!(await this.sessions.markReauthenticated(this.transport.readToken(request)?.token, this.transport.client(request)))) {
      throw new UnauthorizedException();
    }
  }
}

/**
 * `GET /me/security`, for a user who proved who they are within `freshWithin`. The class is made
 * per app because `@RequireSession` takes its duration when the class is decorated, and the demo
 * reads it from SESSION_FRESH_AGE at start: decorating a shared class in place would let the
 * last app built (the tests build several) set it for all of them.
 */
export function securityController(freshWithin: Duration): Type {
  @Controller('me')
  class SecurityController {
    // The guard answers 403 reauthentication_required before this runs.
    @RequireSession({ freshWithin })
    @Get('security')
    security(@CurrentSession() session: ValidatedSession) {
      return { reauthenticatedAt: session.reauthenticatedAt };
    }
  }
  return SecurityController;
}

// What a JSON parser or a merge treats specially; the library refuses them as keys of session data.
const RESERVED_KEYS = new Set(['', '__proto__', 'constructor', 'prototype']);

/**
 * A body of arbitrary keys, so it cannot be a DTO for the global ValidationPipe (whose
 * forbidNonWhitelisted would refuse every key): only a plain JSON object with ordinary keys
 * gets through, anything else a generic 400.
 */
@Injectable()
export class ParseJsonObjectPipe implements PipeTransform<unknown, Record<string, unknown>> {
  transform(value: unknown): Record<string, unknown> {
    const plain = value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype;
    if (!plain || Object.keys(value).some((key) => RESERVED_KEYS.has(key))) throw new BadRequestException('Expected a JSON object');
    return value as Record<string, unknown>;
  }
}

/** `GET` and `PATCH /session/data`; registered only with the `data` option. */
@Controller('session/data')
export class SessionDataController {
  constructor(
    private readonly sessions: SessionService,
    private readonly transport: SessionTransport,
  ) {}

  @Get()
  read(@CurrentSession() session: ValidatedSession) {
    return session.data;
  }

  /** Merges the body's top-level keys (null removes one); 413 past `data.maxBytes`, with nothing written. */
  @Patch()
  async update(@Body(ParseJsonObjectPipe) patch: Record<string, unknown>, @Req() request: Request) {
    const data = await this.sessions.updateSessionData(this.transport.readToken(request)?.token, patch, this.transport.client(request));
    if (data === null) throw new UnauthorizedException();
    return data;
  }
}
