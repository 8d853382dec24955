/**
 * A CONNECT tunnel relayed as opaque bytes (`--ignore-hosts`, or a client that did not start TLS
 * or HTTP in time): both directions piped untouched and counted; one `tunnel` event when it closes.
 */
import type net from 'node:net';

export interface RawTunnelResult {
  readonly bytes: { readonly client: number; readonly server: number };
}

/**
 * Relays `client` ⇄ `upstream` (`pending`: client bytes read before the decision, sent first).
 * Calls `onClosed` once, after both sockets closed.
 */
export function relayRaw(client: net.Socket, upstream: net.Socket, pending: Buffer, onClosed: (result: RawTunnelResult) => void): { destroy(): void } {
  const bytes = { client: pending.length, server: 0 };
  client.on('data', (chunk: Buffer) => (bytes.client += chunk.length));
  upstream.on('data', (chunk: Buffer) => (bytes.server += chunk.length));
  if (pending.length > 0) upstream.write(pending);
  // A FIN travels on as a FIN (half-close), an abrupt end ends both.
  client.allowHalfOpen = true;
  upstream.allowHalfOpen = true;
  client.pipe(upstream);
  upstream.pipe(client);
  client.on('error', () => upstream.destroy());
  upstream.on('error', () => client.destroy());
  let open = 2;
  const onClose = (): void => {
    if (--open === 0) onClosed({ bytes });
    else {
      // One side is fully gone: the other can no longer be answered.
      if (client.destroyed && !upstream.writableEnded) upstream.end();
      if (upstream.destroyed && !client.writableEnded) client.end();
    }
  };
  client.once('close', onClose);
  upstream.once('close', onClose);
  return {
    destroy() {
      client.destroy();
      upstream.destroy();
    },
  };
}
