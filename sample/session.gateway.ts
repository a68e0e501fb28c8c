import { Logger } from '@nestjs/common';
import { type OnGatewayConnection, SubscribeMessage, WebSocketGateway } from '@nestjs/websockets';
import { CurrentUser } from 'nestjs-sessions';
import type { PublicUser } from './users.service.js';

/**
 * socket.io on the app's own port (`/socket.io/`). SessionIoAdapter (see app.ts) refuses a
 * handshake without a session ("Unauthorized") and disconnects the socket when its session
 * ends; `whoami` acknowledges with the socket's user.
 */
@WebSocketGateway()
export class SessionGateway implements OnGatewayConnection {
  private readonly logger = new Logger('SessionGateway');

  handleConnection(socket: { id: string; user?: PublicUser }): void {
    this.logger.debug(`socket ${socket.id} connected for user ${socket.user?.id}`);
  }

  @SubscribeMessage('whoami')
  whoami(@CurrentUser() user: PublicUser): { id: string; email: string } {
    return { id: user.id, email: user.email };
  }
}
