import { BadRequestException, type ExecutionContext, Injectable, UnauthorizedException } from '@nestjs/common';
import { AuthGuard, PassportStrategy } from '@nestjs/passport';
import { plainToInstance } from 'class-transformer';
import { validate } from 'class-validator';
import { Strategy } from 'passport-local';
import { LoginDto } from './credentials.dto.js';
import { LoginThrottleGuard } from './login-throttle.js';
import { type PublicUser, UsersService } from './users.service.js';

/** passport-local on `email` and `password`. */
@Injectable()
export class LocalStrategy extends PassportStrategy(Strategy, 'local') {
  constructor(private readonly users: UsersService) {
    super({ usernameField: 'email', passwordField: 'password' });
  }

  async validate(email: string, password: string): Promise<PublicUser> {
    const user = await this.users.checkCredentials(email, password);
    // One answer for an unknown email and a wrong password.
    if (!user) throw new UnauthorizedException('Invalid email or password.');
    return user;
  }
}

/**
 * A login, in this order: the body must be two strings (400 with field errors; no password is
 * tried, so nothing is counted), then the throttling counts the attempt (429 past a limit,
 * before any scrypt work), then passport-local checks the password (401). A login that
 * succeeds, or fails for another reason than its credentials, takes its attempt back from its
 * email's count.
 */
@Injectable()
export class LocalAuthGuard extends AuthGuard('local') {
  constructor(private readonly throttle: LoginThrottleGuard) {
    super();
  }

  override async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest<{ body?: unknown }>();
    const errors = await validate(plainToInstance(LoginDto, request.body ?? {}));
    if (errors.length > 0) {
      throw new BadRequestException(errors.flatMap((e) => Object.values(e.constraints ?? {})));
    }
    await this.throttle.canActivate(context);
    await this.throttle.judged(request, async () => super.canActivate(context));
    return true;
  }
}
