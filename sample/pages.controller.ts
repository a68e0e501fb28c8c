import {
  type ArgumentsHost,
  BadRequestException,
  Body,
  Catch,
  Controller,
  type ExceptionFilter,
  Get,
  Header,
  HttpException,
  Logger,
  Param,
  Post,
  Query,
  Redirect,
  Req,
  Res,
  UseFilters,
  UseGuards,
} from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { CurrentSession, CurrentUser, Public, SameOriginGuard, type Session, SessionTransport, SessionService } from 'nestjs-sessions';
import { REGISTERED, registerQuietly, startSession } from './auth.controller.js';
import { RegistrationDto } from './credentials.dto.js';
import { LocalAuthGuard } from './local.strategy.js';
import { accountPage, loginPage } from './pages.js';
import { type PublicUser, UsersService } from './users.service.js';

type Request = Parameters<SessionTransport['readToken']>[0];
type Response = object;

const HTML = 'text/html; charset=utf-8';
// The pages need no script and no framing; say so.
const CSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'";

/** A page request without a valid session goes to the login page instead of getting a 401. */
@Catch(HttpException)
class PageErrorFilter implements ExceptionFilter {
  constructor(private readonly adapterHost: HttpAdapterHost) {}

  catch(exception: HttpException, host: ArgumentsHost): void {
    const { httpAdapter } = this.adapterHost;
    const response = host.switchToHttp().getResponse();
    const status = exception.getStatus();
    if (status === 401 && host.switchToHttp().getRequest().method === 'GET') {
      httpAdapter.redirect(response, 303, '/login');
      return;
    }
    const body = exception.getResponse() as { message?: string | string[] };
    const message = status === 401 ? 'Invalid email or password.' : [body.message ?? exception.message].flat().join(' ');
    httpAdapter.setHeader(response, 'content-type', HTML);
    httpAdapter.setHeader(response, 'content-security-policy', CSP);
    httpAdapter.reply(response, loginPage(message), status);
  }
}

@Controller()
@UseFilters(PageErrorFilter)
export class PagesController {
  private readonly logger = new Logger('Pages');

  constructor(
    private readonly users: UsersService,
    private readonly sessions: SessionService,
    private readonly transport: SessionTransport,
  ) {}

  @Public()
  @Get()
  @Redirect('/account', 303)
  home(): void {}

  @Public()
  @Get('login')
  @Header('content-type', HTML)
  @Header('content-security-policy', CSP)
  login(@Query('registered') registered?: string): string {
    return loginPage(undefined, registered === undefined ? undefined : REGISTERED.message);
  }

  // SameOriginGuard: a form auto-submitted by another site must not log this browser in as the attacker.
  @Public()
  @UseGuards(SameOriginGuard, LocalAuthGuard)
  @Post('login')
  @Redirect('/account', 303)
  async submitLogin(@CurrentUser() user: PublicUser, @Req() request: Request, @Res({ passthrough: true }) response: Response): Promise<void> {
    await startSession(this.sessions, this.transport, request, response, user);
  }

  /**
   * Registering starts no session: a new email and a taken one both go back to the login page
   * with the same notice (logging the new account in would tell the two apart).
   */
  @Public()
  @UseGuards(SameOriginGuard)
  @Post('register')
  @Redirect('/login?registered', 303)
  async submitRegister(@Body() body: RegistrationDto): Promise<void> {
    await registerQuietly(this.users, this.logger, body);
  }

  @Get('account')
  @Header('content-type', HTML)
  @Header('content-security-policy', CSP)
  @Header('cache-control', 'no-store')
  async account(@CurrentUser() user: PublicUser, @CurrentSession() current: Session): Promise<string> {
    return accountPage(user.email, await this.sessions.listUserSessions(user.id), current.id);
  }

  @Post('account/sessions/:id/revoke')
  @Redirect('/account', 303)
  async revoke(@CurrentUser() user: PublicUser, @Param('id') id: string): Promise<void> {
    if (!(await this.sessions.revokeUserSession(user.id, id))) throw new BadRequestException('No such session.');
  }

  @Post('account/logout')
  @Redirect('/login', 303)
  async logout(@Req() request: Request, @Res({ passthrough: true }) response: Response): Promise<void> {
    await this.sessions.revokeSession(this.transport.readToken(request)?.token, this.transport.client(request));
    this.transport.clear(response);
  }

  @Post('account/logout-all')
  @Redirect('/login', 303)
  async logoutAll(@CurrentUser() user: PublicUser, @Res({ passthrough: true }) response: Response): Promise<void> {
    await this.sessions.revokeAllUserSessions(user.id);
    this.transport.clear(response);
  }
}
