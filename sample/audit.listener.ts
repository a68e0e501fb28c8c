import { Injectable, Logger } from '@nestjs/common';
import { OnEvent } from '@nestjs/event-emitter';
import {
  type SessionCreatedEvent,
  type SessionRevokedEvent,
  SessionEvents,
  type SessionRefreshReusedEvent,
  type SessionsPurgedEvent,
  type SessionsRevokedEvent,
} from 'nestjs-sessions';

/** How an app subscribes to session events for an audit log; the demo just logs them. */
@Injectable()
export class AuditListener {
  private readonly logger = new Logger('Audit');

  // Where a real app would mail the user "a new device signed in to your account".
  @OnEvent(SessionEvents.Created)
  created(event: SessionCreatedEvent): void {
    const { userId, id, metadata } = event.session;
    const device = metadata ? `, new device: ${metadata.device || 'unknown device'} at ${metadata.ip ?? 'an unknown address'}` : '';
    this.logger.log(`login: user ${userId}, session ${id}${device}`);
  }

  @OnEvent(SessionEvents.Revoked)
  destroyed(event: SessionRevokedEvent): void {
    this.logger.log(`${event.reason}: user ${event.session.userId}, session ${event.session.id}`);
  }

  @OnEvent(SessionEvents.AllRevoked)
  allRevoked(event: SessionsRevokedEvent): void {
    this.logger.log(`logout everywhere: user ${event.userId}, ${event.count} session(s)`);
  }

  // A refresh token used twice: someone else holds a copy. Alert on this in a real app.
  @OnEvent(SessionEvents.RefreshReused)
  refreshReused(event: SessionRefreshReusedEvent): void {
    this.logger.warn(`refresh token reused: user ${event.userId}, session ${event.sessionId}${event.revoked ? ' revoked' : ' (already ended)'}`);
  }

  @OnEvent(SessionEvents.Purged)
  purged(event: SessionsPurgedEvent): void {
    this.logger.log(`purge: ${event.count} expired session(s) in ${event.durationMs} ms`);
  }
}
