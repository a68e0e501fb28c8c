import { Inject, Injectable, Logger, type OnModuleInit, Optional } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { SessionService } from '../core/session.service.js';
import type { ResolvedCookieOptions } from '../http/http.options.js';
import { noStore, setHeader } from '../http/response-headers.js';
import { type HttpRequestLike, SessionTransport } from '../http/session-transport.js';
import type { ResolvedSessionOptions } from '../options/resolve-options.js';
import { SESSION_OPTIONS } from '../session.constants.js';
import type { ResolvedDeviceBoundOptions } from './device-bound.options.js';
import type { DeviceStep, SessionDevices } from './session-devices.js';

type Adapter = NonNullable<HttpAdapterHost['httpAdapter']>;

const FORBIDDEN = { statusCode: 403, message: 'Forbidden' };
const UNAUTHORIZED = { statusCode: 401, message: 'Unauthorized' };
const UNAVAILABLE = { statusCode: 503, message: 'Service Unavailable' };
const INTERNAL = { statusCode: 500, message: 'Internal server error' };

// A structured-field string: the session id as the browser sends it back, quoted.
const SF_STRING = /^"([^"\\]*)"/;

function header(request: HttpRequestLike, ...names: string[]): string | undefined {
  for (const name of names) {
    const value = request.headers[name];
    if (typeof value === 'string' && value !== '') return value;
  }
  return undefined;
}

/** The attributes a DBSC browser checks the bound cookie against: those we set it with, Max-Age aside. */
function cookieAttributes(cookie: ResolvedCookieOptions): string {
  const parts = [`Path=${cookie.path}`];
  if (cookie.domain) parts.push(`Domain=${cookie.domain}`);
  if (cookie.secure) parts.push('Secure');
  parts.push('HttpOnly', `SameSite=${cookie.sameSite[0].toUpperCase()}${cookie.sameSite.slice(1)}`);
  return parts.join('; ');
}

/**
 * The two DBSC endpoints, served on the HTTP adapter itself (Express or Fastify) at the
 * configured paths: outside Nest's router, so no global prefix, guard or interceptor of the app
 * changes what the browser was told in the registration header. Both answer `no-store`.
 */
@Injectable()
export class DeviceBoundEndpoints implements OnModuleInit {
  private readonly logger = new Logger('SessionService');

  constructor(
    @Inject(SESSION_OPTIONS) private readonly options: ResolvedSessionOptions,
    @Inject(SessionService) private readonly sessions: SessionService,
    @Inject(SessionTransport) private readonly transport: SessionTransport,
    @Optional() @Inject(HttpAdapterHost) private readonly host?: HttpAdapterHost,
  ) {}

  onModuleInit(): void {
    const devices = this.sessions.devices;
    const adapter = this.host?.httpAdapter;
    // A microservice or a standalone context has no HTTP server, and no browser to bind.
    if (!devices || !adapter || !this.options.deviceBound) return;
    const { registrationPath, refreshPath } = this.options.deviceBound;
    adapter.post(registrationPath, (request: HttpRequestLike, response: object) => this.handle(adapter, devices, request, response, 'register'));
    adapter.post(refreshPath, (request: HttpRequestLike, response: object) => this.handle(adapter, devices, request, response, 'refresh'));
  }

  private async handle(adapter: Adapter, devices: SessionDevices, request: HttpRequestLike, response: object, purpose: 'register' | 'refresh'): Promise<void> {
    noStore(response, true);
    try {
      this.answer(adapter, devices, response, await this.step(devices, request, purpose), purpose);
    } catch (error) {
      // The store away or slow: nothing changed, and the browser keeps its key and retries later.
      const unavailable = (error as { getStatus?: () => number }).getStatus?.() === 503;
      if (!unavailable) this.logger.error(`device-bound ${purpose} failed`, error instanceof Error ? error.stack : String(error));
      adapter.reply(response, unavailable ? UNAVAILABLE : INTERNAL, unavailable ? 503 : 500);
    }
  }

  private async step(devices: SessionDevices, request: HttpRequestLike, purpose: 'register' | 'refresh'): Promise<DeviceStep> {
    const presented = this.transport.readToken(request);
    // Only the cookie is bound: a bearer token is no browser's session.
    if (presented?.from !== 'cookie') return { unauthenticated: true };
    const client = this.transport.client(request);
    const proof = header(request, 'secure-session-response', 'sec-session-response');
    if (purpose === 'register') return devices.register(presented.token, proof, client);
    // Only the browser's own DBSC fetch names the session it refreshes; a page cannot set Sec- headers.
    const named = SF_STRING.exec(header(request, 'sec-secure-session-id', 'sec-session-id') ?? '')?.[1];
    if (named === undefined) return { foreign: true };
    return devices.refresh(presented.token, named, proof, client);
  }

  private answer(adapter: Adapter, devices: SessionDevices, response: object, step: DeviceStep, purpose: 'register' | 'refresh'): void {
    const options = this.options.deviceBound as ResolvedDeviceBoundOptions;
    if ('unauthenticated' in step) return void adapter.reply(response, UNAUTHORIZED, 401);
    if ('foreign' in step) return void adapter.reply(response, FORBIDDEN, 403);
    if ('challenge' in step) {
      if (purpose === 'register') {
        // A session bound already is not offered another key; any other failure may try again.
        if (step.failure !== 'already_bound') this.transport.offerDeviceBinding(response, step.challenge);
      } else if (step.failure !== 'not_bound') {
        const challenge = `"${step.challenge}";id="${step.sessionId}"`;
        setHeader(response, 'secure-session-challenge', challenge);
        setHeader(response, 'sec-session-challenge', challenge);
      }
      return void adapter.reply(response, FORBIDDEN, 403);
    }
    const cookie = devices.boundCookie(step.sessionId);
    this.transport.writeBoundCookie(response, cookie.value, cookie.maxAge);
    adapter.reply(
      response,
      {
        session_identifier: step.sessionId,
        refresh_url: options.refreshPath,
        scope: { include_site: false },
        credentials: [{ type: 'cookie', name: options.cookieName, attributes: cookieAttributes(this.options.cookie!) }],
      },
      200,
    );
  }
}
