import { BadRequestException, type ExecutionContext, Injectable, UnauthorizedException } from '@nestjs/common';
import { AuthGuard, PassportStrategy } from '@nestjs/passport';
import { plainToInstance } from 'class-transformer';
import { validate } from 'class-validator';
import { Strategy } from 'passport-local';
import { CredentialsDto } from './credentials.dto.js';
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

/** Validates the body first (400 with field errors), then runs passport-local (401). */
@Injectable()
export class LocalAuthGuard extends AuthGuard('local') {
  override async canActivate(context: ExecutionContext): Promise<boolean> {
    const body = context.switchToHttp().getRequest<{ body?: unknown }>().body;
    const errors = await validate(plainToInstance(CredentialsDto, body ?? {}));
    if (errors.length > 0) {
      throw new BadRequestException(errors.flatMap((e) => Object.values(e.constraints ?? {})));
    }
    return (await super.canActivate(context)) as boolean;
  }
}
