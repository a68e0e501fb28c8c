import { type ExecutionContext, Logger } from '@nestjs/common';
import type { HttpRequestLike, HttpResponseLike } from '../http/session-transport.js';

/**
 * Where one call of a handler keeps what the guard needs, whatever the transport: the request
 * its token is read from, the object its session is attached to (and the decorators read), and
 * the response a renewed cookie goes to, when there is one.
 */
export interface SessionExchange {
  /** Headers (and, for socket.io, the handshake's `auth`) the token is read from. */
  request: HttpRequestLike & { auth?: unknown };
  /** Where the user and session are attached: the request on HTTP and GraphQL, the socket on a gateway. */
  holder: object;
  /** Where a renewed cookie is written; none on a WebSocket, where there is no response. */
  response?: HttpResponseLike;
}

/** The context types the guard knows; Nest's `context.getType()`. */
export type SessionContextType = 'http' | 'graphql' | 'ws';

/** The upgrade request of a `ws` socket, kept on the socket by `SessionWsAdapter`. */
export const UPGRADE_REQUEST = Symbol.for('nestjs-sessions:upgrade-request');

const NO_HEADERS: HttpRequestLike = { headers: {} };
const logger = new Logger('SessionGuard');
let warnedWs = false;

/** Thrown for a context type the guard cannot read a token from (microservices RPC). */
export class UnsupportedContextError extends Error {
  constructor(type: string) {
    super(
      `SessionGuard cannot read a session in a '${type}' context (it knows http, graphql and ws). ` +
        'Mark the handler @Public(), or extend SessionGuard and override getRequestResponse() to say where the token is.',
    );
    this.name = 'UnsupportedContextError';
  }
}

interface GraphqlContextLike {
  req?: object;
  request?: object;
  res?: object;
  reply?: { request?: object };
}

interface SocketLike {
  handshake?: HttpRequestLike & { auth?: unknown };
  [UPGRADE_REQUEST]?: HttpRequestLike;
}

function graphqlContext(context: ExecutionContext): GraphqlContextLike {
  return (context.getArgByIndex(2) ?? {}) as GraphqlContextLike;
}

// Apollo puts the request at `req` (and Express links `req.res`); Mercurius passes `reply`.
function graphqlRequest(ctx: GraphqlContextLike): object | undefined {
  return ctx.req ?? ctx.request ?? ctx.reply?.request;
}

function graphqlExchange(context: ExecutionContext): SessionExchange {
  const ctx = graphqlContext(context);
  const request = graphqlRequest(ctx) as (HttpRequestLike & { res?: object }) | undefined;
  if (!request?.headers) {
    throw new Error('SessionGuard: the GraphQL context has no request. Keep `req` in it: context: ({ req, res }) => ({ req, res }).');
  }
  return { request, holder: request, response: ctx.res ?? ctx.reply ?? request.res };
}

function wsExchange(context: ExecutionContext): SessionExchange {
  const socket = context.switchToWs().getClient<SocketLike>();
  // socket.io keeps the handshake (headers and auth) on the socket; ws keeps nothing, so
  // SessionWsAdapter stores the upgrade request.
  const request = socket.handshake ?? socket[UPGRADE_REQUEST];
  if (request) return { request, holder: socket };
  if (!warnedWs) {
    warnedWs = true;
    logger.warn('a ws socket without its upgrade request: every guarded message is refused. Use SessionWsAdapter from nestjs-sessions/ws: app.useWebSocketAdapter(new SessionWsAdapter(app)).');
  }
  return { request: NO_HEADERS, holder: socket };
}

/** The built-in answer for each context type; throws UnsupportedContextError for others. */
export function builtInExchange(context: ExecutionContext): SessionExchange {
  const type = context.getType<string>();
  if (type === 'http') {
    const http = context.switchToHttp();
    const request = http.getRequest<HttpRequestLike>();
    return { request, holder: request, response: http.getResponse<HttpResponseLike>() };
  }
  if (type === 'graphql') return graphqlExchange(context);
  if (type === 'ws') return wsExchange(context);
  throw new UnsupportedContextError(type);
}

/** Where the decorators find the session of this call; undefined in a context the guard does not know. */
export function sessionHolder(context: ExecutionContext): object | undefined {
  const type = context.getType<string>();
  if (type === 'http') return context.switchToHttp().getRequest<object>();
  if (type === 'ws') return context.switchToWs().getClient<object>();
  if (type === 'graphql') return graphqlRequest(graphqlContext(context));
  return undefined;
}
