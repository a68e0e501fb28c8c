import { Body, Controller, Delete, Get, HttpCode, NotFoundException, Param, Post, Req, Res, UseGuards } from '@nestjs/common';
import { CurrentSession, CurrentUser, Public, type Session, SessionCookies, SessionService } from '../session/index.js';
import { CredentialsDto } from './credentials.dto.js';
import { LocalAuthGuard } from './local.strategy.js';
import { type PublicUser, UsersService } from './users.service.js';

type Request = Parameters<SessionCookies['readToken']>[0];
type Response = object;

/** Starts a session for `user`: a new token every login, never one the client brought along. */
export async function startSession(sessions: SessionService, cookies: SessionCookies, request: Request, response: Response, user: PublicUser) {
  // Whatever session this client held before (a previous login, or a token planted on it) ends here.
  const previous = cookies.readToken(request);
  if (previous) await sessions.destroySession(previous.token);
  const issued = await sessions.createSession({ userId: user.id });
  cookies.write(response, issued);
  return issued;
}

@Controller('auth')
export class AuthController {
  constructor(
    private readonly users: UsersService,
    private readonly sessions: SessionService,
    private readonly cookies: SessionCookies,
  ) {}

  @Public()
  @Post('register')
  register(@Body() body: CredentialsDto): Promise<PublicUser> {
    return this.users.register(body.email, body.password);
  }

  @Public()
  @UseGuards(LocalAuthGuard)
  @Post('login')
  @HttpCode(200)
  async login(@CurrentUser() user: PublicUser, @Req() request: Request, @Res({ passthrough: true }) response: Response) {
    const { token, session } = await startSession(this.sessions, this.cookies, request, response, user);
    return { token, expiresAt: session.expires };
  }

  @Post('logout')
  @HttpCode(204)
  async logout(@Req() request: Request, @Res({ passthrough: true }) response: Response): Promise<void> {
    await this.sessions.destroySession(this.cookies.readToken(request)?.token);
    this.cookies.clear(response);
  }

  @Post('logout-all')
  @HttpCode(204)
  async logoutAll(@CurrentUser() user: PublicUser, @Res({ passthrough: true }) response: Response): Promise<void> {
    await this.sessions.invalidateAllUserSessions(user.id);
    this.cookies.clear(response);
  }
}

@Controller()
export class AccountController {
  constructor(
    private readonly sessions: SessionService,
    private readonly cookies: SessionCookies,
  ) {}

  @Get('me')
  me(@CurrentUser() user: PublicUser): PublicUser {
    return { id: user.id, email: user.email };
  }

  @Get('sessions')
  async list(@CurrentUser() user: PublicUser, @CurrentSession() current: Session) {
    const sessions = await this.sessions.listUserSessions(user.id);
    return sessions.map((s) => ({ id: s.id, createdAt: s.createdAt, expiresAt: s.expires, current: s.id === current.id }));
  }

  @Delete('sessions/:id')
  @HttpCode(204)
  async revoke(
    @CurrentUser() user: PublicUser,
    @CurrentSession() current: Session,
    @Param('id') id: string,
    @Res({ passthrough: true }) response: Response,
  ): Promise<void> {
    // Someone else's session and no session at all look the same: 404.
    if (!(await this.sessions.revokeUserSession(user.id, id))) throw new NotFoundException();
    if (id === current.id) this.cookies.clear(response);
  }
}
