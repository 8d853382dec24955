/**
 * frametap's own answers to a client whose upgrade did not complete (a refused upgrade is relayed
 * as the upstream's bytes, connection.ts): the 502 for an upstream that never answered, the 4xx
 * for requests frametap will not relay.
 */
import type net from 'node:net';

/** The answer to an upgrade the upstream never answered (RFC 9110 §15.6.3); the bytes written, or null. */
export function writeBadGateway(client: net.Socket, detail: string): Buffer | null {
  return writeStatus(client, 502, 'Bad Gateway', `frametap: ${detail}\n`);
}

/** A minimal complete response, then the connection is ended. Returns the bytes written (null: none, the socket was gone). */
export function writeStatus(client: net.Socket, status: number, reason: string, body: string): Buffer | null {
  if (client.destroyed || !client.writable) return null;
  const text = Buffer.from(body, 'utf8');
  const bytes = Buffer.concat([
    Buffer.from(`HTTP/1.1 ${status} ${reason}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${text.length}\r\nConnection: close\r\n\r\n`, 'latin1'),
    text,
  ]);
  client.end(bytes);
  closeWhenFlushed(client);
  return bytes;
}

/**
 * After the final answer the connection is over (`Connection: close`), but a half-open client
 * would keep its side open forever: close it once our bytes are out.
 */
export function closeWhenFlushed(client: net.Socket): void {
  if (client.writableFinished) client.destroy();
  else client.once('finish', () => client.destroy());
}
