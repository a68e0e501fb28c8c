import { HttpException, IntrinsicException } from '@nestjs/common';
import { ReauthenticationRequiredException } from '../core/session.exceptions.js';

/** `extensions.code` of the GraphQL errors the guard answers with, by the HTTP status they stand for. */
export const GRAPHQL_ERROR_CODES: Readonly<Record<number, string>> = { 401: 'UNAUTHENTICATED', 403: 'FORBIDDEN', 503: 'SERVICE_UNAVAILABLE' };

/** `extensions.code` of a `freshWithin` refusal on GraphQL. */
export const REAUTHENTICATION_REQUIRED_CODE = 'REAUTHENTICATION_REQUIRED';

/**
 * A refusal in GraphQL's terms. Not a GraphQLError (the package stays optional): graphql-js
 * copies `extensions` from the error a resolver throws, on Apollo and Mercurius alike, and
 * Nest's Apollo driver leaves it alone because it is not an HttpException. Intrinsic, so Nest
 * does not log every 401 with a stack trace.
 */
export class SessionGraphQLError extends IntrinsicException {
  readonly extensions: { code: string };

  constructor(message: string, code: string) {
    super(message);
    this.name = 'SessionGraphQLError';
    this.extensions = { code };
  }
}

/**
 * The guard's 401, 403 and 503 as the transport says them: as they are on HTTP, a GraphQL
 * error with `extensions.code` on GraphQL, a WsException (which Nest sends to the client as an
 * `exception` event; anything else would reach it as "Internal server error") on a gateway.
 */
export async function inTransportTerms(error: unknown, type: string): Promise<unknown> {
  if (!(error instanceof HttpException)) return error;
  if (type === 'graphql') {
    const code = error instanceof ReauthenticationRequiredException ? REAUTHENTICATION_REQUIRED_CODE : (GRAPHQL_ERROR_CODES[error.getStatus()] ?? 'INTERNAL_SERVER_ERROR');
    return new SessionGraphQLError(error.message, code);
  }
  if (type === 'ws') {
    // Only a gateway reaches here, so the package is installed.
    const { WsException } = await import('@nestjs/websockets');
    return new WsException(error.message);
  }
  return error;
}
