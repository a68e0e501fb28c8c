import { Body, Controller, Get, HttpCode, Post, Req, Res } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { CurrentSession, CurrentUser, type HttpRequestLike, type HttpResponseLike, Public, type Session, SessionService, SessionTransport } from 'nestjs-sessions';
import type { Repository } from 'typeorm';
import { User } from './user.entity.js';

@Controller()
export class AuthController {
  constructor(
    @InjectRepository(User) private readonly users: Repository<User>,
    private readonly sessions: SessionService,
    private readonly transport: SessionTransport,
  ) {}

  /** POST /login {"name":"ada"}: no password in this example; check real credentials here. */
  @Public()
  @Post('login')
  @HttpCode(200)
  async login(@Body() body: { name?: unknown }, @Res({ passthrough: true }) response: HttpResponseLike) {
    const name = typeof body?.name === 'string' && body.name ? body.name : 'demo';
    await this.users.upsert({ name }, ['name']); // a user on the fly, for the example
    const user = await this.users.findOneByOrFail({ name });
    const issued = await this.sessions.createSession({ userId: user.id });
    this.transport.write(response, issued); // the session cookie (HttpOnly, Secure, SameSite=Lax)
    return { token: issued.token, expiresAt: issued.session.expires }; // for bearer clients
  }

  /** GET /me: the guard accepted the cookie or `Authorization: Bearer <token>`. */
  @Get('me')
  me(@CurrentUser() user: User, @CurrentSession() session: Session) {
    return { user, sessionId: session.id };
  }

  /** POST /logout: the token is dead at once, in this process and (broadcast) every other. */
  @Post('logout')
  @HttpCode(204)
  async logout(@Req() request: HttpRequestLike, @Res({ passthrough: true }) response: HttpResponseLike): Promise<void> {
    await this.sessions.revokeSession(this.transport.readToken(request)?.token);
    this.transport.clear(response);
  }
}
