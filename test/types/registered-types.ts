// Type-level test, run by `npm run typecheck`: an app that registers its user and context once
// gets them from every API with no cast. Each `@ts-expect-error` fails the check if the line
// below it stops being an error.
import { Controller, Get, Injectable } from '@nestjs/common';
import { CurrentSession, CurrentUser, SessionModule, type SessionModuleOptions, SessionService, type ValidatedSession } from 'nestjs-sessions';

interface Account {
  id: string;
  email: string;
}
interface AccountContext {
  plan: 'free' | 'pro';
}
interface SessionState {
  orgId: string;
  mfa: boolean;
}

declare module 'nestjs-sessions' {
  interface SessionTypes {
    user: Account;
    context: AccountContext;
    data: SessionState;
  }
}

const accounts = new Map<string, Account>();

export const options: SessionModuleOptions = {
  resolveUser: (id) => accounts.get(id) ?? null,
  // The resolvers' parameters are the registered user: no cast to reach its fields.
  resolvePermissions: (user) => (user.email.endsWith('@example.com') ? ['staff'] : []),
  resolveContext: (): AccountContext => ({ plan: 'free' }),
};

// @ts-expect-error resolveUser must give the registered user
export const wrong: SessionModuleOptions = { resolveUser: () => ({ name: 'not an account' }) };

export const module = SessionModule.forRoot(options);

@Injectable()
export class Greeter {
  constructor(private readonly sessions: SessionService) {}

  async greet(token: string): Promise<string> {
    const user = await this.sessions.validateSession(token);
    const validation = await this.sessions.authenticate(token);
    const plan: 'free' | 'pro' | undefined = validation?.session.context?.plan;
    // @ts-expect-error the user is an Account, not any
    const missing: number = user?.email;
    return `${user?.email ?? 'nobody'} on ${plan ?? 'no'} plan ${String(missing)}`;
  }

  async switchOrg(token: string): Promise<string | undefined> {
    // The patch and the result are the registered data: a key at a time, null to remove one.
    const data = await this.sessions.updateSessionData(token, { orgId: 'acme', mfa: null });
    // @ts-expect-error mfa is a boolean, not a string
    await this.sessions.updateSessionData(token, { mfa: 'yes' });
    // @ts-expect-error no such key in the registered data
    await this.sessions.updateSessionData(token, { cart: [] });
    return data?.orgId;
  }
}

@Controller('me')
export class MeController {
  @Get()
  me(@CurrentUser() user: Account, @CurrentSession() session: ValidatedSession): { email: string; plan: string | undefined; org: string | undefined } {
    // @ts-expect-error the data is read-only: changed through updateSessionData
    session.data.orgId = 'other';
    return { email: user.email, plan: session.context?.plan, org: session.data.orgId };
  }
}
