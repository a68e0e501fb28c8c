import { Field, Mutation, ObjectType, Query, Resolver } from '@nestjs/graphql';
import { CurrentExchange, CurrentUser, type SessionExchange, SessionService, SessionTransport } from 'nestjs-sessions';
import type { PublicUser } from './users.service.js';

@ObjectType('User')
class UserType {
  @Field(() => String) id!: string;
  @Field(() => String) email!: string;
}

/**
 * `POST /graphql`: `{ me { id email } }` and `mutation { logout }`. The app-wide SessionGuard
 * guards them as it guards the controllers; the logout clears the cookie through the GraphQL
 * context's response.
 */
@Resolver(() => UserType)
export class SessionResolver {
  constructor(
    private readonly sessions: SessionService,
    private readonly transport: SessionTransport,
  ) {}

  @Query(() => UserType)
  me(@CurrentUser() user: PublicUser): UserType {
    return { id: user.id, email: user.email };
  }

  @Mutation(() => Boolean)
  async logout(@CurrentExchange() { request, response }: SessionExchange): Promise<boolean> {
    const removed = await this.sessions.revokeSession(this.transport.readToken(request)?.token, this.transport.client(request));
    if (response) this.transport.clear(response);
    return removed;
  }
}
