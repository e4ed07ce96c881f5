// The chat itself. There is no authentication code here on purpose: wsgate
// admitted every request before it reached this process and told us who
// the client is in headers that only it can set (it removes any
// client-sent X-Auth-* header). socket.io keeps the headers of the
// Engine.IO handshake request in client.handshake.headers. A client that
// sent its token only in the CONNECT packet (io(url, {auth: {token}})) had
// no identity on that request: on a "socketio on" route wsgate checks the
// CONNECT and puts the same values in client.handshake.auth (removing any
// x-auth-* key the client put there), so we look there second.
import {
  ConnectedSocket,
  MessageBody,
  OnGatewayConnection,
  OnGatewayDisconnect,
  SubscribeMessage,
  WebSocketGateway,
  WebSocketServer,
} from '@nestjs/websockets';
import type { Server, Socket } from 'socket.io';
import { Stats } from './stats.js';

// All values from one place: the handshake headers when wsgate put an
// identity there, else (token only in CONNECT) the rewritten auth object.
// Never mix the two: an absent claim must not be filled in by the client.
function header(client: Socket, name: string): string | undefined {
  const h = client.handshake.headers;
  const from = h['x-auth-sub'] !== undefined ? h : (client.handshake.auth ?? {});
  const v = from[name];
  return Array.isArray(v) ? v.join(',') : typeof v === 'string' ? v : undefined;
}

@WebSocketGateway()
export class ChatGateway implements OnGatewayConnection, OnGatewayDisconnect {
  @WebSocketServer()
  server: Server;

  constructor(private readonly stats: Stats) {}

  handleConnection(client: Socket): void {
    const sub = header(client, 'x-auth-sub') ?? 'anonymous';
    const roles = (header(client, 'x-auth-roles') ?? '').split(',').filter(Boolean);
    client.data.sub = sub;
    client.data.roles = roles;
    this.stats.connected(sub, client.conn.transport.name);
    client.emit('welcome', { sub, roles });
  }

  handleDisconnect(client: Socket): void {
    this.stats.disconnected(client.data.sub);
  }

  @SubscribeMessage('message')
  onMessage(@ConnectedSocket() client: Socket, @MessageBody() text: string) {
    const msg = { from: client.data.sub as string, text: String(text) };
    this.server.emit('message', msg);
    return msg;
  }

  @SubscribeMessage('whoami')
  whoami(@ConnectedSocket() client: Socket) {
    return { sub: client.data.sub, roles: client.data.roles };
  }
}

// A second namespace, for staff: wsgate can require a role for it
// (require_claim on the route, or per namespace with socketio on).
@WebSocketGateway({ namespace: '/admin' })
export class AdminGateway implements OnGatewayConnection {
  constructor(private readonly stats: Stats) {}

  handleConnection(client: Socket): void {
    const sub = header(client, 'x-auth-sub') ?? 'anonymous';
    client.data.sub = sub;
    this.stats.connected(sub, client.conn.transport.name, '/admin');
    client.emit('welcome', { sub, namespace: '/admin' });
  }
}
