import { Body, Controller, Delete, Get, HttpCode, Logger, NotFoundException, Param, Post, Req, Res, UnauthorizedException, UseGuards } from '@nestjs/common';
import { IsString } from 'class-validator';
import {
  CurrentSession,
  CurrentUser,
  type IssuedSession,
  Public,
  RequireSession,
  SameOriginGuard,
  SessionTransport,
  SessionService,
  type ValidatedSession,
} from 'nestjs-sessions';
import type { AccountContext } from './account-context.js';
import { RegistrationDto } from './credentials.dto.js';
import { LocalAuthGuard } from './local.strategy.js';
import { type AccountUser, type PublicUser, UsersService } from './users.service.js';

type Request = Parameters<SessionTransport['readToken']>[0];
type Response = object;

/** Starts a session for `user`: a new token every login, never one the client brought along. */
export async function startSession(sessions: SessionService, transport: SessionTransport, request: Request, response: Response, user: PublicUser) {
  const client = transport.client(request);
  // Whatever session this client held before (a previous login, or a token planted on it) ends here.
  const previous = transport.readToken(request);
  if (previous) await sessions.revokeSession(previous.token, client);
  // The agent and address are what the session records of its device (the metadata option).
  const issued = await sessions.createSession({ userId: user.id, userAgent: client.userAgent, ip: client.ip });
  transport.write(response, issued);
  return issued;
}

/** The tokens of a login or a refresh as the API answers them; the refresh pair only when refresh tokens are on. */
function tokensOf(issued: IssuedSession) {
  const { token, session, refreshToken, refreshExpires } = issued;
  return { token, expiresAt: session.expires, ...(refreshToken === undefined ? {} : { refreshToken, refreshExpiresAt: refreshExpires }) };
}

/**
 * What registering answers, whether the email was free or taken: the same status and body, so
 * the route cannot be asked who has an account (the timing is the same too: a taken email is
 * hashed and inserted like a new one). A real app would mail the address here.
 */
export const REGISTERED = { message: 'If that email was not registered yet, it is now: log in with it.' } as const;

/** Registers, and logs (for the operator only) whether an account was made. */
export async function registerQuietly(users: UsersService, logger: Logger, { email, password }: RegistrationDto): Promise<void> {
  logger.log((await users.register(email, password)) ? 'registration: a new account' : 'registration: the email was taken, answered as for a new one');
}

export class RefreshDto {
  @IsString({ message: 'refreshToken must be a string' })
  refreshToken: string;
}

@Controller('auth')
export class AuthController {
  private readonly logger = new Logger('Auth');

  constructor(
    private readonly users: UsersService,
    private readonly sessions: SessionService,
    private readonly transport: SessionTransport,
  ) {}

  /**
   * 201 with the same body for a new and a taken email; 400 with the field errors (the password
   * policy); 403 for a post from another origin (SameOriginGuard: there is no session to protect
   * yet, so SessionGuard's own check does not run on these public routes).
   */
  @Public()
  @UseGuards(SameOriginGuard)
  @Post('register')
  async register(@Body() body: RegistrationDto): Promise<typeof REGISTERED> {
    await registerQuietly(this.users, this.logger, body);
    return REGISTERED;
  }

  /**
   * 200 with the tokens; 403 from another origin (login CSRF: logging the victim's browser in as
   * the attacker), refused before anything is counted or hashed; 400 unless two strings; 429
   * with Retry-After past the throttling's limits; 401 for anything wrong.
   */
  @Public()
  @UseGuards(SameOriginGuard, LocalAuthGuard)
  @Post('login')
  @HttpCode(200)
  async login(@CurrentUser() user: PublicUser, @Req() request: Request, @Res({ passthrough: true }) response: Response) {
    return tokensOf(await startSession(this.sessions, this.transport, request, response, user));
  }

  @Post('logout')
  @HttpCode(204)
  async logout(@Req() request: Request, @Res({ passthrough: true }) response: Response): Promise<void> {
    await this.sessions.revokeSession(this.transport.readToken(request)?.token, this.transport.client(request));
    this.transport.clear(response);
  }

  @Post('logout-all')
  @HttpCode(204)
  async logoutAll(@CurrentUser() user: PublicUser, @Res({ passthrough: true }) response: Response): Promise<void> {
    await this.sessions.revokeAllUserSessions(user.id);
    this.transport.clear(response);
  }
}

/** `POST /auth/refresh`; registered only when refresh tokens are on, so otherwise a 404. */
@Controller('auth')
export class RefreshController {
  constructor(
    private readonly sessions: SessionService,
    private readonly transport: SessionTransport,
  ) {}

  /**
   * Trades a refresh token for a new session token and refresh token; both old ones die. A used,
   * unknown, forged, expired (or, when bound, other-browser) refresh token gets the generic 401,
   * and a used one also ends the login it belonged to (someone else holds a copy).
   */
  @Public()
  @Post('refresh')
  @HttpCode(200)
  async refresh(@Body() body: RefreshDto, @Req() request: Request, @Res({ passthrough: true }) response: Response) {
    const issued = await this.sessions.refresh(body.refreshToken, this.transport.client(request));
    if (!issued) throw new UnauthorizedException();
    this.transport.write(response, issued);
    return tokensOf(issued);
  }
}

@Controller()
export class AccountController {
  constructor(
    private readonly sessions: SessionService,
    private readonly transport: SessionTransport,
  ) {}

  /** Who you are, and the account context cached with your session (see account-context.ts). */
  @Get('me')
  me(@CurrentUser() user: AccountUser, @CurrentSession() session: ValidatedSession<AccountContext>) {
    return { id: user.id, email: user.email, context: session.context };
  }

  /** Never gated by freshness: a user who suspects a stolen session must see it and end it at once. */
  @Get('sessions')
  async list(@CurrentUser() user: PublicUser, @CurrentSession() current: ValidatedSession) {
    const sessions = await this.sessions.listUserSessions(user.id);
    return sessions.map((s) => ({
      id: s.id,
      createdAt: s.createdAt,
      expiresAt: s.expires,
      // Only where the app keeps details (the demo's default; not every test app's).
      ...(s.metadata && { lastSeenAt: s.metadata.lastSeenAt, userAgent: s.metadata.userAgent, device: s.metadata.device, ip: s.metadata.ip }),
      deviceBound: s.deviceBound === true,
      current: s.id === current.id,
    }));
  }

  @Delete('sessions/:id')
  @HttpCode(204)
  async revoke(
    @CurrentUser() user: PublicUser,
    @CurrentSession() current: ValidatedSession,
    @Param('id') id: string,
    @Res({ passthrough: true }) response: Response,
  ): Promise<void> {
    // Someone else's session and no session at all look the same: 404.
    if (!(await this.sessions.revokeUserSession(user.id, id))) throw new NotFoundException();
    if (id === current.id) this.transport.clear(response);
  }
}

/** What only the admin (the first user) may see: a 403 for everyone else. */
@Controller('admin')
@RequireSession({ permissions: ['admin'] })
export class AdminController {
  constructor(private readonly users: UsersService) {}

  @Get()
  async overview(): Promise<{ users: number }> {
    return { users: await this.users.count() };
  }
}
