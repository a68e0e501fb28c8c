import type { HttpResponseLike } from './session-transport.js';

// Headers on Express's `res` (a Node ServerResponse), Fastify's `reply`, or a bare ServerResponse.

interface FastifyReplyLike {
  raw: { headersSent?: boolean };
  getHeader(name: string): string | string[] | number | undefined;
  removeHeader(name: string): unknown;
  header(name: string, value: string | string[]): unknown;
}
interface NodeResponseLike {
  headersSent?: boolean;
  getHeader(name: string): number | string | string[] | undefined;
  setHeader(name: string, value: string | string[]): unknown;
}

function asReply(response: HttpResponseLike): FastifyReplyLike | undefined {
  const reply = response as Partial<FastifyReplyLike>;
  return typeof reply.header === 'function' && reply.raw ? (reply as FastifyReplyLike) : undefined;
}

function asNode(response: HttpResponseLike): NodeResponseLike | undefined {
  const res = response as Partial<NodeResponseLike>;
  return typeof res.setHeader === 'function' && typeof res.getHeader === 'function' ? (res as NodeResponseLike) : undefined;
}

// One cookie of ours per response: a refresh followed by a logout keeps only the logout.
function replacing(existing: number | string | string[] | undefined, cookie: string): string[] {
  const cookies = existing === undefined ? [] : Array.isArray(existing) ? existing : [String(existing)];
  const name = cookie.slice(0, cookie.indexOf('=') + 1);
  return [...cookies.filter((c) => !c.startsWith(name)), cookie];
}

/** Adds `cookie` to the response's Set-Cookie, in place of an earlier one of the same name. */
export function appendSetCookie(response: HttpResponseLike, cookie: string): void {
  const reply = asReply(response);
  if (reply) {
    const cookies = replacing(reply.getHeader('set-cookie'), cookie);
    reply.removeHeader('set-cookie');
    reply.header('set-cookie', cookies);
    return;
  }
  const res = response as NodeResponseLike;
  res.setHeader('set-cookie', replacing(res.getHeader('set-cookie'), cookie));
}

/** Sets header `name` (a list is sent as one field per value), on Express, Fastify or a bare ServerResponse. */
export function setHeader(response: HttpResponseLike, name: string, value: string | string[]): void {
  const reply = asReply(response);
  if (reply) reply.header(name, value);
  else (response as NodeResponseLike).setHeader(name, value);
}

/**
 * `Cache-Control: no-store`, so no browser or shared cache keeps what a session sees. Unless
 * `force`, a value already there stays: a middleware that chose one meant it (a handler's
 * `@Header` comes later and replaces ours anyway). Does nothing once the headers are sent, as
 * on a GraphQL subscription's socket, or on an object that is no HTTP response.
 */
export function noStore(response: HttpResponseLike, force = false): void {
  const reply = asReply(response);
  if (reply) {
    if (reply.raw.headersSent || (!force && reply.getHeader('cache-control') !== undefined)) return;
    reply.header('cache-control', 'no-store');
    return;
  }
  const res = asNode(response);
  if (!res || res.headersSent || (!force && res.getHeader('cache-control') !== undefined)) return;
  res.setHeader('cache-control', 'no-store');
}
