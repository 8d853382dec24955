/**
 * Passing a peer's TCP reset on (capture-format `end.tcp`: `reset`). `resetAndDestroy()` needs a
 * TCP handle: on a TLS socket (a wss:// upstream, or a client whose TLS frametap intercepts in
 * forward mode) the handle is the TLS wrap and it throws ERR_INVALID_HANDLE_TYPE, from inside a
 * socket event: an uncaught exception. A TLS socket is closed instead (its peer sees a FIN).
 */
import type net from 'node:net';
import tls from 'node:tls';

export function resetOrDestroy(socket: net.Socket): void {
  if (socket instanceof tls.TLSSocket) socket.destroy();
  else socket.resetAndDestroy();
}
